import Foundation
import GRDB
import GonkaCore

extension AuthenticatedStore {
    /// Keeps the `count` most recent versions (`latest − count + 1 … latest`) and deletes the
    /// older ones: their root rows, every tree node only they could reach (the stale index says
    /// which), and every value row no kept version can see. Reads of a deleted version then throw
    /// ``StorageError/versionPruned(_:oldest:)``. One transaction; staged writes are untouched.
    public func prune(keepingRecent count: UInt64) throws {
        guard count >= 1 else { throw StorageError.invalidArgument("prune(keepingRecent:) needs at least 1 version") }
        guard let latest = latestVersion, latest >= count else { return }
        let cutoff = latest - count + 1
        if let oldest = oldestVersion, cutoff <= oldest { return }
        let previous = oldestVersion.map { Int64($0) } ?? -1
        let limit = Int64(cutoff)
        let pruned = try transaction { db -> [NodeKey] in
            // A node stale since s is reachable only from versions < s.
            var pruned: [NodeKey] = []
            let staleRows = try Row.fetchCursor(
                db, sql: "SELECT version, path FROM stale WHERE since <= ?", arguments: [limit])
            while let row = try staleRows.next() {
                let version: Int64 = row[0]
                let path: Data = row[1]
                pruned.append(NodeKey(version: UInt64(version), path: [UInt8](path)))
            }
            let deleteNode = try db.cachedStatement(
                sql: "DELETE FROM node WHERE version = ? AND path = coalesce(?, X'')")
            for key in pruned {
                try deleteNode.execute(arguments: [Int64(key.version), Data(key.path)])
            }
            try db.execute(sql: "DELETE FROM stale WHERE since <= ?", arguments: [limit])

            // A value row (k, u) with u ≤ cutoff hides every older row of k from all kept versions;
            // if it is a delete it is itself invisible to them.
            var superseding: [(key: Data, version: Int64, isDelete: Bool)] = []
            let valueRows = try Row.fetchCursor(
                db, sql: "SELECT key, version, value IS NULL FROM kv WHERE version > ? AND version <= ?",
                arguments: [previous, limit])
            while let row = try valueRows.next() {
                superseding.append((row[0], row[1], row[2]))
            }
            let deleteOlder = try db.cachedStatement(sql: "DELETE FROM kv WHERE key = coalesce(?, X'') AND version < ?")
            let deleteExact = try db.cachedStatement(sql: "DELETE FROM kv WHERE key = coalesce(?, X'') AND version = ?")
            for row in superseding {
                try deleteOlder.execute(arguments: [row.key, row.version])
                if row.isDelete { try deleteExact.execute(arguments: [row.key, row.version]) }
            }
            try db.execute(sql: "DELETE FROM root WHERE version < ?", arguments: [limit])
            try db.execute(sql: "UPDATE meta SET oldest = ? WHERE id = 1", arguments: [limit])
            return pruned
        }
        for key in pruned { cache[key] = nil }
        oldestVersion = cutoff
    }

    /// A full check for operators (`O(state size)`): SQLite's `quick_check`, then every node of
    /// the latest tree is re-read from disk and re-hashed up to the root, leaves are checked to sit
    /// under their key hash, and the latest values are checked against the leaves one by one.
    /// Throws ``StorageError/corrupted(path:detail:)`` at the first mismatch.
    public func verifyIntegrity() throws {
        let location = location
        try access { db in
            let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
            guard check == ["ok"] else {
                throw StorageError.corrupted(path: location, detail: check.prefix(3).joined(separator: "; "))
            }
            var leaves: [Hash: Hash] = [:]
            let computed = try self.verifySubtree(db, rootRef, path: [], leaves: &leaves)
            guard computed == root else {
                throw StorageError.corrupted(path: location, detail: "the tree does not hash to the recorded root")
            }
            guard let latest = latestVersion else {
                guard leaves.isEmpty else {
                    throw StorageError.corrupted(path: location, detail: "entries before any commit")
                }
                return
            }
            let entries = try self.fetchEntries(db, prefix: [], version: latest)
            guard entries.count == leaves.count else {
                throw StorageError.corrupted(
                    path: location, detail: "\(entries.count) values but \(leaves.count) leaves at version \(latest)")
            }
            for entry in entries {
                let keyHash = StateCommitment.keyHash(entry.key)
                guard leaves[keyHash] == StateCommitment.valueHash(entry.value) else {
                    throw StorageError.corrupted(
                        path: location, detail: "value of key \(Hex.encode(entry.key)) does not match its leaf")
                }
            }
        }
    }

    private func verifySubtree(_ db: Database, _ ref: TreeChild, path: [UInt8], leaves: inout [Hash: Hash]) throws
        -> Hash
    {
        switch ref {
        case .empty:
            return StateCommitment.emptyRoot
        case .leaf(let keyHash, let valueHash, let hash):
            for (depth, nibble) in path.enumerated() where StateCommitment.nibble(of: keyHash, at: depth) != Int(nibble)
            {
                throw StorageError.corrupted(
                    path: location, detail: "leaf \(keyHash) stored under path \(Hex.encode(path))")
            }
            leaves[keyHash] = valueHash
            return hash
        case .node(let version, let hash):
            let key = NodeKey(version: version, path: path)
            let node = try readNode(db, key)
            let present = node.children.filter { !$0.isEmpty }
            if present.count == 1, case .leaf = present[0] {
                throw StorageError.corrupted(path: location, detail: "node \(Hex.encode(path)) holds a single leaf")
            }
            var slots: [StateCommitment.Slot] = []
            for (nibble, child) in node.children.enumerated() {
                let childHash = try verifySubtree(db, child, path: path + [UInt8(nibble)], leaves: &leaves)
                slots.append(child.slot)
                guard childHash == child.hash else {
                    throw StorageError.corrupted(
                        path: location, detail: "child hash mismatch under \(Hex.encode(path))")
                }
            }
            let computed = StateCommitment.nodeHash(slots)
            guard computed == hash else {
                throw StorageError.corrupted(
                    path: location, detail: "node \(Hex.encode(path)) does not hash to its reference")
            }
            return computed
        }
    }
}
