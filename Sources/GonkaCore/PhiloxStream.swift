/// A seekable stream of 32-bit words from Philox4x32-10, keyed by a SHA-256 hash: the portable
/// randomness of PROTOCOL §2 (PoC weights and inputs §5.1–5.2, permutations §5.2, executor draws
/// §6.2). Every node that knows the seed string computes the same stream, on any platform.
///
/// ## Layout (part of the protocol; never change it)
/// Let `h[0..<32]` be the seed hash (`SHA-256` of the seed string) and `le32(bytes)` a 4-byte
/// little-endian read.
/// * **Key:** `(le32(h[0..<4]), le32(h[4..<8]))`.
/// * **Counter:** words 0–1 are the block index `b` (word 0 = low 32 bits, word 1 = high 32 bits),
///   words 2–3 are `(le32(h[8..<12]), le32(h[12..<16]))`. Bytes `h[16..<32]` are not used.
///   (Meant as the split of cuRAND's `curand_init(seed, subsequence, offset)`: key = seed, counter
///   words 2–3 = subsequence, words 0–1 = offset / 4; not yet checked against cuRAND itself.)
/// * **Words:** the stream position `p` (0, 1, 2, …) is word `p mod 4` of block `p / 4`, i.e. the
///   stream is `block(0)[0], block(0)[1], block(0)[2], block(0)[3], block(1)[0], …`.
///
/// ## Draws
/// * `nextUInt32()`: one word.
/// * `nextUInt64()`: two consecutive words, the **first is the low half**:
///   `UInt64(w[p]) | UInt64(w[p+1]) << 32` (the stream read as little-endian bytes).
/// * `nextUniformFloat()`: one word, `Float(w >> 8) × 2⁻²⁴` (``Philox/uniformFloat(_:)``).
/// * `nextNormal()`: four consecutive words, ``Philox/normal(_:)``. From a position that is a
///   multiple of 4, normal `k` is exactly block `k`: a pool of normals can be sliced and filled in
///   parallel by starting streams at `position = 4 × k`.
///
/// Draws never look at the position's alignment: a `nextUInt64()` may span two blocks.
/// Positions count words modulo 2⁶⁴.
public struct PhiloxStream: Sendable, DeterministicRandomSource {
    /// The Philox key (from hash bytes 0..<8).
    public let key: SIMD2<UInt32>
    /// Counter words 2 and 3, fixed for the stream (from hash bytes 8..<16).
    public let counterHigh: SIMD2<UInt32>
    /// The index of the next word to be drawn.
    public private(set) var position: UInt64

    private var cachedBlockIndex: UInt64 = .max  // block indices never exceed 2⁶² − 1
    private var cachedBlock: SIMD4<UInt32> = .zero

    /// The stream of `seed` (a SHA-256 hash), starting at word `position`.
    public init(seed: Hash, position: UInt64 = 0) {
        let h = seed.bytes
        func le32(_ offset: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 | UInt32(h[offset + $1]) << (8 * $1) }
        }
        self.init(key: SIMD2(le32(0), le32(4)), counterHigh: SIMD2(le32(8), le32(12)), position: position)
    }

    /// The stream keyed by SHA-256 of the UTF-8 `seedString` (e.g. `"{H}/pool"`), from `position`.
    public init(seedString: String, position: UInt64 = 0) {
        self.init(seed: Hash.sha256(seedString), position: position)
    }

    /// A stream from raw Philox parameters.
    public init(key: SIMD2<UInt32>, counterHigh: SIMD2<UInt32>, position: UInt64 = 0) {
        self.key = key
        self.counterHigh = counterHigh
        self.position = position
    }

    /// Block `index` of this stream: words `4 × index ..< 4 × index + 4`.
    public func block(at index: UInt64) -> SIMD4<UInt32> {
        let low = UInt32(truncatingIfNeeded: index)
        let high = UInt32(truncatingIfNeeded: index >> 32)
        return Philox.block(counter: SIMD4(low, high, counterHigh[0], counterHigh[1]), key: key)
    }

    /// Moves to word `position` (random access: nothing before it is computed).
    public mutating func seek(to position: UInt64) {
        self.position = position
    }

    /// Skips `count` words.
    public mutating func skip(words count: UInt64) {
        position &+= count
    }

    /// The next word.
    public mutating func nextUInt32() -> UInt32 {
        let index = position >> 2
        if index != cachedBlockIndex {
            cachedBlock = block(at: index)
            cachedBlockIndex = index
        }
        let word = cachedBlock[Int(truncatingIfNeeded: position & 3)]
        position &+= 1
        return word
    }

    /// The next two words as one `UInt64`, the first word in the low half.
    public mutating func nextUInt64() -> UInt64 {
        let low = nextUInt32()
        let high = nextUInt32()
        return UInt64(low) | UInt64(high) << 32
    }

    /// A uniform float in [0, 1) with 24-bit granularity from the next word.
    public mutating func nextUniformFloat() -> Float {
        Philox.uniformFloat(nextUInt32())
    }

    /// A PoC normal from the next four words.
    public mutating func nextNormal() -> Float {
        let u1 = nextUniformFloat()
        let u2 = nextUniformFloat()
        let u3 = nextUniformFloat()
        let u4 = nextUniformFloat()
        return Philox.normal(u1, u2, u3, u4)
    }

    /// Fills `buffer` with the next `buffer.count` normals: the same values as that many
    /// `nextNormal()` calls, computed a whole block at a time when the position is block-aligned.
    public mutating func fillNormals(into buffer: UnsafeMutableBufferPointer<Float>) {
        guard position & 3 == 0 else {
            for i in buffer.indices { buffer[i] = nextNormal() }
            return
        }
        var index = position >> 2
        for i in buffer.indices {
            buffer[i] = Philox.normal(block(at: index))
            index &+= 1
        }
        position &+= UInt64(buffer.count) &* 4
    }

    /// The next `count` normals.
    public mutating func fill(normals count: Int) -> [Float] {
        let count = Swift.max(count, 0)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            fillNormals(into: UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            initialized = count
        }
    }
}
