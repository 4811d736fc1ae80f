import Foundation
import GRDB
import GonkaCore

/// The committed chain on disk (`HOME/data/blocks.sqlite`): each block's bytes as proposed with the
/// commit that decided it, and an index of transaction results by hash.
///
/// Same durability as ``AuthenticatedStore``: WAL journal with `synchronous=FULL`, so a block
/// whose save returned survives a crash or power loss. The node saves a block here *before* it
/// executes it, so on restart the state store is never ahead of the block store.
///
/// `Sendable`: a GRDB `DatabaseQueue` serialises every access itself; the RPC reads concurrently
/// with the consensus shell's writes.
public final class BlockStore: Sendable {
    /// One stored block.
    public struct StoredBlock: Sendable, Hashable {
        public let height: UInt64
        /// The block id: SHA-256 of `block`.
        public let hash: Hash
        /// The block's bytes exactly as proposed (a `Wire.Block`).
        public let block: [UInt8]
        /// The `Wire.Commit` that decided it.
        public let commit: [UInt8]

        public init(height: UInt64, hash: Hash, block: [UInt8], commit: [UInt8]) {
            self.height = height
            self.hash = hash
            self.block = block
            self.commit = commit
        }
    }

    /// A ledger event in flat form.
    public struct TxEvent: Codable, Sendable, Hashable {
        public var type: String
        public var attributes: [String: String]

        public init(type: String, attributes: [String: String]) {
            self.type = type
            self.attributes = attributes
        }
    }

    /// The result of one committed transaction.
    public struct TxRecord: Sendable, Hashable {
        public let hash: Hash
        public let height: UInt64
        public let index: Int
        /// 0 = applied; 1 = rejected (`log` says why).
        public let code: UInt32
        public let log: String
        public let events: [TxEvent]

        public init(hash: Hash, height: UInt64, index: Int, code: UInt32, log: String, events: [TxEvent]) {
            self.hash = hash
            self.height = height
            self.index = index
            self.code = code
            self.log = log
            self.events = events
        }
    }

    static let applicationID: Int32 = 0x474B_424B  // "GKBK"
    static let schemaVersion = 1

    /// The file path, or `memory:<name>`.
    public let location: String
    private let database: DatabaseQueue

