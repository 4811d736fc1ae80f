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
        let limit = Int64(cutoff)
        let location = location
        let pruned = try transaction { db -> [UInt64] in
            // A node stale since s is reachable only from versions < s.
            var pruned: [UInt64] = []
            let staleRows = try Row.fetchCursor(db, sql: "SELECT nodes FROM stale WHERE since <= ?", arguments: [limit])
            while let row = try staleRows.next() {
                let blob: Data = row[0]
                guard let nodes = VersionLog.decodeNodes([UInt8](blob)) else {
                    throw StorageError.corrupted(path: location, detail: "a stale-node list does not decode")
                }
                pruned.append(contentsOf: nodes)
            }
            let deleteNode = try db.cachedStatement(sql: "DELETE FROM node WHERE id = ?")
            for key in pruned {
                try deleteNode.execute(arguments: [Int64(bitPattern: key)])
            }
            try db.execute(sql: "DELETE FROM stale WHERE since <= ?", arguments: [limit])

            // A value row (k, u) with u ≤ cutoff hides every older row of k from all kept versions;
            // if it is a delete it is itself invisible to them. Change lists of versions pruned
            // before were consumed and deleted then, so these are exactly the new ones.
            var superseding: [(key: [UInt8], version: Int64, isDelete: Bool)] = []
            let logs = try Row.fetchCursor(
                db, sql: "SELECT version, keys FROM changes WHERE version <= ?", arguments: [limit])
            while let row = try logs.next() {
                let version: Int64 = row[0]
                let blob: Data = row[1]
                guard let keys = VersionLog.decodeKeys([UInt8](blob)) else {
                    throw StorageError.corrupted(
                        path: location, detail: "the change list of version \(version) does not decode")
                }
                for entry in keys { superseding.append((entry.key, version, entry.isDelete)) }
            }
            let deleteOlder = try db.cachedStatement(sql: "DELETE FROM kv WHERE key = coalesce(?, X'') AND version < ?")
            let deleteExact = try db.cachedStatement(sql: "DELETE FROM kv WHERE key = coalesce(?, X'') AND version = ?")
            for row in superseding {
                try deleteOlder.execute(arguments: [Data(row.key), row.version])
                if row.isDelete { try deleteExact.execute(arguments: [Data(row.key), row.version]) }
            }
            try db.execute(sql: "DELETE FROM changes WHERE version <= ?", arguments: [limit])
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
            var leaves: [Digest: Digest] = [:]
            let computed = try self.verifySubtree(db, rootRef, path: [], leaves: &leaves)
            guard computed.hash == root else {
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
                let keyHash = StateCommitment.keyDigest(entry.key)
                guard leaves[keyHash] == StateCommitment.keyDigest(entry.value) else {
                    throw StorageError.corrupted(
                        path: location, detail: "value of key \(Hex.encode(entry.key)) does not match its leaf")
                }
            }
        }
    }

    private func verifySubtree(_ db: Database, _ ref: TreeChild, path: [UInt8], leaves: inout [Digest: Digest]) throws
        -> Digest
    {
        switch ref {
        case .empty:
            return .zero
        case .leaf(let keyHash, let valueHash, let hash):
            for (depth, nibble) in path.enumerated() where keyHash.nibble(at: depth) != Int(nibble) {
                throw StorageError.corrupted(
                    path: location, detail: "leaf \(keyHash.hash) stored under path \(Hex.encode(path))")
            }
            leaves[keyHash] = valueHash
            guard hash == StateCommitment.leafDigest(keyHash: keyHash, valueHash: valueHash) else {
                throw StorageError.corrupted(path: location, detail: "leaf hash mismatch under \(Hex.encode(path))")
            }
            return hash
        case .node(let id, let hash):
            let node = try readNode(db, id, depth: path.count)
            let present = node.children.filter { !$0.isEmpty }
            if present.count == 1, case .leaf = present[0] {
                throw StorageError.corrupted(path: location, detail: "node \(Hex.encode(path)) holds a single leaf")
            }
            var slots: [StateCommitment.Slot] = []
            for (nibble, child) in node.children.enumerated() {
                let childHash = try verifySubtree(db, child, path: path + [UInt8(nibble)], leaves: &leaves)
                slots.append(child.slot)
                guard childHash == child.digest else {
                    throw StorageError.corrupted(
                        path: location, detail: "child hash mismatch under \(Hex.encode(path))")
                }
            }
            let computed = StateCommitment.nodeDigest(slots)
            guard computed == hash else {
                throw StorageError.corrupted(
                    path: location, detail: "node \(Hex.encode(path)) does not hash to its reference")
            }
            return computed
        }
    }
}
