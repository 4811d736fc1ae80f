import Foundation
import GRDB
import GonkaCore

extension AuthenticatedStore {
    /// One staged write, with its place in the tree.
    struct Change {
        let key: [UInt8]
        let keyHash: Digest
        /// `nil` for a delete.
        let value: [UInt8]?
        let valueHash: Digest?
        /// Whether it changes the state (a set to the current value or a delete of a missing key
        /// does not, and writes nothing).
        var effective = false
        /// The version that wrote the value this change replaces (`nil`: the key was absent).
        var previous: UInt64?
    }

    /// An entry of a subtree being built: a leaf's content.
    typealias LeafEntry = (keyHash: Digest, valueHash: Digest, version: UInt64)

    /// What one commit writes.
    struct CommitPlan {
        let version: UInt64
        /// The id the next new node gets.
        var nextNodeID: UInt64
        var newNodes: [(id: UInt64, node: TreeNode)] = []
        var staleNodes: [UInt64] = []
    }

    /// Atomically writes the staged changes as `version` and returns the new root.
    ///
    /// `version` must exceed ``latestVersion`` (any version for a fresh store) and fit `Int64`.
    /// On any error nothing is written and the staged changes are kept.
    public func commit(version: UInt64) throws -> Hash {
        try commit(version: version, expectedRoot: nil)
    }

    /// ``commit(version:)``, rolled back (nothing written, the staged changes kept) with
    /// ``StorageError/rootMismatch(expected:got:)`` when the new root is not `expectedRoot`.
    func commit(version: UInt64, expectedRoot: Hash?) throws -> Hash {
        guard version <= UInt64(Int64.max) else { throw StorageError.versionOutOfRange(version) }
        if let latest = latestVersion, version <= latest {
            throw StorageError.versionNotIncreasing(version: version, latest: latest)
        }
        var changes = staged.map { key, write -> Change in
            switch write {
            case .set(let value):
                Change(
                    key: key, keyHash: StateCommitment.keyDigest(key), value: value,
                    valueHash: StateCommitment.keyDigest(value))
            case .delete:
                Change(key: key, keyHash: StateCommitment.keyDigest(key), value: nil, valueHash: nil)
            }
        }
        changes.sort { $0.keyHash < $1.keyHash }
        var plan = CommitPlan(version: version, nextNodeID: nextNodeID)
        let previousRoot = rootRef
        let newRoot = try transaction { db -> TreeChild in
            let newRoot = try self.update(
                db, previousRoot, depth: 0, changes: &changes, range: changes.startIndex..<changes.endIndex,
                plan: &plan)
            if let expectedRoot, newRoot.hash != expectedRoot {
                throw StorageError.rootMismatch(expected: expectedRoot, got: newRoot.hash)
            }
            try self.write(db, plan: plan, changes: changes, root: newRoot)
            return newRoot
        }
        // Durable: now the in-memory view may move on.
        for id in plan.staleNodes { forgetNode(id) }
        for (id, node) in plan.newNodes { rememberNode(node, id: id) }
        nextNodeID = plan.nextNodeID
        rootRef = newRoot
        root = newRoot.hash
        latestVersion = version
        for (key, write) in staged {
            switch write {
            case .set(let value): latestValues.remember(value, for: ByteKey(key))
            case .delete: latestValues.remember(nil, for: ByteKey(key))
            }
        }
        staged.removeAll()
        latestValues.advance(toVersion: version)
        return root
    }

    private func write(_ db: Database, plan: CommitPlan, changes: [Change], root: TreeChild) throws {
        let version = Int64(plan.version)
        var effective = changes.filter(\.effective)
        effective.sort { $0.key.lexicographicallyPrecedes($1.key) }
        let insertNode = try db.cachedStatement(sql: SQL.insertNode)
        for (id, node) in plan.newNodes {
            try insertNode.execute(arguments: [Int64(bitPattern: id), node.encoded()])
        }
        if !plan.staleNodes.isEmpty {
            try db.cachedStatement(sql: SQL.insertStale).execute(
                arguments: [version, Data(VersionLog.encode(nodes: plan.staleNodes))])
        }
        // Values append under this version; the key index changes only when a key appears or goes.
        let insertValue = try db.cachedStatement(sql: SQL.insertValue)
        let insertKey = try db.cachedStatement(sql: SQL.insertKey)
        let markDeleted = try db.cachedStatement(sql: SQL.markKeyDeleted)
        var changed: [VersionLog.KeyChange] = []
        changed.reserveCapacity(effective.count)
        for change in effective {
            let key = Data(change.key)
            if let value = change.value {
                try insertValue.execute(arguments: [version, key, Data(value)])
                if change.previous == nil { try insertKey.execute(arguments: [key]) }
            } else {
                try markDeleted.execute(arguments: [version, key])
            }
            changed.append(.init(key: change.key, isDelete: change.value == nil, previous: change.previous))
        }
        if !changed.isEmpty {
            try db.cachedStatement(sql: SQL.insertChanges).execute(
                arguments: [version, Data(VersionLog.encode(keys: changed))])
        }
        try db.cachedStatement(sql: SQL.insertRoot).execute(
            arguments: [version, Data(root.hash.bytes), Data(root.encodedRef())])
        try db.cachedStatement(sql: SQL.updateMeta).execute(arguments: [version, Int64(bitPattern: plan.nextNodeID)])
    }

