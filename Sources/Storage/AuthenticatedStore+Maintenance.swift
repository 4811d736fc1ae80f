import Foundation
import GRDB
import GonkaCore

extension AuthenticatedStore {
    /// Keeps the `count` most recent versions (`latest − count + 1 … latest`) and deletes the
    /// older ones: their root rows, every tree node only they could reach (the stale lists say
    /// which), every value row no kept version can see, and index entries of keys absent from every
    /// kept version. Reads of a deleted version then throw ``StorageError/versionPruned(_:oldest:)``.
    /// One transaction; staged writes are untouched.
    public func prune(keepingRecent count: UInt64) throws {
        guard count >= 1 else { throw StorageError.invalidArgument("prune(keepingRecent:) needs at least 1 version") }
        guard let latest = latestVersion, latest >= count else { return }
        let cutoff = latest - count + 1
        if let oldest = oldestVersion, cutoff <= oldest { return }
        let location = location
        let pruned = try transaction { db -> [UInt64] in
            // The tree in force at `cutoff` is that of the last commit at or before it: keep it.
            guard
                let kept = try Int64.fetchOne(
                    db, sql: "SELECT max(version) FROM root WHERE version <= ?", arguments: [Int64(cutoff)])
            else {
                try db.execute(sql: "UPDATE meta SET oldest = ? WHERE id = 1", arguments: [Int64(cutoff)])
                return []
            }
            // A node stale since s is reachable only from versions < s; no commit lies in (kept, cutoff].
            var pruned: [UInt64] = []
            let staleRows = try Data.fetchCursor(db, sql: "SELECT nodes FROM stale WHERE since <= ?", arguments: [kept])
            while let blob = try staleRows.next() {
                guard let nodes = VersionLog.decodeNodes([UInt8](blob)) else {
                    throw StorageError.corrupted(path: location, detail: "a stale-node list does not decode")
                }
                pruned.append(contentsOf: nodes)
            }
            let deleteNode = try db.cachedStatement(sql: "DELETE FROM node WHERE id = ?")
            for id in pruned {
                try deleteNode.execute(arguments: [Int64(bitPattern: id)])
            }
            try db.execute(sql: "DELETE FROM stale WHERE since <= ?", arguments: [kept])

            // A change at u ≤ kept replaced the value written at `previous`: no kept version can see
            // that row. A key deleted at u ≤ kept and not re-created since is absent from every kept
            // version: its index entry goes. Lists of versions pruned before were consumed then.
            var changes: [VersionLog.KeyChange] = []
            let logs = try Row.fetchCursor(
                db, sql: "SELECT version, keys FROM changes WHERE version <= ?", arguments: [kept])
            while let row = try logs.next() {
                let version: Int64 = row[0]
                let blob: Data = row[1]
                guard let keys = VersionLog.decodeKeys([UInt8](blob)) else {
                    throw StorageError.corrupted(
                        path: location, detail: "the change list of version \(version) does not decode")
                }
                changes.append(contentsOf: keys)
            }
            let deleteValue = try db.cachedStatement(
                sql: "DELETE FROM vals WHERE version = ? AND key = coalesce(?, X'')")
            let deleteKey = try db.cachedStatement(
                sql: "DELETE FROM keys WHERE key = coalesce(?, X'') AND deleted_at IS NOT NULL AND deleted_at <= ?")
            for change in changes {
                if let previous = change.previous {
                    try deleteValue.execute(arguments: [Int64(previous), Data(change.key)])
                }
                if change.isDelete { try deleteKey.execute(arguments: [Data(change.key), kept]) }
            }
            try db.execute(sql: "DELETE FROM changes WHERE version <= ?", arguments: [kept])
            try db.execute(sql: "DELETE FROM root WHERE version < ?", arguments: [kept])
            try db.execute(sql: "UPDATE meta SET oldest = ? WHERE id = 1", arguments: [Int64(cutoff)])
            return pruned
        }
        for id in pruned { forgetNode(id) }
        oldestVersion = cutoff
    }

