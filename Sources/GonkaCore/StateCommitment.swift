import Crypto

/// The hashing rules of the state tree (PROTOCOL §3.3) and the stand-alone proof verifier a light
/// client needs: no SQLite, no I/O, no clock.
///
/// **The tree.** State is a map `key → value`. Each entry lives at the path `SHA-256(key)` read
/// most-significant bit first. Logically the commitment is a *binary* sparse Merkle tree with
/// shortcut leaves: an entry sits at the shortest prefix of its key hash that no other entry shares,
/// and an empty subtree hashes to ``emptyRoot``:
///
/// * empty subtree: 32 zero bytes (`Hash.zero`);
/// * leaf: `SHA-256(0x00 ‖ SHA-256(key) ‖ SHA-256(value))`;
/// * internal: `SHA-256(0x01 ‖ left ‖ right)`.
///
/// A subtree holding exactly one entry hashes to that entry's leaf hash (the leaf is "pulled up"), so
/// the root depends only on the set of entries, never on the order they were written in.
///
/// Storage keeps the same tree Jellyfish-style: 16-ary nodes, one per nibble of the key hash, whose
/// hash is the binary Merkle root of their 16 slots (``nodeHash(_:)``). Proofs therefore stay binary
/// (one sibling per bit, typically ~log2(n) of them) while the store touches only ~log16(n) nodes.
public enum StateCommitment {
    /// Children of one stored node: one per nibble.
    public static let radix = 16
    /// Bits in a key hash: the greatest depth a proof can have.
    public static let maxDepth = 256
    /// The hash of an empty subtree, and so the root of an empty state.
    public static let emptyRoot = Hash.zero

    static let leafDomain: UInt8 = 0x00
    static let internalDomain: UInt8 = 0x01

    /// `SHA-256(key)`: where the entry lives in the tree.
    public static func keyHash(_ key: some Collection<UInt8>) -> Hash {
        digest(key)
    }

    /// `SHA-256(value)`: what a leaf commits to.
    public static func valueHash(_ value: some Collection<UInt8>) -> Hash {
        digest(value)
    }

    /// `SHA-256(0x00 ‖ keyHash ‖ valueHash)`.
    public static func leafHash(keyHash: Hash, valueHash: Hash) -> Hash {
        digest(leafDomain, keyHash, valueHash)
    }

    /// `SHA-256(0x01 ‖ left ‖ right)`.
    public static func internalHash(left: Hash, right: Hash) -> Hash {
        digest(internalDomain, left, right)
    }

    /// Bit `index` (0 = most significant bit of byte 0) of a key hash, as 0 or 1.
    public static func bit(of hash: Hash, at index: Int) -> Int {
        Int(hash.bytes[index >> 3] >> (7 - UInt8(index & 7))) & 1
    }

    /// Nibble `index` (0 = high nibble of byte 0) of a key hash: the child slot at node depth `index`.
    public static func nibble(of hash: Hash, at index: Int) -> Int {
        let byte = hash.bytes[index >> 1]
        return Int(index & 1 == 0 ? byte >> 4 : byte & 0x0F)
    }

    /// Whether the first `bits` bits of two hashes agree.
    public static func sharePrefix(_ a: Hash, _ b: Hash, bits: Int) -> Bool {
        let whole = bits >> 3
        for index in 0..<whole where a.bytes[index] != b.bytes[index] { return false }
        let rest = bits & 7
        guard rest > 0 else { return true }
        let mask = UInt8(0xFF) << (8 - UInt8(rest))
        return a.bytes[whole] & mask == b.bytes[whole] & mask
    }

    // MARK: 16-ary nodes

    /// One slot of a 16-ary node, as far as hashing is concerned.
    public enum Slot: Hashable, Sendable {
        case empty
        /// A single entry, with its leaf hash.
        case leaf(Hash)
        /// A child node, with its hash.
        case node(Hash)
    }

