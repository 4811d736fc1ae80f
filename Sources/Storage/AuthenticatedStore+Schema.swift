import GRDB

/// The on-disk layout of a state store and the checks made when opening one.
///
/// * `meta`: one row (`id = 1`): `format` (always `gonka-state`), `latest` and `oldest` versions,
///   `next_node` (the next node id).
/// * `vals (version, key, value)`: each value under the version that wrote it.
/// * `keys (key, deleted_at)`: every key present in some kept version, in bytewise order;
///   `deleted_at` is set while the key is absent from the latest version.
/// * `node (id, data)`: 16-ary tree nodes (see ``TreeNode``).
/// * `stale (since, nodes)`: the node ids that stopped being current at version
///   `since` (one ``VersionLog`` blob per commit).
/// * `changes (version, keys)`: the keys a version changed (one ``VersionLog`` blob per commit).
/// * `root (version, hash, ref)`: each committed version's root.
///
/// The SQLite header carries `application_id = 0x474B5354` ("GKST") and `user_version` = the
/// schema number, so a foreign database or a newer schema is recognised before any table is read.
enum Schema {
    static let applicationID: Int32 = 0x474B_5354
    static let version = 1
    static let format = "gonka-state"

    struct State {
        var latest: UInt64?
        var oldest: UInt64?
        var nextNodeID: UInt64
    }

    /// Creates the schema in an empty database, or checks an existing one, and reads the meta row.
    static func open(_ db: Database, location: String) throws -> State {
        let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let userVersion = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        let objects = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
        if applicationID == 0 && userVersion == 0 && objects == 0 {
            try create(db)
        } else if applicationID != Self.applicationID {
            throw StorageError.foreignDatabase(
                path: location, detail: "application_id is \(applicationID), expected \(Self.applicationID)")
        } else if userVersion != Self.version {
            throw StorageError.unsupportedSchema(path: location, found: userVersion, supported: Self.version)
        }
        let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
        for table in ["meta", "vals", "keys", "node", "stale", "changes", "root"] where !tables.contains(table) {
            throw StorageError.corrupted(path: location, detail: "table \(table) is missing")
        }
        guard let row = try Row.fetchOne(db, sql: "SELECT format, latest, oldest, next_node FROM meta WHERE id = 1")
        else {
            throw StorageError.corrupted(path: location, detail: "the meta row is missing")
        }
        let format: String? = row[0]
        guard format == Self.format else {
            throw StorageError.foreignDatabase(path: location, detail: "meta format is \(format ?? "NULL")")
        }
        let latest: Int64? = row[1]
        let oldest: Int64? = row[2]
        let nextNode: Int64? = row[3]
        guard let nextNode, nextNode >= 1 else {
            throw StorageError.corrupted(path: location, detail: "bad next node id")
        }
        if let latest, latest < 0 { throw StorageError.corrupted(path: location, detail: "negative latest version") }
        if let oldest, oldest < 0 { throw StorageError.corrupted(path: location, detail: "negative oldest version") }
        return State(
            latest: latest.map { UInt64($0) }, oldest: oldest.map { UInt64($0) }, nextNodeID: UInt64(nextNode))
    }

    private static func create(_ db: Database) throws {
        try db.inTransaction {
            try db.execute(
                sql: """
                    CREATE TABLE meta (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        format TEXT NOT NULL,
                        latest INTEGER,
                        oldest INTEGER,
                        next_node INTEGER NOT NULL
                    );
                    INSERT INTO meta (id, format, latest, oldest, next_node) VALUES (1, '\(Self.format)', NULL, NULL, 1);
                    CREATE TABLE vals (
                        version INTEGER NOT NULL,
                        key BLOB NOT NULL,
                        value BLOB NOT NULL,
                        PRIMARY KEY (version, key)
                    ) WITHOUT ROWID;
                    CREATE TABLE keys (
                        key BLOB PRIMARY KEY,
                        deleted_at INTEGER
                    ) WITHOUT ROWID;
                    CREATE TABLE node (
                        id INTEGER PRIMARY KEY,
                        data BLOB NOT NULL
                    );
                    CREATE TABLE stale (
                        since INTEGER PRIMARY KEY,
                        nodes BLOB NOT NULL
                    );
                    CREATE TABLE changes (
                        version INTEGER PRIMARY KEY,
                        keys BLOB NOT NULL
                    );
                    CREATE TABLE root (
                        version INTEGER PRIMARY KEY,
                        hash BLOB NOT NULL,
                        ref BLOB NOT NULL
                    );
                    PRAGMA application_id = \(Self.applicationID);
                    PRAGMA user_version = \(Self.version);
                    """)
            return .commit
        }
    }
}
