import Foundation
import GRDB
import GonkaCore
import Ledger

/// The chain state (PROTOCOL §3.3): a versioned key-value map in SQLite, committed by an
/// authenticated tree whose root is the `app_hash`.
///
/// **Tree.** Jellyfish-style over `SHA-256(key)` (hashing rules in ``StateCommitment``):
/// * internal nodes are 16-ary (one nibble of the key hash per level) so a tree of n keys is
///   ~log16(n) node rows deep: ~5 rows touched per update at 10^6 keys instead of ~20 for a binary
///   tree; each node's hash is the binary Merkle root of its 16 slots, so proofs stay binary and
///   small (``StateProof``);
/// * leaves sit at the shortest unique prefix ("shortcut leaves"), stored inline in their parent;
///   the root hash depends only on the current entries, never on history or write order;
/// * nodes are keyed by a node id that only grows (the JMT's `(version, nibble path)` key, made
///   into one integer): a commit writes new rows, with fresh ids, only for the nodes it changes;
///   unchanged subtrees keep their ids and are shared by every version, and a re-created node can
///   never collide with a stale one. An integer key makes the node table a plain rowid B-tree:
///   lookups are integer seeks, inserts append, and ~1 KB node rows stay on their page (in a
///   `WITHOUT ROWID` table keyed by `(version, path)` they spill into overflow pages above ~1000
///   bytes);
/// * the `stale` index records, for every node a commit replaced, the version at which it stopped
///   being current. ``prune(keepingRecent:)`` deletes exactly the nodes that only pruned versions
///   could reach.
///
/// **Values.** A value lives in `vals` under `(version that wrote it, key)`, so a commit's values
/// append at the end of the table instead of landing on random pages (a key-ordered value table
/// made random-key commits ~45% slower, measured); the leaf names that version, so a read walks the
/// tree (cached nodes) to the leaf and then fetches one row. The `keys` index keeps raw keys in
/// bytewise order for prefix scans; it changes only when a key appears or is deleted, not when a
/// value is overwritten. Reads at an old version walk that version's tree.
///
/// **Atomicity.** One SQLite transaction per commit: nodes, the stale list, values, key index
/// changes, the change list, the root row and the meta row. The journal is WAL with `synchronous=FULL` by default: a process killed at any
/// point reopens at the previous complete version (SQLite discards an uncommitted WAL tail), and a
/// committed version, whose root a validator may already have signed as `app_hash`, also survives
/// power loss; the cost is one fsync of the WAL per commit, i.e. per block. `NORMAL` is offered for
/// tests and benchmarks (still atomic; may lose the last commits on power loss, never half of one).
///
/// **Threads.** Not `Sendable`: one owner (the ledger executor) uses it at a time.
public final class AuthenticatedStore: StateStore {
    /// Tuning knobs; the defaults suit a validator.
    public struct Options: Sendable {
        /// SQLite `synchronous` under WAL.
        public enum Durability: Sendable {
            /// fsync the WAL on every commit: committed versions survive power loss.
            case full
            /// fsync only at checkpoints: still atomic, but a power cut may lose the latest commits.
            case normal
        }

        /// How hard a commit pushes to disk (default `.full`).
        public var durability: Durability
        /// Bytes of decoded tree nodes kept in memory (nodes of the latest tree; the top three
        /// levels are always kept). A full node takes ~1.8 KiB, a typical bottom node (2–4
        /// children) ~0.4 KiB (``TreeNode/estimatedBytes``); a tree of n random keys has roughly
        /// n / 3 nodes. `[memory] state_node_cache_mb`.
        public var nodeCacheBytes: Int
        /// Most bytes of values of the latest version kept in memory (read or written recently;
        /// key, value and ~96 bytes of bookkeeping each; see ``RecentValues``). 0 turns it off.
        /// `[memory] state_value_cache_mb`.
        public var valueCacheBytes: Int
        /// Commits a value stays in that cache after its last use at least (and at most twice
        /// that).
        public var valueCacheRetentionVersions = GenerationClock.recentSpan
        /// SQLite's page cache of the state file (`PRAGMA cache_size`). `[memory] state_page_cache_mb`.
        public var pageCacheBytes: Int
        /// The WAL is checkpointed into the database once it holds this much (`PRAGMA
        /// wal_autocheckpoint`): rarely enough that pages rewritten by consecutive commits are copied
        /// back once.
        public var walCheckpointBytes: Int
        /// After a checkpoint the WAL file is cut back to this size (`PRAGMA journal_size_limit`)
        /// instead of keeping the largest size it ever reached; -1 keeps it (SQLite's default).
        public var walSizeLimitBytes: Int

