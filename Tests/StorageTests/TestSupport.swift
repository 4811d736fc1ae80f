import Foundation
import GonkaCore

/// An independent, deliberately naive computation of the state root: the binary sparse Merkle tree
/// with shortcut leaves, built bit by bit from the set of entries. The store's 16-ary tree must
/// agree with it on every state.
enum ReferenceTree {
    static func root(of state: [[UInt8]: [UInt8]]) -> Hash {
        let leaves = state.map { (StateCommitment.keyHash($0.key), StateCommitment.valueHash($0.value)) }
        return subtree(leaves, depth: 0)
    }

    private static func subtree(_ leaves: [(Hash, Hash)], depth: Int) -> Hash {
        if leaves.isEmpty { return StateCommitment.emptyRoot }
        if leaves.count == 1 { return StateCommitment.leafHash(keyHash: leaves[0].0, valueHash: leaves[0].1) }
        let left = leaves.filter { StateCommitment.bit(of: $0.0, at: depth) == 0 }
        let right = leaves.filter { StateCommitment.bit(of: $0.0, at: depth) == 1 }
        return StateCommitment.internalHash(
            left: subtree(left, depth: depth + 1), right: subtree(right, depth: depth + 1))
    }
}

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("storage-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String {
        url.appendingPathComponent(name).path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}
