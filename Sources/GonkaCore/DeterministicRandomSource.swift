/// A source of `UInt64`s that every node reproduces exactly: in protocol code, a ``PhiloxStream``
/// keyed by an on-chain seed (PROTOCOL §2). Tests plug in scripted sources.
///
/// Deliberately not `RandomNumberGenerator`: the standard library's `shuffled(using:)` and
/// `random(in:using:)` do not promise the same algorithm across Swift versions, so protocol code
/// must use the draws defined here.
public protocol DeterministicRandomSource {
    /// The next 64 random bits.
    mutating func nextUInt64() -> UInt64
}

extension DeterministicRandomSource {
    /// A uniform integer in `0..<bound`, without modulo bias: draw `v = nextUInt64()`, reject it
    /// (and draw again) while `v ≥ 2⁶⁴ − (2⁶⁴ mod bound)` (see ``WeightedDraw/rejectionStart(total:)``),
    /// then return `v mod bound`. Each attempt consumes one `nextUInt64()`.
    /// - Precondition: `bound > 0`.
    public mutating func uniformInt(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "uniformInt(below:) needs a positive bound")
        guard let rejectFrom = WeightedDraw.rejectionStart(total: bound) else {
            return nextUInt64() % bound
        }
        while true {
            let value = nextUInt64()
            if value < rejectFrom { return value % bound }
        }
    }

    /// Shuffles `elements` in place with Fisher–Yates, from the back:
    /// for `i` = `n−1` down to 1, `j = uniformInt(below: i + 1)`, swap the elements at offsets `i`
    /// and `j`. (`n − 1` draws for `n ≥ 2`; none otherwise.)
    public mutating func shuffle<C: MutableCollection & RandomAccessCollection>(_ elements: inout C) {
        let n = elements.count
        guard n > 1 else { return }
        for i in stride(from: n - 1, through: 1, by: -1) {
            let j = Int(uniformInt(below: UInt64(i + 1)))
            if i != j {
                elements.swapAt(
                    elements.index(elements.startIndex, offsetBy: i),
                    elements.index(elements.startIndex, offsetBy: j))
            }
        }
    }

    /// A permutation of `0..<count`: `Array(0..<count)` shuffled by ``shuffle(_:)``.
    public mutating func permutation(count: Int) -> [Int] {
        var result = Array(0..<Swift.max(count, 0))
        shuffle(&result)
        return result
    }
}

extension DeterministicRandomSource {
    /// `count` bytes: each `UInt64` supplies eight, least significant byte first.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count {
            let word = nextUInt64()
            for shift in stride(from: 0, to: 64, by: 8) {
                out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return Array(out.prefix(count))
    }
}
