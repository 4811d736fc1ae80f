import Foundation
import GRDB
import GonkaCore

extension AuthenticatedStore {
    /// One staged write, with its place in the tree.
    struct Change {
        let key: [UInt8]
        let keyHash: Hash
        /// `nil` for a delete.
        let value: [UInt8]?
        let valueHash: Hash?
        /// Whether it changes the state (a set to the current value or a delete of a missing key
        /// does not, and writes no history row).
        var effective = false
    }

    /// What one commit writes.
    struct CommitPlan {
        let version: UInt64
        var newNodes: [(key: NodeKey, node: TreeNode)] = []
        var staleNodes: [NodeKey] = []
    }

    /// Atomically writes the staged changes as `version` and returns the new root.
    ///
    /// `version` must exceed ``latestVersion`` (any version for a fresh store) and fit `Int64`.
    /// On any error nothing is written and the staged changes are kept.
    public func commit(version: UInt64) throws -> Hash {
        guard version <= UInt64(Int64.max) else { throw StorageError.versionOutOfRange(version) }
        if let latest = latestVersion, version <= latest {
            throw StorageError.versionNotIncreasing(version: version, latest: latest)
        }
        var changes = staged.map { key, write -> Change in
            switch write {
            case .set(let value):
                Change(
                    key: key, keyHash: StateCommitment.keyHash(key), value: value,
                    valueHash: StateCommitment.valueHash(value))
            case .delete:
                Change(key: key, keyHash: StateCommitment.keyHash(key), value: nil, valueHash: nil)
            }
        }
        changes.sort { $0.keyHash < $1.keyHash }
        var plan = CommitPlan(version: version)
        let previousRoot = rootRef
        let newRoot = try transaction { db -> TreeChild in
            let newRoot = try self.update(
                db, previousRoot, path: [], changes: &changes, range: changes.startIndex..<changes.endIndex, plan: &plan
            )
            try self.write(db, plan: plan, changes: changes, root: newRoot)
            return newRoot
        }
        // Durable: now the in-memory view may move on.
        for key in plan.staleNodes { cache[key] = nil }
        for (key, node) in plan.newNodes { rememberNode(node, at: key) }
        rootRef = newRoot
        root = newRoot.hash
        latestVersion = version
        staged.removeAll()
        return root
    }

    private func write(_ db: Database, plan: CommitPlan, changes: [Change], root: TreeChild) throws {
        let version = Int64(plan.version)
        let insertNode = try db.cachedStatement(sql: SQL.insertNode)
        for (key, node) in plan.newNodes {
            try insertNode.execute(arguments: [version, Data(key.path), Data(node.encoded())])
        }
        let insertStale = try db.cachedStatement(sql: SQL.insertStale)
        for key in plan.staleNodes {
            try insertStale.execute(arguments: [version, Int64(key.version), Data(key.path)])
        }
        let insertValue = try db.cachedStatement(sql: SQL.insertValue)
        let insertDelete = try db.cachedStatement(sql: SQL.insertDelete)
        for change in changes where change.effective {
            if let value = change.value {
                try insertValue.execute(arguments: [Data(change.key), version, Data(value)])
            } else {
                try insertDelete.execute(arguments: [Data(change.key), version])
            }
        }
        try db.cachedStatement(sql: SQL.insertRoot).execute(
            arguments: [version, Data(root.hash.bytes), Data(root.encodedRef())])
        try db.cachedStatement(sql: SQL.updateLatest).execute(arguments: [version])
    }

