import GonkaCore
import Testing

@Suite("EpochIssuance (PROTOCOL §8.2)")
struct EpochIssuanceTests {
    /// Every committed reference value (Python decimal, 50 digits), exactly.
    @Test("R(e) equals the 50-digit reference for e = 0…2,000 and samples up to 60,000")
    func matchesReference() {
        var checked = 0
        for line in IssuanceVectors.rewards.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let epoch = UInt64(fields[0]), let expected = UInt64(fields[1]) else {
                Issue.record("bad vector line \(line)")
                continue
            }
            let got = EpochIssuance.reward(epoch: epoch, params: .defaults)
            #expect(got == expected, "R(\(epoch))")
            checked += 1
        }
        #expect(checked > 2_050)
    }

    @Test("R(1) is R₀, the reward never grows, and halves after about 1,459 epochs")
    func shape() {
        let params = RewardParams.defaults
        #expect(EpochIssuance.reward(epoch: 1, params: params) == params.initialEpochReward)
        #expect(EpochIssuance.reward(epoch: 0, params: params) == 0)
        var previous = UInt64.max
        for epoch in stride(from: UInt64(1), through: 5_000, by: 7) {
            let reward = EpochIssuance.reward(epoch: epoch, params: params)
            #expect(reward <= previous)
            previous = reward
        }
        let half = params.initialEpochReward / 2
        #expect(EpochIssuance.reward(epoch: 1_459, params: params) > half)
        #expect(EpochIssuance.reward(epoch: 1_461, params: params) < half)
    }

    @Test("a decay of zero pays R₀ forever; the largest decay still gives a positive, falling value")
    func extremes() {
        let flat = RewardParams(issuanceDecayMicro: 0)
        #expect(EpochIssuance.reward(epoch: 50_000, params: flat) == flat.initialEpochReward)
        let steep = RewardParams(issuanceDecayMicro: 1_000_000)
        // exp(−1) × 323,000 GNK (Python decimal: 118,825,059,498,375).
        #expect(EpochIssuance.reward(epoch: 2, params: steep) == 118_825_059_498_375)
        #expect(EpochIssuance.reward(epoch: 100, params: steep) == 0)
    }
}