    /// The hash of a 16-ary node: the binary Merkle root over its 16 slots, with the shortcut rule
    /// (a range holding a single leaf and nothing else hashes to that leaf). `slots` must have 16
    /// entries.
    public static func nodeHash(_ slots: [Slot]) -> Hash {
        precondition(slots.count == radix, "a node has 16 slots")
        return rangeHash(slots, low: 0, width: radix)
    }

    /// Where the path of one nibble ends inside a node.
    public enum PathEnd: Hashable, Sendable {
        /// The range the nibble falls into is empty.
        case empty
        /// The range holds a single leaf, in `slot` (it may be a different key's leaf).
        case leaf(slot: Int)
        /// The path continues into the child node in `slot`.
        case node(slot: Int)
    }

    /// The binary siblings (top first) met when walking from the node's top down toward slot
    /// `nibble`, and where that walk ends. This is how a store turns its 16-ary nodes into a binary
    /// ``StateProof``.
    public static func nodePath(_ slots: [Slot], nibble: Int) -> (siblings: [Hash], end: PathEnd) {
        precondition(slots.count == radix && (0..<radix).contains(nibble), "a node has 16 slots")
        var siblings: [Hash] = []
        var low = 0
        var width = radix
        while true {
            switch classify(slots, low: low, width: width) {
            case .none: return (siblings, .empty)
            case .leaf(let slot): return (siblings, .leaf(slot: slot))
            case .node(let slot) where width == 1: return (siblings, .node(slot: slot))
            case .node, .many: break
            }
            let half = width / 2
            if nibble >= low + half {
                siblings.append(rangeHash(slots, low: low, width: half))
                low += half
            } else {
                siblings.append(rangeHash(slots, low: low + half, width: half))
            }
            width = half
        }
    }

    private enum RangeContent {
        case none
        case leaf(Int)
        case node(Int)
        case many
    }

    private static func classify(_ slots: [Slot], low: Int, width: Int) -> RangeContent {
        var content = RangeContent.none
        for index in low..<(low + width) {
            switch slots[index] {
            case .empty: continue
            case .leaf:
                if case .none = content { content = .leaf(index) } else { return .many }
            case .node:
                if case .none = content { content = .node(index) } else { return .many }
            }
        }
        return content
    }

    private static func rangeHash(_ slots: [Slot], low: Int, width: Int) -> Hash {
        switch classify(slots, low: low, width: width) {
        case .none:
            return emptyRoot
        case .leaf(let index):
            if case .leaf(let hash) = slots[index] { return hash }
        case .node(let index) where width == 1:
            if case .node(let hash) = slots[index] { return hash }
        case .node, .many:
            break
        }
        let half = width / 2
        return internalHash(
            left: rangeHash(slots, low: low, width: half), right: rangeHash(slots, low: low + half, width: half))
    }

    // MARK: Verification

    /// Checks `proof` for `key` against `root`.
    ///
    /// With a `value`, the proof must show the leaf `(SHA-256(key), SHA-256(value))`. With `nil`, it
    /// must show that the key is absent: the walk down `SHA-256(key)` ends at an empty subtree, or
    /// at the leaf of another key whose hash shares the walked prefix (that subtree holds nothing
    /// else). Never throws, never traps: any malformed proof is simply `false`.
    public static func verify(_ proof: StateProof, key: some Collection<UInt8>, value: [UInt8]?, root: Hash) -> Bool {
        guard proof.siblings.count <= maxDepth else { return false }
        let path = keyHash(key)
        let depth = proof.siblings.count
        var current: Hash
        switch (value, proof.leaf) {
        case (let value?, let leaf?):
            guard leaf.keyHash == path, leaf.valueHash == valueHash(value) else { return false }
            current = leafHash(keyHash: leaf.keyHash, valueHash: leaf.valueHash)
        case (.some, nil):
            return false
        case (nil, let leaf?):
            guard leaf.keyHash != path, sharePrefix(leaf.keyHash, path, bits: depth) else { return false }
            current = leafHash(keyHash: leaf.keyHash, valueHash: leaf.valueHash)
        case (nil, nil):
            current = emptyRoot
        }
        for level in stride(from: depth - 1, through: 0, by: -1) {
            let sibling = proof.siblings[level]
            current =
                bit(of: path, at: level) == 0
                ? internalHash(left: current, right: sibling) : internalHash(left: sibling, right: current)
        }
        return current == root
    }