    /// Applies `changes[range]` (sorted by key hash, all sharing the first `path.count` nibbles) to
    /// the subtree `current` at `path`, and returns the subtree's new reference. Every new node is
    /// hashed exactly once, here; a subtree nothing really changes in is returned as it was.
    private func update(
        _ db: Database, _ current: TreeChild, path: [UInt8], changes: inout [Change], range: Range<Int>,
        plan: inout CommitPlan
    ) throws -> TreeChild {
        switch current {
        case .empty:
            var entries: [(keyHash: Hash, valueHash: Hash)] = []
            for index in range {
                guard let valueHash = changes[index].valueHash else { continue }
                changes[index].effective = true
                entries.append((changes[index].keyHash, valueHash))
            }
            return try build(entries[...], path: path, plan: &plan)

        case .leaf(let leafKey, let leafValue, _):
            var entries: [(keyHash: Hash, valueHash: Hash)] = []
            var overridden = false
            for index in range {
                let change = changes[index]
                if change.keyHash == leafKey {
                    overridden = true
                    changes[index].effective = change.valueHash != leafValue
                } else {
                    changes[index].effective = change.valueHash != nil
                }
                if let valueHash = change.valueHash { entries.append((change.keyHash, valueHash)) }
            }
            if !overridden {
                let position = entries.firstIndex { leafKey < $0.keyHash } ?? entries.endIndex
                entries.insert((leafKey, leafValue), at: position)
            }
            if entries.count == 1, entries[0].keyHash == leafKey, entries[0].valueHash == leafValue {
                return current
            }
            return try build(entries[...], path: path, plan: &plan)

        case .node(let version, _):
            let key = NodeKey(version: version, path: path)
            var children = try node(db, key, remember: true).children
            var changed = false
            var start = range.lowerBound
            while start < range.upperBound {
                let nibble = StateCommitment.nibble(of: changes[start].keyHash, at: path.count)
                var end = start + 1
                while end < range.upperBound, StateCommitment.nibble(of: changes[end].keyHash, at: path.count) == nibble
                {
                    end += 1
                }
                let old = children[nibble]
                let new = try update(
                    db, old, path: path + [UInt8(nibble)], changes: &changes, range: start..<end, plan: &plan)
                if new != old {
                    children[nibble] = new
                    changed = true
                }
                start = end
            }
            guard changed else { return current }
            plan.staleNodes.append(key)
            return finish(children, path: path, plan: &plan)
        }
    }

    /// The subtree holding exactly `entries` (sorted by key hash, sharing `path`), built fresh.
    private func build(
        _ entries: ArraySlice<(keyHash: Hash, valueHash: Hash)>, path: [UInt8], plan: inout CommitPlan
    ) throws -> TreeChild {
        guard let first = entries.first else { return .empty }
        if entries.count == 1 { return .leaf(keyHash: first.keyHash, valueHash: first.valueHash) }
        guard path.count < 64 else {
            throw StorageError.corrupted(path: location, detail: "two keys with the same SHA-256 \(first.keyHash)")
        }
        var children = [TreeChild](repeating: .empty, count: StateCommitment.radix)
        var start = entries.startIndex
        while start < entries.endIndex {
            let nibble = StateCommitment.nibble(of: entries[start].keyHash, at: path.count)
            var end = start + 1
            while end < entries.endIndex, StateCommitment.nibble(of: entries[end].keyHash, at: path.count) == nibble {
                end += 1
            }
            children[nibble] = try build(entries[start..<end], path: path + [UInt8(nibble)], plan: &plan)
            start = end
        }
        return finish(children, path: path, plan: &plan)
    }

    /// Turns a node's new children into its reference: nothing left → empty; a lone leaf moves up
    /// (shortcut); otherwise a new node row at `(commit version, path)`.
    private func finish(_ children: [TreeChild], path: [UInt8], plan: inout CommitPlan) -> TreeChild {
        var count = 0
        var lone = TreeChild.empty
        for child in children where !child.isEmpty {
            count += 1
            lone = child
        }
        if count == 0 { return .empty }
        if count == 1, case .leaf = lone { return lone }
        let node = TreeNode(children: children)
        plan.newNodes.append((NodeKey(version: plan.version, path: path), node))
        return .node(version: plan.version, hash: node.hash)
    }
}
