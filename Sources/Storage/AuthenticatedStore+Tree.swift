import Foundation
import GRDB
import GonkaCore
import Ledger

/// Reads of the authenticated tree (PROTOCOL §3.3): values at a version, a key's leaf, roots,
/// nodes through the cache, and proofs. The static forms take a connection and a location so a
/// ``VersionReader`` on its own connection walks the same code.
extension AuthenticatedStore {
    /// The value of `key` at `version` (a readable version): walk the tree in force at `version`
    /// to the key's leaf, then read the value row the leaf names.
    func fetchValue(_ db: Database, key: [UInt8], version: UInt64) throws -> [UInt8]? {
        let root = try rootInForce(db, version: version)
        let isLatest = version == latestVersion
        guard let leafVersion = try findLeaf(db, StateCommitment.keyDigest(key), root: root, remember: isLatest) else {
            return nil
        }
        return try fetchValueRow(db, key: key, version: leafVersion)
    }

    func fetchValueRow(_ db: Database, key: [UInt8], version: UInt64) throws -> [UInt8] {
        try Self.fetchValueRow(db, key: key, version: version, location: location)
    }

    /// The `vals` row `(version, key)`, which a leaf names (on any connection).
    static func fetchValueRow(_ db: Database, key: [UInt8], version: UInt64, location: String) throws -> [UInt8] {
        let statement = try db.cachedStatement(sql: SQL.selectValue)
        guard let data = try Data.fetchOne(statement, arguments: [Int64(version), Data(key)]) else {
            throw StorageError.corrupted(
                path: location, detail: "the value of key \(Hex.encode(key)) written at version \(version) is missing")
        }
        return [UInt8](data)
    }

    /// The entries with `prefix` at `version` (a readable version), in key order: the key index
    /// gives the candidates in order, the tree in force at `version` decides which are present.
    func fetchEntries(_ db: Database, prefix: [UInt8], version: UInt64) throws -> [(key: [UInt8], value: [UInt8])] {
        let isLatest = version == latestVersion
        let root = try rootInForce(db, version: version)
        var sql = "SELECT key FROM keys WHERE key >= coalesce(?, X'')"
        var arguments: StatementArguments = [Data(prefix)]
        if let upper = Self.prefixUpperBound(prefix) {
            sql += " AND key < ?"
            arguments += [Data(upper)]
        }
        if isLatest { sql += " AND deleted_at IS NULL" }  // the index knows the latest state exactly
        sql += " ORDER BY key"
        var keys: [[UInt8]] = []
        let rows = try Data.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
        while let key = try rows.next() { keys.append([UInt8](key)) }
        var out: [(key: [UInt8], value: [UInt8])] = []
        out.reserveCapacity(keys.count)
        for key in keys {
            guard
                let leafVersion = try findLeaf(db, StateCommitment.keyDigest(key), root: root, remember: isLatest)
            else {
                if isLatest {
                    throw StorageError.corrupted(
                        path: location, detail: "key \(Hex.encode(key)) is indexed as present but has no leaf")
                }
                continue
            }
            out.append((key, try fetchValueRow(db, key: key, version: leafVersion)))
        }
        return out
    }

    /// The version that wrote `keyHash`'s current value in the tree under `root`, or `nil` when the
    /// key is absent.
    func findLeaf(_ db: Database, _ keyHash: Digest, root: TreeChild, remember: Bool) throws -> UInt64? {
        try Self.findLeaf(keyHash, root: root, location: location) { id, depth in
            try node(db, id, depth: depth, remember: remember)
        }
    }

    /// The walk behind ``findLeaf(_:_:root:remember:)`` with the nodes from `node(id, depth)` (this
    /// store's caches, or a ``VersionReader``'s own): the one home of the leaf search.
    static func findLeaf(
        _ keyHash: Digest, root: TreeChild, location: String, node: (UInt64, Int) throws -> TreeNode
    ) throws -> UInt64? {
        var current = root
        var depth = 0
        while true {
            switch current {
            case .empty:
                return nil
            case .leaf(let leafKey, _, let version, _):
                return leafKey == keyHash ? version : nil
            case .node(let id, _):
                guard depth < 64 else {
                    throw StorageError.corrupted(path: location, detail: "tree deeper than 64 levels")
                }
                current = try node(id, depth)[keyHash.nibble(at: depth)]
                depth += 1
            }
        }
    }

