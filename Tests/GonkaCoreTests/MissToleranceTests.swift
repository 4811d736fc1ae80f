import GonkaCore
import Testing

/// PROTOCOL §7.2's miss tolerances against the plain formulas (exact where 3n cannot overflow) and
/// against values computed with Python's unbounded integers at the top of the range.
struct MissToleranceTests {
    @Test func replayIsTheFloorOfThreePercent() {
        for n in UInt64(0)..<20_000 { #expect(MissTolerance.replay(positions: n) == 3 * n / 100, "n \(n)") }
        #expect(MissTolerance.replay(positions: 33) == 0)
        #expect(MissTolerance.replay(positions: 34) == 1)
        // python3: 3 * (2**64 - 1) // 100
        #expect(MissTolerance.replay(positions: .max) == 553_402_322_211_286_548)
    }

    @Test func argmaxIsAtLeastOneAndTheCeilingOfThreePercent() {
        for n in UInt64(0)..<20_000 {
            #expect(MissTolerance.argmax(positions: n) == max(1, (3 * n + 99) / 100), "n \(n)")
        }
        // python3: -(-3 * (2**64 - 1) // 100)
        #expect(MissTolerance.argmax(positions: .max) == 553_402_322_211_286_549)
    }
}
