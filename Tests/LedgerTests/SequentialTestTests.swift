import GonkaCore
import Ledger
import Testing

/// PROTOCOL §7.4 against exact values from `scripts/gen-validation-vectors.py` (Python `decimal`, 50
/// digits: `ValidationVectors.sprt` and `.sequences`).
@Suite struct SequentialTestTests {
    let defaults: SequentialTest

    init() throws {
        defaults = try SequentialTest(params: .defaults)
    }

    @Test func defaultsConvictAfterFiveInvalidationsInARow() throws {
        // ln(1e6) / ln(30) = 4.062…: exactly 5 confirmed invalidations from a clean start (4 is not enough).
        let four = defaults.recording(Array(repeating: .invalidated, count: 4))
        #expect(!four.isInvalid)
        let five = defaults.recording(.invalidated, in: four)
        #expect(five.isInvalid)
        #expect(defaults.invalidatedStep > 0 && defaults.validatedStep < 0)
    }

    @Test func consecutiveCountsMatchExactValuesOverTheParameterRange() throws {
        let lines = ValidationVectors.sprt.split(separator: "\n")
        #expect(lines.count > 500)
        for line in lines {
            let f = line.split(separator: " ").map { UInt64($0)! }
            let test = try SequentialTest(
                honestFailRatePpb: f[0], cheaterFailRatePpb: f[1], falseConvictionRatePpb: f[2])
            let k = Int(f[3])
            let m = Int(f[4])
            #expect(!test.recording(Array(repeating: .invalidated, count: k - 1)).isInvalid, "\(line)")
            #expect(test.recording(Array(repeating: .invalidated, count: k)).isInvalid, "\(line)")
            #expect(test.recording(Array(repeating: .validated, count: m - 1)).llr > -test.threshold, "\(line)")
            #expect(test.recording(Array(repeating: .validated, count: m)).llr == -test.threshold, "\(line)")
        }
    }

    @Test func randomSequencesConvictAtTheExactOutcome() throws {
        for line in ValidationVectors.sequences.split(separator: "\n") {
            let f = line.split(separator: " ")
            let test = try SequentialTest(
                honestFailRatePpb: UInt64(f[0])!, cheaterFailRatePpb: UInt64(f[1])!,
                falseConvictionRatePpb: UInt64(f[2])!)
            var state = SequentialTest.State.initial
            var convictedAt = -1
            for (i, c) in f[3].enumerated() {
                state = test.recording(c == "I" ? .invalidated : .validated, in: state)
                if state.isInvalid {
                    convictedAt = i
                    break
                }
            }
            #expect(convictedAt == Int(f[4])!, "\(line)")
        }
    }

    @Test func floorStopsALongHonestPastFromBuyingAFreeRun() {
        // 10,000 validations leave the ratio at the floor −ln(1/α), not at −10,000 × 0.34, so a run of
        // invalidations convicts after ⌈2 × 4.062⌉ = 9 of them instead of never.
        let honestPast = defaults.recording(Array(repeating: .validated, count: 10_000))
        #expect(honestPast.llr == -defaults.threshold)
        let after8 = defaults.recording(Array(repeating: .invalidated, count: 8), from: honestPast)
        #expect(!after8.isInvalid)
        #expect(defaults.recording(.invalidated, in: after8).isInvalid)
    }

    @Test func invalidIsFinalForTheEpoch() {
        let invalid = defaults.recording(Array(repeating: .invalidated, count: 5))
        #expect(defaults.recording(Array(repeating: .validated, count: 100), from: invalid) == invalid)
    }

    @Test func honestHostWithOnePercentInvalidIsNeverConvicted() {
        // 10,000 simulated epochs of 200 checked inferences each, 1% confirmed invalid, seeded SplitMix64.
        let seed: UInt64 = 0x0715_0704
        var rng = SeededGenerator(seed: seed)
        var convictions = 0
        var worst = Int64.min
        for _ in 0..<10_000 {
            var state = SequentialTest.State.initial
            for _ in 0..<200 {
                state = defaults.recording(rng.next() % 100 == 0 ? .invalidated : .validated, in: state)
                worst = max(worst, state.llr)
            }
            if state.isInvalid { convictions += 1 }
        }
        #expect(convictions == 0, "seed \(seed): \(convictions) honest epochs convicted")
        #expect(worst < defaults.threshold)
    }

    @Test func cheaterAtThirtyPercentIsConvicted() {
        var rng = SeededGenerator(seed: 30)
        var convicted = 0
        for _ in 0..<1_000 {
            var state = SequentialTest.State.initial
            for _ in 0..<200 {
                state = defaults.recording(rng.next() % 100 < 30 ? .invalidated : .validated, in: state)
            }
            if state.isInvalid { convicted += 1 }
        }
        #expect(convicted >= 990, "seed 30: \(convicted) of 1000 cheating epochs convicted")
    }

    @Test func rejectsImpossibleParameters() {
        #expect(throws: SequentialTestError.self) {
            try SequentialTest(honestFailRatePpb: 0, cheaterFailRatePpb: 1, falseConvictionRatePpb: 1)
        }
        #expect(throws: SequentialTestError.self) {
            try SequentialTest(honestFailRatePpb: 5, cheaterFailRatePpb: 5, falseConvictionRatePpb: 1)
        }
        #expect(throws: SequentialTestError.self) {
            try SequentialTest(honestFailRatePpb: 5, cheaterFailRatePpb: 1_000_000_000, falseConvictionRatePpb: 1)
        }
        #expect(throws: SequentialTestError.self) {
            try SequentialTest(honestFailRatePpb: 5, cheaterFailRatePpb: 6, falseConvictionRatePpb: 0)
        }
    }
}

/// SplitMix64: a seeded generator for the simulations (the numbers only need to be reproducible).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
