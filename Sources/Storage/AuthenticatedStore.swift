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
/// * nodes are keyed by `(version, nibble path)`: a commit writes new rows only for the nodes it
///   changes; unchanged subtrees are shared by every version, and a re-created node can never
///   collide with a stale one;
/// * the `stale` index records, for every node a commit replaced, the version at which it stopped
///   being current. ``prune(keepingRecent:)`` deletes exactly the nodes that only pruned versions
///   could reach.
///
/// **Values.** Raw keys live in the `kv` table, one row per (key, version) that changed it (a
/// `NULL` value is a delete), so reads at any kept version and prefix scans in bytewise key order
/// are index range scans, and no read walks the tree.
///
/// **Atomicity.** One SQLite transaction per commit: nodes, stale marks, values, the root row and
/// the meta row. The journal is WAL with `synchronous=FULL` by default: a process killed at any
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

        public var durability: Durability
        /// Decoded nodes kept in memory (nodes of the latest tree; the top levels are always kept).
        public var nodeCacheLimit: Int

        public init(durability: Durability = .full, nodeCacheLimit: Int = 250_000) {
            self.durability = durability
            self.nodeCacheLimit = nodeCacheLimit
        }
    }

    /// The file path, or `memory:<name>`. Every error about the database names it.
    public let location: String
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
    var cache: [NodeKey: TreeNode] = [:]
    private var isClosed = false

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
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA cache_size = -65536")
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw Self.translate(error, location: path)
        }
        try self.init(location: path, database: queue, options: options)
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
        try self.init(location: location, database: queue, options: options)
    }

    private init(location: String, database: DatabaseQueue, options: Options) throws {
        self.location = location
        self.database = database
        self.options = options
        let state = try access { db in try Schema.open(db, location: location) }
        latestVersion = state.latest
        oldestVersion = state.oldest
        if let latest = state.latest {
            let (hash, ref) = try access { db in try self.fetchRoot(db, version: latest) }
            guard let hash, let ref else {
                throw StorageError.corrupted(path: location, detail: "no root row for the latest version \(latest)")
            }
            root = hash
            rootRef = ref
            // A cheap sanity check: the root node decodes and hashes to the recorded root.
            if case .node(let version, _) = ref {
                let node = try access { db in try self.node(db, NodeKey(version: version, path: []), remember: true) }
                guard node.hash == hash else {
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
        return try access { db in try self.fetchValue(db, key: key, version: latest) }
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
    public func entries(withPrefix prefix: [UInt8], atVersion version: UInt64) throws -> [(
        key: [UInt8], value: [UInt8]
    )] {
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
        return try access { db in try self.buildProof(db, keyHash: StateCommitment.keyHash(key), root: ref) }
    }

    /// The committed value and its proof, read in one go (a `query(path, height)` with proof).
    public func getWithProof(_ key: [UInt8], atVersion version: UInt64? = nil) throws -> (
        value: [UInt8]?, proof: StateProof
    ) {
        let ref = try rootReference(atVersion: version)
        guard let readVersion = version ?? latestVersion else {
            return (nil, StateProof(siblings: [], leaf: nil))
        }
        return try access { db in
            let value = try self.fetchValue(db, key: key, version: readVersion)
            let proof = try self.buildProof(db, keyHash: StateCommitment.keyHash(key), root: ref)
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

    func fetchValue(_ db: Database, key: [UInt8], version: UInt64) throws -> [UInt8]? {
        let statement = try db.cachedStatement(sql: SQL.selectValue)
        guard let row = try Row.fetchOne(statement, arguments: [Data(key), Int64(version)]) else { return nil }
        guard let data: Data = row[0] else { return nil }
        return [UInt8](data)
    }

    func fetchEntries(_ db: Database, prefix: [UInt8], version: UInt64) throws -> [(key: [UInt8], value: [UInt8])] {
        let statement: Statement
        let arguments: StatementArguments
        if let upper = Self.prefixUpperBound(prefix) {
            statement = try db.cachedStatement(sql: SQL.selectRange)
            arguments = [Data(prefix), Data(upper), Int64(version)]
        } else {
            statement = try db.cachedStatement(sql: SQL.selectFrom)
            arguments = [Data(prefix), Int64(version)]
        }
        var out: [(key: [UInt8], value: [UInt8])] = []
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try rows.next() {
            let key: Data = row[0]
            let value: Data = row[1]
            out.append((key: [UInt8](key), value: [UInt8](value)))
        }
        return out
    }

    /// The smallest byte string greater than every string starting with `prefix`, or `nil` when
    /// there is none (`prefix` empty or all `0xFF`).
    static func prefixUpperBound(_ prefix: [UInt8]) -> [UInt8]? {
        var upper = prefix
        while let last = upper.last {
            if last == 0xFF {
                upper.removeLast()
            } else {
                upper[upper.count - 1] = last + 1
                return upper
            }
        }
        return nil
    }

    func fetchRoot(_ db: Database, version: UInt64) throws -> (Hash?, TreeChild?) {
        let statement = try db.cachedStatement(sql: SQL.selectRoot)
        guard let row = try Row.fetchOne(statement, arguments: [Int64(version)]) else { return (nil, nil) }
        let hashData: Data = row[0]
        let refData: Data = row[1]
        guard let hash = Hash(bytes: hashData), let ref = TreeChild.decodeRef([UInt8](refData), hash: hash) else {
            throw StorageError.corrupted(path: location, detail: "root row of version \(version) does not decode")
        }
        return (hash, ref)
    }

    /// The node at `key`, from the cache or the database. `remember` caches it (nodes of the
    /// latest tree); historical reads do not fill the cache.
    func node(_ db: Database, _ key: NodeKey, remember: Bool) throws -> TreeNode {
        if let node = cache[key] { return node }
        let node = try readNode(db, key)
        if remember { rememberNode(node, at: key) }
        return node
    }

    /// The node at `key`, read and decoded from disk (no cache).
    func readNode(_ db: Database, _ key: NodeKey) throws -> TreeNode {
        let statement = try db.cachedStatement(sql: SQL.selectNode)
        guard let data = try Data.fetchOne(statement, arguments: [Int64(key.version), Data(key.path)]) else {
            throw StorageError.corrupted(
                path: location, detail: "missing tree node (version \(key.version), path \(Hex.encode(key.path)))")
        }
        guard let node = TreeNode(decoding: [UInt8](data)) else {
            throw StorageError.corrupted(
                path: location,
                detail: "tree node (version \(key.version), path \(Hex.encode(key.path))) does not decode")
        }
        return node
    }

    func rememberNode(_ node: TreeNode, at key: NodeKey) {
        if cache.count >= options.nodeCacheLimit {
            // Crude but bounded: drop everything below the top three levels (≤ 273 nodes stay).
            cache = cache.filter { $0.key.path.count < 3 }
        }
        cache[key] = node
    }

    func buildProof(_ db: Database, keyHash: Hash, root: TreeChild) throws -> StateProof {
        var siblings: [Hash] = []
        var current = root
        var path: [UInt8] = []
        while true {
            switch current {
            case .empty:
                return StateProof(siblings: siblings, leaf: nil)
            case .leaf(let leafKey, let leafValue, _):
                return StateProof(siblings: siblings, leaf: .init(keyHash: leafKey, valueHash: leafValue))
            case .node(let version, _):
                guard path.count < 64 else {
                    throw StorageError.corrupted(path: location, detail: "tree deeper than 64 levels")
                }
                let node = try node(db, NodeKey(version: version, path: path), remember: false)
                let nibble = StateCommitment.nibble(of: keyHash, at: path.count)
                let step = StateCommitment.nodePath(node.children.map(\.slot), nibble: nibble)
                siblings.append(contentsOf: step.siblings)
                switch step.end {
                case .empty:
                    current = .empty
                case .leaf(let slot):
                    current = node.children[slot]
                case .node(let slot):
                    current = node.children[slot]
                    path.append(UInt8(slot))
                }
            }
        }
    }
}

/// The SQL the store runs, in one place. Keys and values are bound as BLOBs; an empty byte string
/// can bind as `NULL`, hence `coalesce(?, X'')` wherever a key or live value is bound.
enum SQL {
    static let selectValue = """
        SELECT value FROM kv WHERE key = coalesce(?1, X'') AND version <= ?2 ORDER BY version DESC LIMIT 1
        """
    static let selectRange = """
        SELECT key, value FROM kv AS a
        WHERE key >= coalesce(?1, X'') AND key < ?2
          AND version = (SELECT max(version) FROM kv AS b WHERE b.key = a.key AND b.version <= ?3)
          AND value IS NOT NULL
        ORDER BY key
        """
    static let selectFrom = """
        SELECT key, value FROM kv AS a
        WHERE key >= coalesce(?1, X'')
          AND version = (SELECT max(version) FROM kv AS b WHERE b.key = a.key AND b.version <= ?2)
          AND value IS NOT NULL
        ORDER BY key
        """
    static let selectRoot = "SELECT hash, ref FROM root WHERE version = ?"
    static let selectNode = "SELECT data FROM node WHERE version = ? AND path = coalesce(?, X'')"
    static let insertNode = "INSERT INTO node (version, path, data) VALUES (?, coalesce(?, X''), ?)"
    static let insertStale = "INSERT INTO stale (since, version, path) VALUES (?, ?, coalesce(?, X''))"
    static let insertValue = "INSERT INTO kv (key, version, value) VALUES (coalesce(?, X''), ?, coalesce(?, X''))"
    static let insertDelete = "INSERT INTO kv (key, version, value) VALUES (coalesce(?, X''), ?, NULL)"
    static let insertRoot = "INSERT INTO root (version, hash, ref) VALUES (?, ?, ?)"
    static let updateLatest = "UPDATE meta SET latest = ? WHERE id = 1"
}
