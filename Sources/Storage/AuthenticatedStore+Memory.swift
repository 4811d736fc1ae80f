import GRDB
import GRDBSQLite

/// What the store holds in memory now, against the budgets of its ``AuthenticatedStore/Options``
/// (`[memory] state_*_mb`): the figures `gonka_cache_bytes` exports, so a node's RSS can be
/// told apart into caches filling toward their bound and anything else (issue 23).
public struct StoreMemory: Sendable, Equatable {
    /// Decoded tree nodes (``TreeNode/estimatedBytes`` summed; `state_node_cache_mb`).
    public var nodeCacheBytes: Int
    /// Cached latest values (`state_value_cache_mb`).
    public var valueCacheBytes: Int
    /// SQLite's page cache of the state connection as SQLite counts it
    /// (`SQLITE_DBSTATUS_CACHE_USED`; `state_page_cache_mb`).
    public var pageCacheBytes: Int

    public init(nodeCacheBytes: Int, valueCacheBytes: Int, pageCacheBytes: Int) {
        self.nodeCacheBytes = nodeCacheBytes
        self.valueCacheBytes = valueCacheBytes
        self.pageCacheBytes = pageCacheBytes
    }
}

extension AuthenticatedStore {
    /// The bytes each cache holds now (a read of counters; no I/O).
    public var memory: StoreMemory {
        let page = database.inDatabase { db -> Int in
            var current: Int32 = 0
            var highest: Int32 = 0
            guard sqlite3_db_status(db.sqliteConnection, SQLITE_DBSTATUS_CACHE_USED, &current, &highest, 0) == SQLITE_OK
            else { return 0 }
            return Int(current)
        }
        return StoreMemory(nodeCacheBytes: cacheBytes, valueCacheBytes: latestValues.bytes, pageCacheBytes: page)
    }
}
