import Foundation
import GonkaCore

/// SplitMix64: a tiny seeded generator, so every random test replays exactly from its seed.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform-enough in `0..<bound` (modulo bias is irrelevant for tests).
    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }

    mutating func chance(_ percent: Int) -> Bool {
        below(100) < percent
    }

    mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for index in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(index, below(index + 1))
        }
    }
}

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