    /// Applies `changes[range]` (sorted by key hash, all sharing the first `depth` nibbles) to the
    /// subtree `current` at that depth, and returns the subtree's new reference. Every new node is
    /// hashed exactly once, here; a subtree nothing really changes in is returned as it was.
    private func update(
        _ db: Database, _ current: TreeChild, depth: Int, changes: inout [Change], range: Range<Int>,
        plan: inout CommitPlan
    ) throws -> TreeChild {
        switch current {
        case .empty:
            var entries: [LeafEntry] = []
            for index in range {
                guard let valueHash = changes[index].valueHash else { continue }
                changes[index].effective = true
                entries.append((changes[index].keyHash, valueHash, plan.version))
            }
            return try build(entries[...], depth: depth, plan: &plan)

        case .leaf(let leafKey, let leafValue, let leafVersion, _):
            var entries: [LeafEntry] = []
            var overridden = false
            for index in range {
                let change = changes[index]
                if change.keyHash == leafKey {
                    overridden = true
                    if change.valueHash == leafValue {
                        // Re-setting the current value: the leaf, and its value row, stay as they are.
                        entries.append((leafKey, leafValue, leafVersion))
                        continue
                    }
                    changes[index].effective = true
                    changes[index].previous = leafVersion
                } else {
                    changes[index].effective = change.valueHash != nil
                }
                if let valueHash = change.valueHash { entries.append((change.keyHash, valueHash, plan.version)) }
            }
            if !overridden {
                let position = entries.firstIndex { leafKey < $0.keyHash } ?? entries.endIndex
                entries.insert((leafKey, leafValue, leafVersion), at: position)
            }
            if entries.count == 1, entries[0].keyHash == leafKey, entries[0].version == leafVersion {
                return current
            }
            return try build(entries[...], depth: depth, plan: &plan)

        case .node(let id, _):
            var children = try node(db, id, depth: depth, remember: true).children
            var changed = false
            var start = range.lowerBound
            while start < range.upperBound {
                let nibble = changes[start].keyHash.nibble(at: depth)
                var end = start + 1
                while end < range.upperBound, changes[end].keyHash.nibble(at: depth) == nibble {
                    end += 1
                }
                let old = children[nibble]
                let new = try update(db, old, depth: depth + 1, changes: &changes, range: start..<end, plan: &plan)
                if new != old {
                    children[nibble] = new
                    changed = true
                }
                start = end
            }
            guard changed else { return current }
            plan.staleNodes.append(id)
            return finish(children, depth: depth, plan: &plan)
        }
    }

    /// The subtree holding exactly `entries` (sorted by key hash, sharing `depth` nibbles), built fresh.
    private func build(
        _ entries: ArraySlice<LeafEntry>, depth: Int, plan: inout CommitPlan
    ) throws -> TreeChild {
        guard let first = entries.first else { return .empty }
        if entries.count == 1 {
            return .leaf(keyHash: first.keyHash, valueHash: first.valueHash, version: first.version)
        }
        guard depth < 64 else {
            throw StorageError.corrupted(
                path: location, detail: "two keys with the same SHA-256 \(first.keyHash.hash)")
        }
        var children = [TreeChild](repeating: .empty, count: StateCommitment.radix)
        var start = entries.startIndex
        while start < entries.endIndex {
            let nibble = entries[start].keyHash.nibble(at: depth)
            var end = start + 1
            while end < entries.endIndex, entries[end].keyHash.nibble(at: depth) == nibble {
                end += 1
            }
            children[nibble] = try build(entries[start..<end], depth: depth + 1, plan: &plan)
            start = end
        }
        return finish(children, depth: depth, plan: &plan)
    }

    /// Turns a node's new children into its reference: nothing left → empty; a lone leaf moves up
    /// (shortcut); otherwise a new node row with a fresh id, hashed here once.
    private func finish(_ children: [TreeChild], depth: Int, plan: inout CommitPlan) -> TreeChild {
        var count = 0
        var lone = TreeChild.empty
        for child in children where !child.isEmpty {
            count += 1
            lone = child
        }
        if count == 0 { return .empty }
        if count == 1, case .leaf = lone { return lone }
        let node = TreeNode(children: children, depth: depth)
        let id = plan.nextNodeID
        plan.nextNodeID += 1
        plan.newNodes.append((id, node))
        return .node(id: id, hash: node.digest)
    }
}
