import GonkaCore
import Testing

@Suite("PhiloxStream")
struct PhiloxStreamTests {
    /// SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 …
    static let abc = Hash.sha256("abc")

    @Test("hash → key and counter: little-endian words of bytes 0..<8 and 8..<16")
    func seedMapping() {
        let stream = PhiloxStream(seed: Self.abc)
        #expect(stream.key == SIMD2(0xbf16_78ba, 0xeacf_018f))
        #expect(stream.counterHigh == SIMD2(0xde40_4141, 0x2322_ae5d))
        #expect(stream.position == 0)
        let fromString = PhiloxStream(seedString: "abc")
        #expect(fromString.key == stream.key && fromString.counterHigh == stream.counterHigh)
    }

    @Test("words are the lanes of blocks 0, 1, 2, … with the block index in counter words 0–1")
    func wordLayout() {
        var stream = PhiloxStream(seed: Self.abc)
        let key = SIMD2<UInt32>(0xbf16_78ba, 0xeacf_018f)
        let block0 = Philox.block(counter: SIMD4(0, 0, 0xde40_4141, 0x2322_ae5d), key: key)
        let block1 = Philox.block(counter: SIMD4(1, 0, 0xde40_4141, 0x2322_ae5d), key: key)
        let words = (0..<8).map { _ in stream.nextUInt32() }
        #expect(words == [block0[0], block0[1], block0[2], block0[3], block1[0], block1[1], block1[2], block1[3]])
        #expect(stream.position == 8)

        // Block 2³² + 5 has counter words (5, 1).
        var far = PhiloxStream(seed: Self.abc, position: 4 * ((1 << 32) + 5) + 2)
        let farBlock = Philox.block(counter: SIMD4(5, 1, 0xde40_4141, 0x2322_ae5d), key: key)
        #expect(far.nextUInt32() == farBlock[2])
        #expect(stream.block(at: (1 << 32) + 5) == farBlock)
    }

    @Test("nextUInt64: first word is the low half, and it may span two blocks")
    func uint64Order() {
        var words = PhiloxStream(seed: Self.abc)
        let w = (0..<6).map { _ in UInt64(words.nextUInt32()) }
        var stream = PhiloxStream(seed: Self.abc)
        #expect(stream.nextUInt64() == w[0] | w[1] << 32)
        #expect(stream.nextUInt32() == UInt32(w[2]))
        #expect(stream.nextUInt64() == w[3] | w[4] << 32)  // words 3 and 4: blocks 0 and 1
    }

    @Test("same seed, same sequence; different seeds, different sequences")
    func determinism() {
        var a = PhiloxStream(seedString: "gonka/determinism")
        var b = PhiloxStream(seedString: "gonka/determinism")
        var c = PhiloxStream(seedString: "gonka/determinism/other")
        let sa = (0..<1000).map { _ in a.nextUInt32() }
        let sb = (0..<1000).map { _ in b.nextUInt32() }
        let sc = (0..<1000).map { _ in c.nextUInt32() }
        #expect(sa == sb)
        #expect(sa != sc)
        #expect(Set(sa).count > 990)  // no short cycles
    }

    @Test("starting at an offset equals skipping that many words", arguments: [0, 1, 3, 4, 5, 1001] as [UInt64])
    func offsetEqualsSkipping(_ offset: UInt64) {
        var skipped = PhiloxStream(seedString: "gonka/offset")
        for _ in 0..<offset { _ = skipped.nextUInt32() }
        var started = PhiloxStream(seedString: "gonka/offset", position: offset)
        var sought = PhiloxStream(seedString: "gonka/offset")
        _ = sought.nextUInt64()  // fill the cache, then jump
        sought.seek(to: offset)
        var skippedBy = PhiloxStream(seedString: "gonka/offset")
        skippedBy.skip(words: offset)
        for _ in 0..<20 {
            let expected = skipped.nextUInt32()
            #expect(started.nextUInt32() == expected)
            #expect(sought.nextUInt32() == expected)
            #expect(skippedBy.nextUInt32() == expected)
        }
    }

