import Foundation
import GonkaCore

typealias Digest = StateCommitment.Digest

/// A slot of a stored 16-ary node, and also what a version's root is. Plain data (inline digests),
/// so copying nodes around costs no reference counting.
///
/// Leaves are not rows of their own: a leaf's `(keyHash, valueHash, version)` is kept inline in its
/// parent (or in the root row). That saves one row per update and one lookup per read, and costs 72
/// bytes in a node that is rewritten anyway when the leaf changes. `version` is the commit that
/// wrote the value: the value itself is the `vals` row `(version, key)`. It is storage bookkeeping,
/// not part of any hash.
enum TreeChild: Equatable {
    case empty
    case leaf(keyHash: Digest, valueHash: Digest, version: UInt64, hash: Digest)
    /// A child node, stored under its node id.
    case node(id: UInt64, hash: Digest)

    static func leaf(keyHash: Digest, valueHash: Digest, version: UInt64) -> TreeChild {
        .leaf(
            keyHash: keyHash, valueHash: valueHash, version: version,
            hash: StateCommitment.leafDigest(keyHash: keyHash, valueHash: valueHash))
    }

    /// The subtree's hash (the empty hash for `.empty`).
    var digest: Digest {
        switch self {
        case .empty: .zero
        case .leaf(_, _, _, let hash), .node(_, let hash): hash
        }
    }

    var hash: Hash { digest.hash }

    var slot: StateCommitment.Slot {
        switch self {
        case .empty: .empty
        case .leaf(_, _, _, let hash): .leaf(hash)
        case .node(_, let hash): .node(hash)
        }
    }

    var isEmpty: Bool {
        if case .empty = self { return true }
        return false
    }

    /// Root-row form: kind byte (0 empty, 1 leaf, 2 node) then keyHash ‖ valueHash ‖ version (8 bytes
    /// BE), or node id (8 bytes BE).
    func encodedRef() -> [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .empty:
            out.append(0)
        case .leaf(let keyHash, let valueHash, let version, _):
            out.append(1)
            keyHash.append(to: &out)
            valueHash.append(to: &out)
            appendBigEndian(version, to: &out)
        case .node(let id, _):
            out.append(2)
            appendBigEndian(id, to: &out)
        }
        return out
    }

    /// Decodes `encodedRef()`; a node reference takes its hash from the root row.
    static func decodeRef(_ bytes: [UInt8], hash: Digest) -> TreeChild? {
        guard let kind = bytes.first else { return nil }
        switch kind {
        case 0 where bytes.count == 1:
            return .empty
        case 1 where bytes.count == 73:
            guard let keyHash = Digest(bytes: bytes[1..<33]), let valueHash = Digest(bytes: bytes[33..<65]) else {
                return nil
            }
            return .leaf(keyHash: keyHash, valueHash: valueHash, version: readBigEndian(bytes, at: 65))
        case 2 where bytes.count == 9:
            return .node(id: readBigEndian(bytes, at: 1), hash: hash)
        default:
            return nil
        }
    }
}

/// A stored internal node: 16 slots, at least two non-empty or one non-empty child node (a node
/// whose only entry is a single leaf is never stored: the leaf moves up instead).
///
/// Kept sparse (a bitmap and the non-empty slots in order), because most nodes of a large tree are
/// near the bottom with two to four children: that keeps the node cache small.
struct TreeNode {
    /// Bit `i` set: slot `i` is not empty.
    private(set) var bitmap: UInt16
    /// The non-empty slots, in slot order.
    private(set) var present: [TreeChild]
    /// Nibble depth in the tree (not stored: known from the walk that reached the node). The cache
    /// uses it to keep the top levels.
    var depth: Int

    /// From all 16 slots.
    init(children: [TreeChild], depth: Int) {
        var bitmap: UInt16 = 0
        var present: [TreeChild] = []
        for (index, child) in children.enumerated() where !child.isEmpty {
            bitmap |= 1 << UInt16(index)
            present.append(child)
        }
        self.init(bitmap: bitmap, present: present, depth: depth)
    }

    private init(bitmap: UInt16, present: [TreeChild], depth: Int) {
        self.bitmap = bitmap
        self.present = present
        self.depth = depth
    }