    // MARK: Hashing

    private static func digest(_ data: some Collection<UInt8>) -> Hash {
        var hasher = SHA256()
        let done: Void? = data.withContiguousStorageIfAvailable {
            hasher.update(bufferPointer: UnsafeRawBufferPointer($0))
        }
        if done == nil { hasher.update(data: Array(data)) }
        return finish(hasher)
    }

    private static func digest(_ domain: UInt8, _ a: Hash, _ b: Hash) -> Hash {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65) { buffer in
            buffer[0] = domain
            a.bytes.withUnsafeBufferPointer { source in
                for index in 0..<32 { buffer[1 + index] = source[index] }
            }
            b.bytes.withUnsafeBufferPointer { source in
                for index in 0..<32 { buffer[33 + index] = source[index] }
            }
            var hasher = SHA256()
            hasher.update(bufferPointer: UnsafeRawBufferPointer(buffer))
            return finish(hasher)
        }
    }

    private static func finish(_ hasher: SHA256) -> Hash {
        hasher.finalize().withUnsafeBytes { Hash(unchecked: Array($0)) }
    }
}

/// A proof that a key has a given value, or has none, in the state committed by a root
/// (PROTOCOL §3.3). Check it with ``StateCommitment/verify(_:key:value:root:)``.
///
/// `siblings[i]` is the sibling met at bit depth `i + 1` of the walk down `SHA-256(key)` (top first);
/// the walk ends at `leaf`, or at an empty subtree when `leaf` is `nil`. JSON form:
/// `{"siblings": ["<hex>", …], "leaf": {"keyHash": "<hex>", "valueHash": "<hex>"}}`.
public struct StateProof: Hashable, Sendable, Codable {
    /// The leaf a walk ends at: the proven key's own, or (in a proof of absence) another key's.
    public struct Leaf: Hashable, Sendable, Codable {
        public var keyHash: Hash
        public var valueHash: Hash

        public init(keyHash: Hash, valueHash: Hash) {
            self.keyHash = keyHash
            self.valueHash = valueHash
        }
    }

    public var siblings: [Hash]
    public var leaf: Leaf?

    public init(siblings: [Hash], leaf: Leaf?) {
        self.siblings = siblings
        self.leaf = leaf
    }

    /// Format byte of ``serialized()``.
    static let formatVersion: UInt8 = 1

    /// Compact binary form: `0x01` (format) ‖ kind (0 = ends empty, 1 = ends at a leaf) ‖
    /// depth (UInt16 big-endian, ≤ 256) ‖ a bitmap of ⌈depth/8⌉ bytes (bit i, MSB first, set when
    /// sibling i is not the empty hash) ‖ the non-empty siblings ‖ for a leaf: keyHash ‖ valueHash.
    /// The encoding is canonical: every proof has exactly one.
    public func serialized() -> [UInt8] {
        let depth = siblings.count
        var out: [UInt8] = [
            Self.formatVersion, leaf == nil ? 0 : 1, UInt8(truncatingIfNeeded: depth >> 8),
            UInt8(truncatingIfNeeded: depth),
        ]
        var bitmap = [UInt8](repeating: 0, count: (depth + 7) / 8)
        for (index, sibling) in siblings.enumerated() where sibling != StateCommitment.emptyRoot {
            bitmap[index >> 3] |= 0x80 >> UInt8(index & 7)
        }
        out.append(contentsOf: bitmap)
        for sibling in siblings where sibling != StateCommitment.emptyRoot {
            out.append(contentsOf: sibling.bytes)
        }
        if let leaf {
            out.append(contentsOf: leaf.keyHash.bytes)
            out.append(contentsOf: leaf.valueHash.bytes)
        }
        return out
    }

