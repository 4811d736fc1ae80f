import GonkaCore
import Ledger
import Testing

/// PROTOCOL §7.1 reputation.
@Suite struct ReputationTests {
    let params = ValidationParams.defaults
    let clean = Reputation.EpochRecord(served: 1_000, missed: 10)  // exactly 1%: still clean

    @Test func risesLinearlyOverThirtyCleanEpochs() {
        var reputation = Reputation.zero
        var scores: [UInt64] = [reputation.score(params: params)]
        for _ in 0..<40 {
            reputation = reputation.next(after: clean, params: params)
            scores.append(reputation.score(params: params))
        }
        #expect(scores[0] == 0)
        #expect(scores[1] == 3)  // ⌊100/30⌋
        #expect(scores[15] == 50)
        #expect(scores[29] == 96)
        #expect(scores[30] == 100)
        #expect(scores[40] == 100)
        #expect(reputation.cleanEpochs == 30)
        #expect(zip(scores, scores.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test func missRateAboveOnePercentDoesNotCount() {
        let start = Reputation(cleanEpochs: 7)
        #expect(start.next(after: .init(served: 1_000, missed: 11), params: params) == start)
        #expect(start.next(after: .init(served: 0, missed: 1), params: params) == start)
        #expect(start.next(after: .init(served: 99, missed: 1), params: params) == Reputation(cleanEpochs: 8))
        #expect(start.next(after: .init(served: 98, missed: 1), params: params) == start)  // 1.0101%
    }

    @Test func anIdleEpochDoesNotCount() {
        #expect(Reputation(cleanEpochs: 3).next(after: .init(served: 0, missed: 0), params: params).cleanEpochs == 3)
    }

    @Test func confirmedInvalidationResetsToZero() {
        let trusted = Reputation(cleanEpochs: 30)
        #expect(trusted.score(params: params) == 100)
        let after = trusted.next(after: .init(served: 1_000, missed: 0, confirmedInvalidation: true), params: params)
        #expect(after == .zero)
        #expect(after.score(params: params) == 0)
    }

    @Test func scoreEdges() {
        #expect(Reputation(cleanEpochs: 5).score(epochsToMax: 0) == 100)
        #expect(Reputation(cleanEpochs: 500).score(epochsToMax: 30) == 100)
        #expect(Reputation(cleanEpochs: 1).score(epochsToMax: 3) == 33)
    }
}