    /// Slot `nibble`.
    subscript(nibble: Int) -> TreeChild {
        let bit: UInt16 = 1 << UInt16(nibble)
        guard bitmap & bit != 0 else { return .empty }
        return present[(bitmap & (bit &- 1)).nonzeroBitCount]
    }

    /// About what the node takes in the node cache: the non-empty slots, the array and struct
    /// headers and the dictionary slot (a full node ~1.8 KiB, a bottom node of 3 children ~0.4 KiB).
    var estimatedBytes: Int { 96 + present.count * MemoryLayout<TreeChild>.stride }

    /// All 16 slots.
    var children: [TreeChild] {
        (0..<StateCommitment.radix).map { self[$0] }
    }

    var digest: Digest {
        StateCommitment.nodeDigest(children.map(\.slot))
    }

    /// `present` bitmap (UInt16 BE, bit i = slot i) ‖ `leaf` bitmap ‖ per present slot in order:
    /// leaf → keyHash ‖ valueHash ‖ version (UInt64 BE); node → node id (UInt64 BE) ‖ hash.
    func encoded() -> Data {
        var leaves: UInt16 = 0
        var size = 4
        var rest = bitmap
        for child in present {
            let index = rest.trailingZeroBitCount
            rest &= rest &- 1
            switch child {
            case .empty: continue
            case .leaf:
                leaves |= 1 << UInt16(index)
                size += 72
            case .node:
                size += 40
            }
        }
        var data = Data(count: size)
        data.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: bitmap.bigEndian, toByteOffset: 0, as: UInt16.self)
            raw.storeBytes(of: leaves.bigEndian, toByteOffset: 2, as: UInt16.self)
            var offset = 4
            for child in present {
                switch child {
                case .empty:
                    continue
                case .leaf(let keyHash, let valueHash, let version, _):
                    keyHash.store(to: raw, at: offset)
                    valueHash.store(to: raw, at: offset + 32)
                    raw.storeBytes(of: version.bigEndian, toByteOffset: offset + 64, as: UInt64.self)
                    offset += 72
                case .node(let id, let hash):
                    raw.storeBytes(of: id.bigEndian, toByteOffset: offset, as: UInt64.self)
                    hash.store(to: raw, at: offset + 8)
                    offset += 40
                }
            }
        }
        return data
    }

    /// Decodes `encoded()`; `nil` when the bytes are not a well-formed node.
    init?(decoding data: Data, depth: Int) {
        var children: [TreeChild] = []
        var bitmap: UInt16 = 0
        let ok: Bool = data.withUnsafeBytes { raw in
            guard raw.count >= 4 else { return false }
            let present = UInt16(raw[0]) << 8 | UInt16(raw[1])
            let leaves = UInt16(raw[2]) << 8 | UInt16(raw[3])
            guard leaves & ~present == 0, present != 0 else { return false }
            bitmap = present
            children.reserveCapacity(present.nonzeroBitCount)
            var offset = 4
            for index in 0..<StateCommitment.radix where present & (1 << UInt16(index)) != 0 {
                if leaves & (1 << UInt16(index)) != 0 {
                    guard raw.count >= offset + 72 else { return false }
                    let keyHash = Digest(raw: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 32)]))
                    let valueHash = Digest(raw: UnsafeRawBufferPointer(rebasing: raw[(offset + 32)..<(offset + 64)]))
                    let version = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 64, as: UInt64.self))
                    children.append(.leaf(keyHash: keyHash, valueHash: valueHash, version: version))
                    offset += 72
                } else {
                    guard raw.count >= offset + 40 else { return false }
                    let id = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    let hash = Digest(raw: UnsafeRawBufferPointer(rebasing: raw[(offset + 8)..<(offset + 40)]))
                    children.append(.node(id: id, hash: hash))
                    offset += 40
                }
            }
            return offset == raw.count
        }
        guard ok else { return nil }
        self.init(bitmap: bitmap, present: children, depth: depth)
    }
}

func appendBigEndian(_ value: UInt64, to out: inout [UInt8]) {
    for shift in stride(from: 56, through: 0, by: -8) {
        out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
}

func readBigEndian(_ bytes: [UInt8], at offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for index in offset..<(offset + 8) {
        value = value << 8 | UInt64(bytes[index])
    }
    return value
}