    /// The root of the last commit at or before `version` (`.empty` if there is none).
    func rootInForce(_ db: Database, version: UInt64) throws -> TreeChild {
        if version == latestVersion { return rootRef }
        let statement = try db.cachedStatement(sql: SQL.selectRootInForce)
        guard let row = try Row.fetchOne(statement, arguments: [Int64(version)]) else { return .empty }
        return try decodeRootRow(row, version: version)
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
        let ref = try decodeRootRow(row, version: version)
        return (ref.hash, ref)
    }

    func decodeRootRow(_ row: Row, version: UInt64) throws -> TreeChild {
        try Self.decodeRootRow(row, version: version, location: location)
    }

    /// A `root` row's reference (on any connection).
    static func decodeRootRow(_ row: Row, version: UInt64, location: String) throws -> TreeChild {
        let hashData: Data = row[0]
        let refData: Data = row[1]
        guard let hash = Hash(bytes: hashData), let ref = TreeChild.decodeRef([UInt8](refData), hash: Digest(hash)),
            ref.hash == hash
        else {
            throw StorageError.corrupted(
                path: location, detail: "the root row in force at version \(version) does not decode")
        }
        return ref
    }

    /// The node `id` at nibble `depth`, from the cache or the database. `remember` caches it
    /// (nodes of the latest tree); historical reads do not fill the cache.
    func node(_ db: Database, _ id: UInt64, depth: Int, remember: Bool) throws -> TreeNode {
        if let node = cache[id] { return node }
        let node = try readNode(db, id, depth: depth)
        if remember { rememberNode(node, id: id) }
        return node
    }

    /// The node `id`, read and decoded from disk (no cache).
    func readNode(_ db: Database, _ id: UInt64, depth: Int) throws -> TreeNode {
        try Self.readNode(db, id, depth: depth, location: location)
    }

    /// The node `id`, read and decoded from disk (on any connection).
    static func readNode(_ db: Database, _ id: UInt64, depth: Int, location: String) throws -> TreeNode {
        let statement = try db.cachedStatement(sql: SQL.selectNode)
        guard let data = try Data.fetchOne(statement, arguments: [Int64(bitPattern: id)]) else {
            throw StorageError.corrupted(path: location, detail: "tree node \(id) is missing")
        }
        guard let node = TreeNode(decoding: data, depth: depth) else {
            throw StorageError.corrupted(path: location, detail: "tree node \(id) does not decode")
        }
        return node
    }

    func rememberNode(_ node: TreeNode, id: UInt64) {
        let cost = node.estimatedBytes
        if cacheBytes + cost > options.nodeCacheBytes {
            // Bounded and cheap: forget a quarter of the cache, never the top three levels (≤ 273
            // nodes, touched by nearly every commit). Which ones go only affects speed.
            let victims = cache.lazy.filter { $0.value.depth >= 3 }.prefix(max(cache.count / 4, 1)).map(\.key)
            for id in Array(victims) { forgetNode(id) }
        }
        forgetNode(id)
        cache[id] = node
        cacheBytes += cost
    }

    /// Drops node `id` from ``cache``, if there.
    func forgetNode(_ id: UInt64) {
        if let old = cache.removeValue(forKey: id) { cacheBytes -= old.estimatedBytes }
    }

    func buildProof(_ db: Database, keyHash: Digest, root: TreeChild) throws -> StateProof {
        var siblings: [Hash] = []
        var current = root
        var depth = 0
        while true {
            switch current {
            case .empty:
                return StateProof(siblings: siblings, leaf: nil)
            case .leaf(let leafKey, let leafValue, _, _):
                return StateProof(siblings: siblings, leaf: .init(keyHash: leafKey.hash, valueHash: leafValue.hash))
            case .node(let id, _):
                guard depth < 64 else {
                    throw StorageError.corrupted(path: location, detail: "tree deeper than 64 levels")
                }
                let node = try node(db, id, depth: depth, remember: false)
                let slots = node.children.map(\.slot)
                let step = StateCommitment.nodePath(slots, nibble: keyHash.nibble(at: depth))
                siblings.append(contentsOf: step.siblings)
                switch step.end {
                case .empty:
                    current = .empty
                case .leaf(let slot):
                    current = node[slot]
                case .node(let slot):
                    current = node[slot]
                    depth += 1
                }
            }
        }
    }
}