    /// Opens (or creates) the store at `path`; throws ``StorageError`` naming the file when it is
    /// not SQLite, is another database or has an unknown schema.
    public convenience init(path: String) throws {
        var configuration = Configuration()
        configuration.label = "gonka.blocks"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // After a checkpoint the WAL is cut back to 8 MiB rather than keeping the size a burst
            // of large blocks once gave it.
            try db.execute(sql: "PRAGMA journal_size_limit = \(8 << 20)")
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw AuthenticatedStore.translate(error, location: path)
        }
        try self.init(location: path, database: queue)
    }

    /// A private in-memory store (tests).
    public convenience init(inMemory name: String) throws {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue()
        } catch {
            throw AuthenticatedStore.translate(error, location: "memory:\(name)")
        }
        try self.init(location: "memory:\(name)", database: queue)
    }

    private init(location: String, database: DatabaseQueue) throws {
        self.location = location
        self.database = database
        try write { db in try Self.openSchema(db, location: location) }
    }

    private static func openSchema(_ db: Database, location: String) throws {
        let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let userVersion = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        let objects = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
        if applicationID == 0 && userVersion == 0 && objects == 0 {
            try db.execute(
                sql: """
                    CREATE TABLE blocks (
                        height INTEGER PRIMARY KEY,
                        hash BLOB NOT NULL,
                        block BLOB NOT NULL,
                        "commit" BLOB NOT NULL
                    );
                    CREATE UNIQUE INDEX blocks_hash ON blocks (hash);
                    CREATE TABLE txs (
                        hash BLOB PRIMARY KEY,
                        height INTEGER NOT NULL,
                        idx INTEGER NOT NULL,
                        code INTEGER NOT NULL,
                        log TEXT NOT NULL,
                        events TEXT NOT NULL
                    ) WITHOUT ROWID;
                    PRAGMA application_id = \(Self.applicationID);
                    PRAGMA user_version = \(Self.schemaVersion);
                    """)
            return
        }
        guard applicationID == Self.applicationID else {
            throw StorageError.foreignDatabase(
                path: location, detail: "application_id is \(applicationID), expected \(Self.applicationID)")
        }
        guard userVersion == Self.schemaVersion else {
            throw StorageError.unsupportedSchema(path: location, found: userVersion, supported: Self.schemaVersion)
        }
        let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
        for table in ["blocks", "txs"] where !tables.contains(table) {
            throw StorageError.corrupted(path: location, detail: "table \(table) is missing")
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.write(body)
        } catch {
            throw AuthenticatedStore.translate(error, location: location)
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.read(body)
        } catch {
            throw AuthenticatedStore.translate(error, location: location)
        }
    }

    /// The highest stored height, 0 when empty.
    public func latestHeight() throws -> UInt64 {
        try read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT max(height) FROM blocks") ?? 0) }
    }

    /// The lowest stored height: 1 on an archive node, higher once old blocks were pruned
    /// (``prune(keepingRecent:)``); 0 when empty.
    public func oldestHeight() throws -> UInt64 {
        try read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT min(height) FROM blocks") ?? 0) }
    }

    /// Deletes every block more than `count` below the latest (`[storage] keep_blocks`), with the
    /// results of its transactions, so the store keeps the latest `count` blocks. Returns how many
    /// blocks were deleted. `count` must be at least 1: the latest block is the node's tip.
    @discardableResult
    public func prune(keepingRecent count: UInt64) throws -> Int {
        guard count >= 1 else { throw StorageError.invalidArgument("prune(keepingRecent:) needs at least 1 block") }
        return try write { db in
            let latest = UInt64(try Int64.fetchOne(db, sql: "SELECT max(height) FROM blocks") ?? 0)
            guard latest > count else { return 0 }
            let below = Int64(clamping: latest - count + 1)
            try db.execute(sql: "DELETE FROM blocks WHERE height < ?", arguments: [below])
            let deleted = db.changesCount
            try db.execute(sql: "DELETE FROM txs WHERE height < ?", arguments: [below])
            return deleted
        }
    }

    /// Saves block `height` with its commit in one transaction. Heights are saved in order: the
    /// next height after the latest, or the latest again (the same hash) to replace its commit.
    public func save(_ block: StoredBlock) throws {
        try write { db in
            let latest = UInt64(try Int64.fetchOne(db, sql: "SELECT max(height) FROM blocks") ?? 0)
            if block.height == latest, latest > 0 {
                let hash = try Data.fetchOne(db, sql: "SELECT hash FROM blocks WHERE height = ?", arguments: [latest])
                guard hash == Data(block.hash.bytes) else {
                    throw StorageError.invalidArgument("block \(block.height) is already stored with another hash")
                }
            } else {
                guard block.height == latest + 1 else {
                    throw StorageError.invalidArgument(
                        "block height \(block.height) does not follow the latest stored height \(latest)")
                }
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO blocks (height, hash, block, \"commit\") VALUES (?, ?, ?, ?)",
                arguments: [Int64(block.height), Data(block.hash.bytes), Data(block.block), Data(block.commit)])
        }
    }

    /// Saves the first block of an empty store at any height: the block a state-synced node starts
    /// from (PROTOCOL §3.1 *State sync*); the store then holds heights from it on, like a pruned one.
    public func saveBase(_ block: StoredBlock) throws {
        try write { db in
            guard try Int64.fetchOne(db, sql: "SELECT count(*) FROM blocks") == 0 else {
                throw StorageError.invalidArgument("a base block goes into an empty block store only")
            }
            guard block.height >= 1, block.height <= UInt64(Int64.max) else {
                throw StorageError.invalidArgument("block height \(block.height) is out of range")
            }
            try db.execute(
                sql: "INSERT INTO blocks (height, hash, block, \"commit\") VALUES (?, ?, ?, ?)",
                arguments: [Int64(block.height), Data(block.hash.bytes), Data(block.block), Data(block.commit)])
        }
    }

    /// Replaces the commit of a stored block (a later, larger set of precommits for the same block).
    public func replaceCommit(height: UInt64, commit: [UInt8]) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE blocks SET \"commit\" = ? WHERE height = ?", arguments: [Data(commit), Int64(height)])
        }
    }

    /// Indexes the results of a block's transactions (replacing earlier results for the same hash).
    public func index(_ records: [TxRecord]) throws {
        guard !records.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try write { db in
            let statement = try db.makeStatement(
                sql: "INSERT OR REPLACE INTO txs (hash, height, idx, code, log, events) VALUES (?, ?, ?, ?, ?, ?)")
            for r in records {
                let events = String(decoding: try encoder.encode(r.events), as: UTF8.self)
                try statement.execute(arguments: [
                    Data(r.hash.bytes), Int64(r.height), r.index, Int64(r.code), r.log, events,
                ])
            }
        }
    }

    /// The block at `height`, if stored.
    public func block(at height: UInt64) throws -> StoredBlock? {
        guard height <= UInt64(Int64.max) else { return nil }
        return try read { db in
            try Row.fetchOne(
                db, sql: "SELECT height, hash, block, \"commit\" FROM blocks WHERE height = ?",
                arguments: [Int64(height)]
            ).map { try Self.decode($0, location: location) }
        }
    }

    /// The block with id `hash`, if stored.
    public func block(hash: Hash) throws -> StoredBlock? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT height, hash, block, \"commit\" FROM blocks WHERE hash = ?",
                arguments: [Data(hash.bytes)]
            ).map { try Self.decode($0, location: location) }
        }
    }

    /// The result of the committed transaction with `hash`, if indexed.
    public func tx(hash: Hash) throws -> TxRecord? {
        let row = try read { db in
            try Row.fetchOne(
                db, sql: "SELECT height, idx, code, log, events FROM txs WHERE hash = ?", arguments: [Data(hash.bytes)])
        }
        guard let row else { return nil }
        let height: Int64 = row[0]
        let index: Int = row[1]
        let code: Int64 = row[2]
        let log: String = row[3]
        let eventsJSON: String = row[4]
        guard let events = try? JSONDecoder().decode([TxEvent].self, from: Data(eventsJSON.utf8)) else {
            throw StorageError.corrupted(path: location, detail: "tx \(hash.hex) events do not decode")
        }
        return TxRecord(
            hash: hash, height: UInt64(height), index: index, code: UInt32(clamping: code), log: log, events: events)
    }

    private static func decode(_ row: Row, location: String) throws -> StoredBlock {
        let height: Int64 = row[0]
        let hashData: Data = row[1]
        let block: Data = row[2]
        let commit: Data = row[3]
        guard let hash = Hash(bytes: Array(hashData)) else {
            throw StorageError.corrupted(path: location, detail: "block \(height) hash is not 32 bytes")
        }
        return StoredBlock(height: UInt64(height), hash: hash, block: Array(block), commit: Array(commit))
    }
}