    /// Parses ``serialized()`` strictly: wrong format byte, bad kind, depth over 256, set padding
    /// bits, an explicit all-zero sibling, truncation or trailing bytes all throw.
    public init(serialized bytes: some Collection<UInt8>) throws(StateProofError) {
        let data = Array(bytes)
        guard data.count >= 4 else { throw .truncated }
        guard data[0] == Self.formatVersion else { throw .unsupportedFormat(data[0]) }
        guard data[1] <= 1 else { throw .badKind(data[1]) }
        let depth = Int(data[2]) << 8 | Int(data[3])
        guard depth <= StateCommitment.maxDepth else { throw .tooDeep(depth) }
        var offset = 4
        let bitmapCount = (depth + 7) / 8
        guard data.count >= offset + bitmapCount else { throw .truncated }
        let bitmap = Array(data[offset..<(offset + bitmapCount)])
        offset += bitmapCount
        if depth & 7 != 0, bitmap[bitmapCount - 1] & (0xFF >> UInt8(depth & 7)) != 0 { throw .nonCanonical }
        var siblings: [Hash] = []
        siblings.reserveCapacity(depth)
        for index in 0..<depth {
            if bitmap[index >> 3] & (0x80 >> UInt8(index & 7)) == 0 {
                siblings.append(StateCommitment.emptyRoot)
                continue
            }
            guard data.count >= offset + 32 else { throw .truncated }
            let sibling = Hash(unchecked: Array(data[offset..<(offset + 32)]))
            guard sibling != StateCommitment.emptyRoot else { throw .nonCanonical }
            siblings.append(sibling)
            offset += 32
        }
        var leaf: Leaf?
        if data[1] == 1 {
            guard data.count >= offset + 64 else { throw .truncated }
            leaf = Leaf(
                keyHash: Hash(unchecked: Array(data[offset..<(offset + 32)])),
                valueHash: Hash(unchecked: Array(data[(offset + 32)..<(offset + 64)])))
            offset += 64
        }
        guard offset == data.count else { throw .trailingBytes(data.count - offset) }
        self.init(siblings: siblings, leaf: leaf)
    }
}

/// Why bytes are not a ``StateProof``.
public struct StateProofError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case truncated
        case unsupportedFormat(UInt8)
        case badKind(UInt8)
        case tooDeep(Int)
        case nonCanonical
        case trailingBytes(Int)
    }

    private let code: Code

    public static let truncated = Self(code: .truncated)
    public static let nonCanonical = Self(code: .nonCanonical)
    public static func unsupportedFormat(_ byte: UInt8) -> Self { Self(code: .unsupportedFormat(byte)) }
    public static func badKind(_ byte: UInt8) -> Self { Self(code: .badKind(byte)) }
    public static func tooDeep(_ depth: Int) -> Self { Self(code: .tooDeep(depth)) }
    public static func trailingBytes(_ count: Int) -> Self { Self(code: .trailingBytes(count)) }

    /// A label without data, safe for metrics.
    public var shortDescription: String {
        switch code {
        case .truncated: "truncated"
        case .unsupportedFormat: "unsupported_format"
        case .badKind: "bad_kind"
        case .tooDeep: "too_deep"
        case .nonCanonical: "non_canonical"
        case .trailingBytes: "trailing_bytes"
        }
    }

    public var description: String {
        switch code {
        case .truncated: "state proof: truncated"
        case .unsupportedFormat(let byte): "state proof: unsupported format \(byte) (expected 1)"
        case .badKind(let byte): "state proof: bad end kind \(byte) (expected 0 or 1)"
        case .tooDeep(let depth): "state proof: depth \(depth) exceeds 256"
        case .nonCanonical: "state proof: non-canonical encoding (padding bits or an explicit empty sibling)"
        case .trailingBytes(let count): "state proof: \(count) trailing bytes"
        }
    }
}