        /// The defaults suit a validator.
        public init(
            durability: Durability = .full, nodeCacheBytes: Int = 128 << 20, valueCacheBytes: Int = 32 << 20,
            pageCacheBytes: Int = 256 << 20, walCheckpointBytes: Int = 64 << 20, walSizeLimitBytes: Int = 8 << 20
        ) {
            self.durability = durability
            self.nodeCacheBytes = nodeCacheBytes
            self.valueCacheBytes = valueCacheBytes
            self.pageCacheBytes = pageCacheBytes
            self.walCheckpointBytes = walCheckpointBytes
            self.walSizeLimitBytes = walSizeLimitBytes
        }
    }

    /// The file path, or `memory:<name>`. Every error about the database names it.
    public let location: String
    /// The database file (`nil` for an in-memory store): a ``VersionReader`` opens a second
    /// connection on it.
    let filePath: String?
    /// The last committed version, or `nil` before the first commit.
    public internal(set) var latestVersion: UInt64?
    /// The root of the last committed version (``StateCommitment/emptyRoot`` before any commit).
    public internal(set) var root: Hash = StateCommitment.emptyRoot
    /// The oldest version still readable after pruning (`nil` if nothing was ever pruned).
    public internal(set) var oldestVersion: UInt64?

    let database: DatabaseQueue
    let options: Options
    var rootRef: TreeChild = .empty
    var staged: [[UInt8]: StagedWrite] = [:]
    var cache: [UInt64: TreeNode] = [:]
    /// ``TreeNode/estimatedBytes`` of everything in ``cache``.
    var cacheBytes = 0
    /// Values at the latest version by key, filled by reads and updated by commits. The ledger
    /// reads the same accounts, participants and parameters for every transaction; each read
    /// through SQLite costs a queue hop, a read transaction (file locks) and a tree walk, which
    /// under load was ~15% of a node's CPU.
    var latestValues: RecentValues
    /// The id the next new tree node gets (persisted in the meta row by every commit).
    var nextNodeID: UInt64 = 1
    private var isClosed = false

    /// One key-value pair, as `entries(withPrefix:)` returns them.
    public typealias Entry = (key: [UInt8], value: [UInt8])
    /// A committed value (`nil`: absent) with its proof.
    public typealias ProvenValue = (value: [UInt8]?, proof: StateProof)

    enum StagedWrite {
        case set([UInt8])
        case delete
    }

