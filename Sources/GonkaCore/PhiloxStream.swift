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
    @inlinable public var position: UInt64 { storedPosition }
    @usableFromInline var storedPosition: UInt64

    // Internal and `@usableFromInline` so that the per-word draws inline into their callers
    // (PoC draws millions of words per second from other modules).
    @usableFromInline var cachedBlockIndex: UInt64 = .max  // block indices never exceed 2⁶² − 1
    @usableFromInline var cachedBlock: SIMD4<UInt32> = .zero

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
    @inlinable
    public init(key: SIMD2<UInt32>, counterHigh: SIMD2<UInt32>, position: UInt64 = 0) {
        self.key = key
        self.counterHigh = counterHigh
        self.storedPosition = position
    }

    /// Block `index` of this stream: words `4 × index ..< 4 × index + 4`.
    @inlinable
    public func block(at index: UInt64) -> SIMD4<UInt32> {
        let low = UInt32(truncatingIfNeeded: index)
        let high = UInt32(truncatingIfNeeded: index >> 32)
        return Philox.block(counter: SIMD4(low, high, counterHigh[0], counterHigh[1]), key: key)
    }

    /// Moves to word `position` (random access: nothing before it is computed).
    @inlinable
    public mutating func seek(to position: UInt64) {
        self.storedPosition = position
    }

    /// Skips `count` words.
    @inlinable
    public mutating func skip(words count: UInt64) {
        storedPosition &+= count
    }

    /// The next word.
    @inlinable
    public mutating func nextUInt32() -> UInt32 {
        let index = position >> 2
        if index != cachedBlockIndex {
            cachedBlock = block(at: index)
            cachedBlockIndex = index
        }
        let word = cachedBlock[Int(truncatingIfNeeded: position & 3)]
        storedPosition &+= 1
        return word
    }

    /// The next two words as one `UInt64`, the first word in the low half.
    @inlinable
    public mutating func nextUInt64() -> UInt64 {
        let low = nextUInt32()
        let high = nextUInt32()
        return UInt64(low) | UInt64(high) << 32
    }

    /// A uniform float in [0, 1) with 24-bit granularity from the next word.
    @inlinable
    public mutating func nextUniformFloat() -> Float {
        Philox.uniformFloat(nextUInt32())
    }

    /// A PoC normal from the next four words.
    @inlinable
    public mutating func nextNormal() -> Float {
        let u1 = nextUniformFloat()
        let u2 = nextUniformFloat()
        let u3 = nextUniformFloat()
        let u4 = nextUniformFloat()
        return Philox.normal(u1, u2, u3, u4)
    }

    /// Fills `buffer` with the next `buffer.count` normals: the same values as that many
    /// `nextNormal()` calls, computed a whole block at a time when the position is block-aligned.
    @inlinable
    public mutating func fillNormals(into buffer: UnsafeMutableBufferPointer<Float>) {
        guard position & 3 == 0 else {
            for i in buffer.indices { buffer[i] = nextNormal() }
            return
        }
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        var index = position >> 2
        var i = 0
        while i + 8 <= count {
            let normals = Philox.normals8(Philox.blocks8(index: index, counterHigh: counterHigh, key: key))
            UnsafeMutableRawPointer(base + i).storeBytes(of: normals, as: SIMD8<Float>.self)
            index &+= 8
            i += 8
        }
        while i < count {
            base[i] = Philox.normal(block(at: index))
            index &+= 1
            i += 1
        }
        storedPosition &+= UInt64(count) &* 4
    }

    /// Writes into `buffer` the permutation of `0..<buffer.count` that
    /// ``DeterministicRandomSource/permutation(count:)`` draws from this stream (the same draws,
    /// the same result, the stream left at the same position), without its generic calls or
    /// allocation: the words come eight blocks at a time, and the rejection threshold of
    /// `uniformInt(below:)` is computed only for draws that could be rejected.
    /// - Precondition: `buffer.count ≤ Int32.max`.
    @inlinable
    public mutating func fillPermutation(into buffer: UnsafeMutableBufferPointer<Int32>) {
        let n = buffer.count
        precondition(n <= Int(Int32.max), "fillPermutation(into:) needs at most Int32.max elements")
        guard let out = buffer.baseAddress else { return }
        for i in 0..<n { out[i] = Int32(truncatingIfNeeded: i) }
        guard n > 1 else { return }
        guard position & 3 == 0 else {
            // Unaligned: the plain draw (never the case for PoC's fresh streams).
            var plain = Array(0..<n)
            shuffle(&plain)
            for i in 0..<n { out[i] = Int32(truncatingIfNeeded: plain[i]) }
            return
        }
        var index = position >> 2
        var draws = 0  // UInt64 draws consumed
        // 16 draws of eight blocks: block b gives (w0 | w1 << 32) then (w2 | w3 << 32).
        var low = SIMD8<UInt64>()
        var high = SIMD8<UInt64>()
        var slot = 16
        var i = n - 1
        while i >= 1 {
            if slot == 16 {
                let w = Philox.blocks8(index: index, counterHigh: counterHigh, key: key)
                low = SIMD8<UInt64>(truncatingIfNeeded: w.0) | SIMD8<UInt64>(truncatingIfNeeded: w.1) &<< 32
                high = SIMD8<UInt64>(truncatingIfNeeded: w.2) | SIMD8<UInt64>(truncatingIfNeeded: w.3) &<< 32
                index &+= 8
                slot = 0
            }
            let value = slot & 1 == 0 ? low[slot >> 1] : high[slot >> 1]
            slot += 1
            draws += 1
            let bound = UInt64(i + 1)
            guard Self.uniformIntAccepts(value, below: bound) else { continue }
            let j = Int(truncatingIfNeeded: value % bound)
            let t = out[i]
            out[i] = out[j]
            out[j] = t
            i -= 1
        }
        storedPosition &+= UInt64(draws) &* 2
    }

    /// Whether `uniformInt(below: bound)` keeps the draw `value` (`value < 2⁶⁴ − (2⁶⁴ mod bound)`).
    /// For `bound ≤ 2³²` the rejected values all lie above `2⁶⁴ − 2³²`, i.e. have all-ones high
    /// words: only those pay for the threshold's division.
    /// - Precondition: `0 < bound ≤ 2³²`.
    @inlinable @inline(__always)
    public static func uniformIntAccepts(_ value: UInt64, below bound: UInt64) -> Bool {
        guard value >> 32 == 0xFFFF_FFFF, let rejectFrom = WeightedDraw.rejectionStart(total: bound) else {
            return true
        }
        return value < rejectFrom
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