    /// A full check for operators (`O(state size)`): SQLite's `quick_check`, then every node of
    /// the latest tree is re-read from disk and re-hashed up to the root, leaves are checked to sit
    /// under their key hash, and every indexed key is checked against the tree and its value row
    /// against its leaf. Throws ``StorageError/corrupted(path:detail:)`` at the first mismatch.
    @discardableResult
    public func verifyIntegrity() throws -> IntegrityReport {
        let location = location
        return try access { db in
            let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
            guard check == ["ok"] else {
                throw StorageError.corrupted(path: location, detail: check.prefix(3).joined(separator: "; "))
            }
            var leaves: [Digest: (valueHash: Digest, version: UInt64)] = [:]
            var nodes = 0
            let computed = try self.verifySubtree(db, rootRef, path: [], leaves: &leaves, nodes: &nodes)
            guard computed.hash == root else {
                throw StorageError.corrupted(path: location, detail: "the tree does not hash to the recorded root")
            }
            var present = 0
            let keys = try Row.fetchCursor(db, sql: "SELECT key, deleted_at IS NULL FROM keys")
            while let row = try keys.next() {
                let key = [UInt8](row[0] as Data)
                let live: Bool = row[1]
                let leaf = leaves[StateCommitment.keyDigest(key)]
                switch (live, leaf) {
                case (true, let leaf?):
                    present += 1
                    let value = try self.fetchValueRow(db, key: key, version: leaf.version)
                    guard StateCommitment.keyDigest(value) == leaf.valueHash else {
                        throw StorageError.corrupted(
                            path: location, detail: "the value of key \(Hex.encode(key)) does not match its leaf")
                    }
                case (false, nil):
                    continue
                default:
                    throw StorageError.corrupted(
                        path: location, detail: "the key index and the tree disagree about key \(Hex.encode(key))")
                }
            }
            guard present == leaves.count else {
                throw StorageError.corrupted(
                    path: location, detail: "\(leaves.count) leaves but \(present) indexed keys")
            }
            return IntegrityReport(entries: present, nodes: nodes)
        }
    }

    /// What ``verifyIntegrity()`` walked: entries and tree nodes of the latest version.
    public struct IntegrityReport: Sendable, Equatable {
        /// Entries (leaves) of the latest version.
        public var entries: Int
        /// Tree nodes reachable from the latest root.
        public var nodes: Int
    }

    /// Row counts, for operators and tests (after `prune(keepingRecent: 1)` the store holds exactly
    /// the latest version: one root, its nodes, one value row and one index entry per entry).
    public struct Statistics: Sendable, Equatable {
        /// Committed versions still stored (root rows).
        public var versions: Int
        /// Tree node rows (all kept versions).
        public var nodes: Int
        /// Value rows (all kept versions).
        public var values: Int
        /// Index entries (present in some kept version), and those present in the latest one.
        public var keys: Int
        public var liveKeys: Int
    }

    /// Counts the rows of each table.
    public func statistics() throws -> Statistics {
        try access { db in
            func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
            return Statistics(
                versions: try count("SELECT count(*) FROM root"), nodes: try count("SELECT count(*) FROM node"),
                values: try count("SELECT count(*) FROM vals"), keys: try count("SELECT count(*) FROM keys"),
                liveKeys: try count("SELECT count(*) FROM keys WHERE deleted_at IS NULL"))
        }
    }

    private func verifySubtree(
        _ db: Database, _ ref: TreeChild, path: [UInt8], leaves: inout [Digest: (valueHash: Digest, version: UInt64)],
        nodes: inout Int
    ) throws -> Digest {
        switch ref {
        case .empty:
            return .zero
        case .leaf(let keyHash, let valueHash, let version, let hash):
            for (depth, nibble) in path.enumerated() where keyHash.nibble(at: depth) != Int(nibble) {
                throw StorageError.corrupted(
                    path: location, detail: "leaf \(keyHash.hash) stored under path \(Hex.encode(path))")
            }
            guard hash == StateCommitment.leafDigest(keyHash: keyHash, valueHash: valueHash) else {
                throw StorageError.corrupted(path: location, detail: "leaf hash mismatch under \(Hex.encode(path))")
            }
            guard leaves.updateValue((valueHash, version), forKey: keyHash) == nil else {
                throw StorageError.corrupted(path: location, detail: "key hash \(keyHash.hash) has two leaves")
            }
            return hash
        case .node(let id, let hash):
            let node = try readNode(db, id, depth: path.count)
            nodes += 1
            let present = node.children.filter { !$0.isEmpty }
            if present.count == 1, case .leaf = present[0] {
                throw StorageError.corrupted(path: location, detail: "node \(Hex.encode(path)) holds a single leaf")
            }
            var slots: [StateCommitment.Slot] = []
            for (nibble, child) in node.children.enumerated() {
                let childHash = try verifySubtree(
                    db, child, path: path + [UInt8(nibble)], leaves: &leaves, nodes: &nodes)
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