    /// Opens (or creates) the store at `path`. The parent directory must exist.
    /// Throws ``StorageError`` naming `path` when the file is not SQLite, is another database, has
    /// an unknown schema, or is damaged.
    public convenience init(path: String, options: Options = Options()) throws {
        var configuration = Configuration()
        configuration.label = "gonka.state"
        let synchronous = options.durability == .full ? "FULL" : "NORMAL"
        // page_size only applies to a new file (measured: 4 KiB beat 2 KiB once values stopped
        // landing on random pages); page cache, checkpoint and WAL size as `options` say (by
        // default up to 256 MiB of cache; a checkpoint every 64 MiB of WAL rather than every 4 MiB,
        // so pages rewritten by consecutive commits are copied back once; the WAL cut back to 8 MiB
        // after each, where it used to keep its largest size).
        let pageCacheKiB = max(options.pageCacheBytes >> 10, 1)
        let checkpointPages = max(options.walCheckpointBytes / 4096, 1)
        let walLimit = options.walSizeLimitBytes
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA page_size = 4096")
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA cache_size = -\(pageCacheKiB)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(checkpointPages)")
            try db.execute(sql: "PRAGMA journal_size_limit = \(walLimit)")
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw Self.translate(error, location: path)
        }
        try self.init(location: path, filePath: path, database: queue, options: options)
    }

    /// Opens a private in-memory store (tests, tools); `name` only labels its errors.
    public convenience init(inMemory name: String, options: Options = Options()) throws {
        var configuration = Configuration()
        configuration.label = "gonka.state.memory"
        let location = "memory:\(name)"
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration)
        } catch {
            throw Self.translate(error, location: location)
        }
        try self.init(location: location, filePath: nil, database: queue, options: options)
    }

    private init(location: String, filePath: String?, database: DatabaseQueue, options: Options) throws {
        self.location = location
        self.filePath = filePath
        self.database = database
        self.options = options
        latestValues = RecentValues(
            budget: options.valueCacheBytes, retentionVersions: options.valueCacheRetentionVersions)
        let state = try access { db in try Schema.open(db, location: location) }
        latestVersion = state.latest
        oldestVersion = state.oldest
        nextNodeID = state.nextNodeID
        if let latest = state.latest {
            let (hash, ref) = try access { db in try self.fetchRoot(db, version: latest) }
            guard let hash, let ref else {
                throw StorageError.corrupted(path: location, detail: "no root row for the latest version \(latest)")
            }
            root = hash
            rootRef = ref
            // A cheap sanity check: the root node decodes and hashes to the recorded root.
            if case .node(let id, _) = ref {
                guard id < nextNodeID else {
                    throw StorageError.corrupted(path: location, detail: "root node id \(id) is not below the next id")
                }
                let node = try access { db in try self.node(db, id, depth: 0, remember: true) }
                guard node.digest.hash == hash else {
                    throw StorageError.corrupted(path: location, detail: "root node does not hash to the recorded root")
                }
            } else if ref.hash != hash {
                throw StorageError.corrupted(path: location, detail: "root leaf does not hash to the recorded root")
            }
        }
    }

    /// Closes the database (checkpointing the WAL). Later calls throw ``StorageError/closed(path:)``.
    public func close() throws {
        guard !isClosed else { return }
        isClosed = true
        cache.removeAll()
        cacheBytes = 0
        latestValues.removeAll()
        do { try database.close() } catch { throw Self.translate(error, location: location) }
    }

    // MARK: StateStore

    /// The value at the latest version, overlaid by staged writes.
    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        if let write = staged[key] {
            switch write {
            case .set(let value): return value
            case .delete: return nil
            }
        }
        guard let latest = latestVersion else { return nil }
        let cacheKey = ByteKey(key)
        if let cached = latestValues.value(for: cacheKey) { return cached }
        let value = try access { db in try self.fetchValue(db, key: key, version: latest) }
        latestValues.remember(value, for: cacheKey)
        return value
    }

    /// Stages a write for the next commit.
    public func set(_ key: [UInt8], _ value: [UInt8]) throws {
        staged[key] = .set(value)
    }

    /// Stages a delete for the next commit.
    public func delete(_ key: [UInt8]) throws {
        staged[key] = .delete
    }

    /// Drops staged writes.
    public func discardStaged() {
        staged.removeAll()
    }

    /// Every entry whose key starts with `prefix` at the latest version with staged writes applied,
    /// in bytewise key order.
    public func entries(withPrefix prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        var committed: [(key: [UInt8], value: [UInt8])] = []
        if let latest = latestVersion {
            committed = try access { db in try self.fetchEntries(db, prefix: prefix, version: latest) }
        }
        let pending = staged.filter { $0.key.starts(with: prefix) }
        guard !pending.isEmpty else { return committed }
        var merged: [[UInt8]: [UInt8]] = [:]
        merged.reserveCapacity(committed.count + pending.count)
        for entry in committed { merged[entry.key] = entry.value }
        for (key, write) in pending {
            switch write {
            case .set(let value): merged[key] = value
            case .delete: merged[key] = nil
            }
        }
        return merged.map { (key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    // MARK: Reads at a version

    /// The value of `key` as committed at `version` (staged writes ignored).
    public func get(_ key: [UInt8], atVersion version: UInt64) throws -> [UInt8]? {
        try checkReadable(version)
        return try access { db in try self.fetchValue(db, key: key, version: version) }
    }

    /// The entries with `prefix` as committed at `version`, in bytewise key order.
    public func entries(withPrefix prefix: [UInt8], atVersion version: UInt64) throws -> [Entry] {
        try checkReadable(version)
        return try access { db in try self.fetchEntries(db, prefix: prefix, version: version) }
    }

    /// The root committed at `version`.
    public func root(atVersion version: UInt64) throws -> Hash {
        try checkReadable(version)
        if version == latestVersion { return root }
        let (hash, _) = try access { db in try self.fetchRoot(db, version: version) }
        guard let hash else { throw StorageError.versionNotCommitted(version) }
        return hash
    }

    /// A proof of `key`'s committed value (or absence) at `version` (default: latest), checkable with
    /// ``StateCommitment/verify(_:key:value:root:)`` against ``root(atVersion:)``. Staged writes
    /// are not part of any proof.
    public func proof(_ key: [UInt8], atVersion version: UInt64? = nil) throws -> StateProof {
        let ref = try rootReference(atVersion: version)
        return try access { db in try self.buildProof(db, keyHash: StateCommitment.keyDigest(key), root: ref) }
    }

    /// The committed value and its proof, read in one go (a `query(path, height)` with proof).
    public func getWithProof(_ key: [UInt8], atVersion version: UInt64? = nil) throws -> ProvenValue {
        let ref = try rootReference(atVersion: version)
        guard let readVersion = version ?? latestVersion else {
            return (nil, StateProof(siblings: [], leaf: nil))
        }
        return try access { db in
            let value = try self.fetchValue(db, key: key, version: readVersion)
            let proof = try self.buildProof(db, keyHash: StateCommitment.keyDigest(key), root: ref)
            return (value, proof)
        }
    }

    // MARK: Internals shared by the extensions

    func checkReadable(_ version: UInt64) throws {
        guard let latest = latestVersion, version <= latest else {
            throw StorageError.versionInFuture(version, latest: latestVersion)
        }
        if let oldest = oldestVersion, version < oldest { throw StorageError.versionPruned(version, oldest: oldest) }
    }

    private func rootReference(atVersion version: UInt64?) throws -> TreeChild {
        guard let version, version != latestVersion else { return rootRef }
        try checkReadable(version)
        let (_, ref) = try access { db in try self.fetchRoot(db, version: version) }
        guard let ref else { throw StorageError.versionNotCommitted(version) }
        return ref
    }

    /// Runs `body` on the connection (no transaction), translating errors.
    func access<T>(_ body: (Database) throws -> T) throws -> T {
        guard !isClosed else { throw StorageError.closed(path: location) }
        do {
            return try database.inDatabase(body)
        } catch {
            throw Self.translate(error, location: location)
        }
    }

    /// Runs `body` in one write transaction (rolled back if it throws), translating errors.
    func transaction<T>(_ body: (Database) throws -> T) throws -> T {
        guard !isClosed else { throw StorageError.closed(path: location) }
        do {
            return try database.write(body)
        } catch {
            throw Self.translate(error, location: location)
        }
    }

    static func translate(_ error: any Error, location: String) -> StorageError {
        if let error = error as? StorageError { return error }
        if let error = error as? DatabaseError {
            let message = error.message ?? "\(error.resultCode)"
            switch error.resultCode {
            case .SQLITE_NOTADB: return .notADatabase(path: location)
            case .SQLITE_CORRUPT: return .corrupted(path: location, detail: message)
            default: return .database(path: location, detail: "\(error.resultCode): \(message)")
            }
        }
        return .database(path: location, detail: String(describing: error))
    }
}

/// The SQL the store runs, in one place. Keys and values are bound as BLOBs; an empty byte string
/// can bind as `NULL`, hence `coalesce(?, X'')` wherever a key or live value is bound.
enum SQL {
    static let selectValue = "SELECT value FROM vals WHERE version = ? AND key = coalesce(?, X'')"
    static let selectRoot = "SELECT hash, ref FROM root WHERE version = ?"
    static let selectRootInForce = "SELECT hash, ref FROM root WHERE version <= ? ORDER BY version DESC LIMIT 1"
    static let selectNode = "SELECT data FROM node WHERE id = ?"
    static let insertNode = "INSERT INTO node (id, data) VALUES (?, ?)"
    static let insertStale = "INSERT INTO stale (since, nodes) VALUES (?, ?)"
    static let insertChanges = "INSERT INTO changes (version, keys) VALUES (?, ?)"
    static let insertValue = "INSERT INTO vals (version, key, value) VALUES (?, coalesce(?, X''), coalesce(?, X''))"
    static let insertKey = """
        INSERT INTO keys (key, deleted_at) VALUES (coalesce(?, X''), NULL)
        ON CONFLICT (key) DO UPDATE SET deleted_at = NULL
        """
    static let markKeyDeleted = "UPDATE keys SET deleted_at = ? WHERE key = coalesce(?, X'')"
    static let insertRoot = "INSERT INTO root (version, hash, ref) VALUES (?, ?, ?)"
    static let updateMeta = "UPDATE meta SET latest = ?, next_node = ? WHERE id = 1"
}
