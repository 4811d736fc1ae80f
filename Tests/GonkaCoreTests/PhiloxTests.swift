import GonkaCore
import Testing

@Suite("Philox4x32-10 block function")
struct PhiloxTests {
    /// Random123 `kat_vectors`, the `philox4x32 10` lines: counter (4 words), key (2 words) → output.
    static let knownAnswers: [(counter: SIMD4<UInt32>, key: SIMD2<UInt32>, output: SIMD4<UInt32>)] = [
        (
            SIMD4(0x0000_0000, 0x0000_0000, 0x0000_0000, 0x0000_0000), SIMD2(0x0000_0000, 0x0000_0000),
            SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)
        ),
        (
            SIMD4(0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), SIMD2(0xffff_ffff, 0xffff_ffff),
            SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)
        ),
        (
            SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), SIMD2(0xa409_3822, 0x299f_31d0),
            SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)
        ),
    ]

    @Test("Random123 known-answer vectors", arguments: knownAnswers)
    func knownAnswer(_ vector: (counter: SIMD4<UInt32>, key: SIMD2<UInt32>, output: SIMD4<UInt32>)) {
        #expect(Philox.block(counter: vector.counter, key: vector.key) == vector.output)
    }

    @Test("the constants are Random123's")
    func constants() {
        #expect(Philox.multipliers == SIMD2(0xD251_1F53, 0xCD9E_8D57))
        #expect(Philox.keyIncrements == SIMD2(0x9E37_79B9, 0xBB67_AE85))
        #expect(Philox.rounds == 10)
    }

    @Test("√3 is the nearest Float to √3")
    func sqrt3() {
        #expect(Philox.sqrt3.bitPattern == 0x3FDD_B3D7)
        #expect(Philox.sqrt3 == Float(Double(3).squareRoot()))
    }

    @Test("uniform float: Float(w >> 8) × 2⁻²⁴, in [0, 1)")
    func uniformFloat() {
        #expect(Philox.uniformFloat(0) == 0)
        #expect(Philox.uniformFloat(0xFF) == 0)  // the low 8 bits are dropped
        #expect(Philox.uniformFloat(0x100) == 1.0 / 16_777_216)
        #expect(Philox.uniformFloat(0x8000_0000) == 0.5)
        #expect(Philox.uniformFloat(0xFFFF_FFFF) == 1 - 1.0 / 16_777_216)
        #expect(Philox.uniformFloat(0xFFFF_FFFF) < 1)
    }

    @Test("normal extremes: all-zero and all-one words")
    func normalExtremes() {
        #expect(Philox.normal(SIMD4(repeating: 0)) == -2 * Philox.sqrt3)
        let top = Philox.normal(SIMD4(repeating: 0xFFFF_FFFF))
        #expect(top > 0 && top < 2 * Philox.sqrt3)
    }
}