    @Test("uniform floats lie in [0, 1) on the 2⁻²⁴ grid and match their words")
    func uniformFloats() {
        var floats = PhiloxStream(seedString: "gonka/uniform")
        var words = PhiloxStream(seedString: "gonka/uniform")
        var sum: Double = 0
        var misfits = 0
        let count = 100_000
        for _ in 0..<count {
            let u = floats.nextUniformFloat()
            let w = words.nextUInt32()
            let scaled = Double(u) * 16_777_216
            let onGrid = scaled == scaled.rounded(.towardZero) && UInt32(exactly: scaled) == w >> 8
            if !(u >= 0 && u < 1 && onGrid) { misfits += 1 }
            sum += Double(u)
        }
        #expect(misfits == 0)
        #expect(abs(sum / Double(count) - 0.5) < 0.005)
    }

    @Test("the first normals equal the formula recomputed by hand from the raw words")
    func normalsByHand() {
        var stream = PhiloxStream(seedString: "gonka/normals")
        let rawKey = PhiloxStream(seedString: "gonka/normals").key
        let rawHigh = PhiloxStream(seedString: "gonka/normals").counterHigh
        let root3 = Float(Double(3).squareRoot())
        for blockIndex: UInt32 in 0..<4 {
            let w = Philox.block(counter: SIMD4(blockIndex, 0, rawHigh[0], rawHigh[1]), key: rawKey)
            // u = (w >> 8) / 2²⁴, then ((((u1 + u2) + u3) + u4) − 2) × √3, every step in Float32.
            let u = (0..<4).map { Float(w[$0] >> 8) / 16_777_216 }
            var s: Float = u[0]
            s += u[1]
            s += u[2]
            s += u[3]
            s -= 2
            s *= root3
            let normal = stream.nextNormal()
            #expect(normal.bitPattern == s.bitPattern, "normal \(blockIndex)")
            // And the same number in exact arithmetic, to a Float's precision.
            let exact = (u.reduce(0) { $0 + Double($1) } - 2) * Double(3).squareRoot()
            #expect(abs(Double(normal) - exact) < 1e-6)
        }
    }

    @Test("bulk fill equals one normal at a time, aligned or not", arguments: [0, 1, 2, 4, 13] as [UInt64])
    func bulkFill(_ start: UInt64) {
        var bulk = PhiloxStream(seedString: "gonka/bulk", position: start)
        var single = PhiloxStream(seedString: "gonka/bulk", position: start)
        let filled = bulk.fill(normals: 257)
        let one = (0..<257).map { _ in single.nextNormal() }
        #expect(filled.map(\.bitPattern) == one.map(\.bitPattern))
        #expect(bulk.position == start + 4 * 257)
        #expect(bulk.nextUInt32() == single.nextUInt32())
        #expect(bulk.fill(normals: 0).isEmpty)
    }

    @Test("a pool sliced at normal k = word 4k equals the pool filled in one go")
    func slicedPool() {
        var whole = PhiloxStream(seedString: "gonka/pool")
        let pool = whole.fill(normals: 1000)
        var slices = [Float](repeating: .nan, count: 1000)
        slices.withUnsafeMutableBufferPointer { buffer in
            for range in [600..<1000, 0..<250, 250..<600] {  // any order, as parallel workers would
                var stream = PhiloxStream(seedString: "gonka/pool", position: 4 * UInt64(range.lowerBound))
                stream.fillNormals(into: UnsafeMutableBufferPointer(rebasing: buffer[range]))
            }
        }
        #expect(slices.map(\.bitPattern) == pool.map(\.bitPattern))
    }

    @Test("normals: mean ≈ 0, variance ≈ 1, range within ±2√3 over 100k samples")
    func normalStatistics() {
        var stream = PhiloxStream(seedString: "gonka/statistics")
        let samples = stream.fill(normals: 100_000)
        let mean = samples.reduce(0) { $0 + Double($1) } / Double(samples.count)
        let variance = samples.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(samples.count - 1)
        #expect(abs(mean) < 0.02)  // standard error 0.0032
        #expect(abs(variance - 1) < 0.03)  // standard error ≈ 0.0041
        let bound = 2 * Double(3).squareRoot()
        #expect(samples.allSatisfy { abs(Double($0)) < bound })
        // Tails: P(|x| > 2) for the sum of four uniforms is ≈ 4.2%; a real normal would give 4.6%.
        let tail = Double(samples.count(where: { abs($0) > 2 })) / Double(samples.count)
        #expect(tail > 0.03 && tail < 0.055)
    }
}
