import GonkaCore

/// A slot of a stored 16-ary node, and also what a version's root is.
///
/// Leaves are not rows of their own: a leaf's `(keyHash, valueHash)` is kept inline in its parent
/// (or in the root row). That saves one row per update and one lookup per read, and costs 64 bytes
/// in a node that is rewritten anyway when the leaf changes.
enum TreeChild: Equatable {
    case empty
    case leaf(keyHash: Hash, valueHash: Hash, hash: Hash)
    /// A child node, stored under `(version, parent path + nibble)`.
    case node(version: UInt64, hash: Hash)

    static func leaf(keyHash: Hash, valueHash: Hash) -> TreeChild {
        .leaf(
            keyHash: keyHash, valueHash: valueHash,
            hash: StateCommitment.leafHash(keyHash: keyHash, valueHash: valueHash))
    }

    /// The subtree's hash (the empty hash for `.empty`).
    var hash: Hash {
        switch self {
        case .empty: StateCommitment.emptyRoot
        case .leaf(_, _, let hash), .node(_, let hash): hash
        }
    }

    var slot: StateCommitment.Slot {
        switch self {
        case .empty: .empty
        case .leaf(_, _, let hash): .leaf(hash)
        case .node(_, let hash): .node(hash)
        }
    }

    var isEmpty: Bool {
        if case .empty = self { return true }
        return false
    }

    /// Root-row form: kind byte (0 empty, 1 leaf, 2 node) then keyHash ‖ valueHash, or version (8 bytes BE).
    func encodedRef() -> [UInt8] {
        switch self {
        case .empty:
            return [0]
        case .leaf(let keyHash, let valueHash, _):
            return [1] + keyHash.bytes + valueHash.bytes
        case .node(let version, _):
            var out: [UInt8] = [2]
            appendBigEndian(version, to: &out)
            return out
        }
    }

    /// Decodes `encodedRef()`; a node reference takes its hash from the root row.
    static func decodeRef(_ bytes: [UInt8], hash: Hash) -> TreeChild? {
        guard let kind = bytes.first else { return nil }
        switch kind {
        case 0 where bytes.count == 1:
            return .empty
        case 1 where bytes.count == 65:
            guard let keyHash = Hash(bytes: bytes[1..<33]), let valueHash = Hash(bytes: bytes[33..<65]) else {
                return nil
            }
            return .leaf(keyHash: keyHash, valueHash: valueHash)
        case 2 where bytes.count == 9:
            return .node(version: readBigEndian(bytes, at: 1), hash: hash)
        default:
            return nil
        }
    }
}

/// Where a node is stored: the version that wrote it and its nibble path (one byte per nibble).
/// A rewritten node always gets the new version, so an old version's node is never overwritten and
/// an unchanged subtree is shared by every version that still points at it.
struct NodeKey: Hashable {
    var version: UInt64
    var path: [UInt8]
}

/// A stored internal node: 16 slots, at least two non-empty or one non-empty child node (a node
/// whose only entry is a single leaf is never stored: the leaf moves up instead).
struct TreeNode {
    var children: [TreeChild]

    init(children: [TreeChild]) {
        self.children = children
    }

    var hash: Hash {
        StateCommitment.nodeHash(children.map(\.slot))
    }

    /// `present` bitmap (UInt16 BE, bit i = slot i) ‖ `leaf` bitmap ‖ per present slot in order:
    /// leaf → keyHash ‖ valueHash; node → version (UInt64 BE) ‖ hash.
    func encoded() -> [UInt8] {
        var present: UInt16 = 0
        var leaves: UInt16 = 0
        var body: [UInt8] = []
        body.reserveCapacity(16 * 64)
        for (index, child) in children.enumerated() {
            switch child {
            case .empty:
                continue
            case .leaf(let keyHash, let valueHash, _):
                present |= 1 << UInt16(index)
                leaves |= 1 << UInt16(index)
                body.append(contentsOf: keyHash.bytes)
                body.append(contentsOf: valueHash.bytes)
            case .node(let version, let hash):
                present |= 1 << UInt16(index)
                appendBigEndian(version, to: &body)
                body.append(contentsOf: hash.bytes)
            }
        }
        return [UInt8(present >> 8), UInt8(present & 0xFF), UInt8(leaves >> 8), UInt8(leaves & 0xFF)] + body
    }

    /// Decodes `encoded()`; `nil` when the bytes are not a well-formed node.
    init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 4 else { return nil }
        let present = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let leaves = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        guard leaves & ~present == 0, present != 0 else { return nil }
        var children = [TreeChild](repeating: .empty, count: StateCommitment.radix)
        var offset = 4
        for index in 0..<StateCommitment.radix where present & (1 << UInt16(index)) != 0 {
            if leaves & (1 << UInt16(index)) != 0 {
                guard bytes.count >= offset + 64,
                    let keyHash = Hash(bytes: bytes[offset..<(offset + 32)]),
                    let valueHash = Hash(bytes: bytes[(offset + 32)..<(offset + 64)])
                else { return nil }
                children[index] = .leaf(keyHash: keyHash, valueHash: valueHash)
                offset += 64
            } else {
                guard bytes.count >= offset + 40, let hash = Hash(bytes: bytes[(offset + 8)..<(offset + 40)]) else {
                    return nil
                }
                children[index] = .node(version: readBigEndian(bytes, at: offset), hash: hash)
                offset += 40
            }
        }
        guard offset == bytes.count else { return nil }
        self.children = children
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
