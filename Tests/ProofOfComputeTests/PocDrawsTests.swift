import GonkaCore
import ProofOfCompute
import Testing

/// The bulk draws PoC uses (eight blocks at a time, the specialised permutation) against the plain
/// one-word-at-a-time definitions: every bit and the stream position must agree.
@Suite("PoC bulk draws")
struct PocDrawsTests {
    static let seeds = (0..<4).map { Hash.sha256("bulk/\($0)") }

    @Test("blocks8 lane b is block(index + b), across the 2³² carry of the block index")
    func eightBlocksMatchOne() {
        for seed in Self.seeds {
            let stream = PhiloxStream(seed: seed)
            for index: UInt64 in [0, 8, 1000, (1 << 32) - 3, (1 << 40) + 7] {
                let w = PocDraws.blocks8(index: index, counterHigh: stream.counterHigh, key: stream.key)
                for lane in 0..<8 {
                    let one = stream.block(at: index + UInt64(lane))
                    #expect(SIMD4(w.0[lane], w.1[lane], w.2[lane], w.3[lane]) == one, "index \(index) lane \(lane)")
                }
            }
        }
    }

    @Test("fillNormals (eight blocks at a time) equals nextNormal() one by one, any count and position")
    func bulkNormalsMatch() {
        for seed in Self.seeds {
            for start: UInt64 in [0, 4, 8 * 4 * 3, 1, 6] {
                for count in [0, 1, 7, 8, 9, 63, 1024, 1031] {
                    var plain = PhiloxStream(seed: seed, position: start)
                    let expected = (0..<count).map { _ in plain.nextNormal() }
                    var bulk = PhiloxStream(seed: seed, position: start)
                    var got = [Float](repeating: .nan, count: count)
                    got.withUnsafeMutableBufferPointer { PocDraws.fillNormals(&bulk, into: $0) }
                    #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "start \(start) count \(count)")
                    #expect(bulk.position == plain.position)
                    #expect(bulk.nextUInt32() == plain.nextUInt32(), "the streams go on alike")
                }
            }
        }
    }

    @Test("fillPermutation equals permutation(count:) and leaves the stream where it does")
    func permutationMatches() {
        for (s, seed) in Self.seeds.enumerated() {
            for start: UInt64 in [0, 4, 2, 3] {
                for count in [0, 1, 2, 3, 16, 17, 100, 2048, 8196] where s < 1 || count <= 2048 {
                    var plain = PhiloxStream(seed: seed, position: start)
                    let expected = plain.permutation(count: count)
                    var fast = PhiloxStream(seed: seed, position: start)
                    var got = [Int32](repeating: -1, count: count)
                    got.withUnsafeMutableBufferPointer { PocDraws.fillPermutation(&fast, into: $0) }
                    #expect(got.map(Int.init) == expected, "start \(start) count \(count)")
                    #expect(fast.position == plain.position, "start \(start) count \(count)")
                    #expect(fast.nextUInt64() == plain.nextUInt64())
                }
            }
        }
    }

    /// Real draws almost never reach the rejection zone (probability < 2⁻³² each), so the
    /// shortcut that skips the threshold is checked on the values where it matters.
    @Test("uniformIntAccepts agrees with the rejection threshold of uniformInt(below:)")
    func rejectionShortcut() {
        let bounds: [UInt64] = [1, 2, 3, 5, 7, 100, 2047, 2048, 2049, 8196, 1 << 31, (1 << 32) - 1, 1 << 32]
        for bound in bounds {
            let start = WeightedDraw.rejectionStart(total: bound)
            var values: [UInt64] = [
                0, 12345, UInt64.max, UInt64.max - 1, UInt64.max - (1 << 32), 0xFFFF_FFFF_0000_0000,
            ]
            if let start { values += [start, start - 1, start &+ 1] }
            for value in values {
                let accepted = start.map { value < $0 } ?? true
                #expect(PocDraws.uniformIntAccepts(value, below: bound) == accepted, "v \(value) bound \(bound)")
            }
        }
    }
}
