import Consensus
import GonkaCore
import Testing

@Suite struct ValidatorSetTests {
    /// Powers A=1, B=2, C=3 (A < B < C by address), total 6, by hand:
    ///
    ///     start        0, 0, 0   +power  1, 2, 3  → C  (3−6)   1,  2, −3
    ///     height 2              2, 4, 0  → B  (4−6)   2, −2,  0
    ///     height 3              3, 0, 3  → A (tie, lower address)  −3, 0, 3
    ///     height 4             −2, 2, 6  → C         −2,  2,  0
    ///     height 5             −1, 4, 3  → B         −1, −2,  3
    ///     height 6              0, 0, 6  → C          0,  0,  0   (and round again)
    @Test func proposerSequenceMatchesTheHandComputedOne() {
        let net = Net(powers: [1, 2, 3])
        var set = net.validators
        var sequence: [Int] = []
        var priorities: [[Int64]] = []
        for _ in 0..<12 {
            sequence.append(net.index(of: set.proposer.address))
            priorities.append(set.validators.map(\.proposerPriority))
            set.incrementProposerPriority(times: 1)
        }
        #expect(sequence == [2, 1, 0, 2, 1, 2, 2, 1, 0, 2, 1, 2])
        #expect(priorities[0] == [1, 2, -3])
        #expect(priorities[1] == [2, -2, 0])
        #expect(priorities[2] == [-3, 0, 3])
        #expect(priorities[5] == [0, 0, 0])
        // Round r of a height is the set advanced r times.
        #expect(net.validators.proposer(round: 2).address == net.address(0))
    }

    @Test func eachValidatorProposesInProportionToItsPower() {
        let net = Net(powers: [1, 3, 6, 10])
        var set = net.validators
        var counts = [0, 0, 0, 0]
        for _ in 0..<200 {
            counts[net.index(of: set.proposer.address)] += 1
            set.incrementProposerPriority(times: 1)
        }
        for (count, expected) in zip(counts, [10, 30, 60, 100]) { #expect(abs(count - expected) <= 1) }
    }

    @Test func prioritiesStayInsideTheWindowAfterAJoin() throws {
        let net = Net(powers: [5, 5, 5])
        let newcomer = (try? SigningKey(seed: [UInt8](repeating: 99, count: 32)))!
        var set = try net.validators.applying([.init(publicKey: newcomer.publicKey, power: 1000)])
        #expect(set.totalPower == 1015)
        #expect(set.validator(newcomer.publicKey.address)?.proposerPriority == -(1015 + 1015 / 8))
        for _ in 0..<50 {
            set.incrementProposerPriority(times: 1)
            let p = set.validators.map(\.proposerPriority)
            #expect(p.max()! - p.min()! <= 2 * Int64(set.totalPower) + Int64(set.totalPower))
        }
        let removed = try set.applying([.init(publicKey: newcomer.publicKey, power: 0)])
        #expect(removed.validators.count == 3)
    }

    @Test func rejectsEmptyDuplicateAndZeroPowerSets() {
        let key = Net().keys[0].publicKey
        #expect(throws: ConsensusError.self) { try Consensus.ValidatorSet([]) }
        #expect(throws: ConsensusError.duplicateValidator) { try Consensus.ValidatorSet([(key, 1), (key, 2)]) }
        #expect(throws: ConsensusError.self) { try Consensus.ValidatorSet([(key, 0)]) }
    }
}
