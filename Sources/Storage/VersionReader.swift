import Foundation
import GRDB
import GonkaCore
import Synchronization

extension AuthenticatedStore {
    /// A reader of the latest committed version on a connection of its own, which can go on
    /// reading in the background while this store commits and prunes (PROTOCOL §3.1 *State
    /// sync*: snapshots are cut from one). Its SQLite read transaction is opened here, before the
    /// next commit, so it sees exactly this version whatever the writer does later. Throws for an
    /// in-memory store (no second connection can see it) and before the first commit.
    public func versionReader() throws -> VersionReader {
        guard let filePath else {
            throw StorageError.invalidArgument("an in-memory store cannot be read on a second connection")
        }
        guard let version = latestVersion else { throw StorageError.invalidArgument("nothing is committed yet") }
        return try VersionReader(path: filePath, location: location, version: version, expectedRoot: root)
    }
}

/// One committed version of an ``AuthenticatedStore``, read on a read-only connection that holds
/// one SQLite read transaction from its creation to ``close()``. Under WAL a read transaction sees
/// the database as it was when it began: later commits, and pruning of this very version, are
/// invisible to it (they only keep the WAL from being checkpointed past it until it closes).
///
/// `Sendable`: its connection is a GRDB `DatabaseQueue` (serialised access) and the rest is
/// immutable, so one thread may create it and another read from it.
public final class VersionReader: Sendable {
    /// The version it reads.
    public let version: UInt64
    /// That version's root.
    public let root: Hash
    private let location: String
    private let rootRef: TreeChild
    private let database: DatabaseQueue
    private let closed = Mutex(false)

    init(path: String, location: String, version: UInt64, expectedRoot: Hash) throws {
        self.version = version
        self.location = location
        var configuration = Configuration()
        configuration.label = "gonka.state.reader"
        configuration.readonly = true
        // The transaction spans several accesses (begun here, read later, ended by `close`).
        configuration.allowsUnsafeTransactions = true
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -8192") }
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            rootRef = try database.inDatabase { db in
                try db.beginTransaction(.deferred)
                // The first read fixes the transaction's view of the database.
                let latest = try Int64.fetchOne(db, sql: "SELECT latest FROM meta WHERE id = 1")
                guard latest == Int64(version) else {
                    throw StorageError.invalidArgument(
                        "the reader sees version \(latest.map(String.init) ?? "none"), not \(version)")
                }
                guard let row = try Row.fetchOne(db, sql: SQL.selectRoot, arguments: [Int64(version)]) else {
                    throw StorageError.versionNotCommitted(version)
                }
                return try AuthenticatedStore.decodeRootRow(row, version: version, location: location)
            }
        } catch {
            throw AuthenticatedStore.translate(error, location: location)
        }
        root = rootRef.hash
        guard root == expectedRoot else {
            close()
            throw StorageError.rootMismatch(expected: expectedRoot, got: root)
        }
    }

    deinit { close() }

    /// Calls `body` with every entry of the version, in bytewise key order, one at a time (memory
    /// stays bounded whatever the state's size).
    public func forEachEntry(_ body: (AuthenticatedStore.Entry) throws -> Void) throws {
        let location = location
        let rootRef = rootRef
        do {
            try database.inDatabase { db in
                // The top levels are on nearly every path; the rest is read through SQLite's cache.
                var top: [UInt64: TreeNode] = [:]
                func leafVersion(_ keyHash: StateCommitment.Digest) throws -> UInt64? {
                    try AuthenticatedStore.findLeaf(keyHash, root: rootRef, location: location) { id, depth in
                        if let cached = top[id] { return cached }
                        let node = try AuthenticatedStore.readNode(db, id, depth: depth, location: location)
                        if depth < 3 { top[id] = node }
                        return node
                    }
                }
                // In this transaction the version is the latest, so the index knows it exactly.
                let keys = try Data.fetchCursor(db, sql: "SELECT key FROM keys WHERE deleted_at IS NULL ORDER BY key")
                while let data = try keys.next() {
                    let key = [UInt8](data)
                    guard let written = try leafVersion(StateCommitment.keyDigest(key)) else {
                        throw StorageError.corrupted(
                            path: location, detail: "key \(Hex.encode(key)) is indexed as present but has no leaf")
                    }
                    try body(
                        (key, try AuthenticatedStore.fetchValueRow(db, key: key, version: written, location: location)))
                }
            }
        } catch {
            throw AuthenticatedStore.translate(error, location: location)
        }
    }

    /// Ends the read transaction and closes the connection; later reads throw. Idempotent.
    public func close() {
        let first = closed.withLock { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        try? database.inDatabase { db in
            if db.isInsideTransaction { try db.rollback() }
        }
        try? database.close()
    }
}
