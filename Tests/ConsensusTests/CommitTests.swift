import Consensus
import GonkaCore
import Testing

@Suite struct CommitTests {
    let net = Net(powers: [1, 1, 1, 4])
    let id = Hash.sha256("block")

    func commit(_ signers: [Int], height: UInt64 = 1, round: Int = 0) -> Consensus.Commit {
        Consensus.Commit(
            height: height, round: round, blockID: id,
            precommits: signers.map { net.vote(.precommit, by: $0, round: round, id, height: height) })
    }

    func verify(_ c: Consensus.Commit, height: UInt64 = 1) throws(ConsensusError) {
        try Consensus.verifyCommit(
            blockID: id, commit: c, validators: net.validators, chainID: net.chainID, height: height)
    }

    @Test func acceptsTwoThirdsOfThePower() throws {
        try verify(commit([0, 3]))  // 5 of 7
        try verify(commit([0, 1, 2, 3]))
    }

    @Test func rejectsInsufficientPowerEvenWithMostValidators() {
        #expect(throws: ConsensusError.insufficientPower(have: 3, total: 7)) { try verify(commit([0, 1, 2])) }
        #expect(throws: ConsensusError.insufficientPower(have: 4, total: 7)) { try verify(commit([3])) }
    }

    @Test func rejectsAForgedSignature() {
        var c = commit([0, 1, 3])
        let good = c.precommits[2]
        c.precommits[2] =
            (try? Consensus.SignedVote(bytes: good.bytes, signature: net.keys[0].signature(for: good.bytes)))!
        #expect(throws: ConsensusError.badSignature) { try verify(c) }
    }

    @Test func rejectsASignatureFromAnotherChain() {
        var c = commit([0, 3])
        c.precommits[1] = Consensus.SignedVote.sign(
            c.precommits[1].vote, chainID: "other", signer: net.signer(3))
        #expect(throws: ConsensusError.badSignature) { try verify(c) }
    }

    @Test func rejectsTheWrongHeightRoundBlockOrType() {
        #expect(throws: ConsensusError.wrongHeight(expected: 2, got: 1)) { try verify(commit([0, 3]), height: 2) }
        var c = commit([0, 3])
        c.precommits[0] = net.vote(.precommit, by: 0, round: 1, id)
        #expect(throws: ConsensusError.wrongRound(expected: 0, got: 1)) { try verify(c) }
        c = commit([0, 3])
        c.precommits[0] = net.vote(.precommit, by: 0, Hash.sha256("other"))
        #expect(throws: ConsensusError.wrongBlock) { try verify(c) }
        c = commit([0, 3])
        c.precommits[0] = net.vote(.prevote, by: 0, id)
        #expect(throws: ConsensusError.wrongVoteType) { try verify(c) }
        c = commit([0, 3])
        c.height = 2
        #expect(throws: ConsensusError.wrongHeight(expected: 1, got: 2)) { try verify(c) }
    }

    @Test func rejectsADuplicatedOrUnknownSigner() {
        var c = commit([3])
        c.precommits.append(c.precommits[0])
        #expect(throws: ConsensusError.duplicateValidator) { try verify(c) }
        let stranger = Net(powers: [9, 9, 9, 9, 9])
        c = commit([0, 3])
        c.precommits.append(stranger.vote(.precommit, by: 4, id))
        if !net.keys.contains(where: { $0.publicKey == stranger.keys[4].publicKey }) {
            #expect(throws: ConsensusError.unknownValidator) { try verify(c) }
        }
    }

    @Test func commitSurvivesTheWire() throws {
        let c = commit([0, 1, 3])
        #expect(try Consensus.Commit(wire: c.wire) == c)
    }

    /// Timestamps 10, 20, 30 with powers 1, 1, 5 (CometBFT WeightedMedian): 30. Never ≤ previous.
    @Test func blockTimeIsThePowerWeightedMedianAndMonotonic() {
        let c = Consensus.Commit(
            height: 1, round: 0, blockID: id,
            precommits: [
                net.vote(.precommit, by: 0, id, time: 10), net.vote(.precommit, by: 1, id, time: 20),
                net.vote(.precommit, by: 3, id, time: 30),
            ])
        let set = Net(powers: [1, 1, 1, 5]).validators
        #expect(Consensus.blockTime(commit: c, validators: set, previous: 0) == 30)
        let light = Consensus.Commit(
            height: 1, round: 0, blockID: id,
            precommits: [
                net.vote(.precommit, by: 0, id, time: 10), net.vote(.precommit, by: 1, id, time: 20),
                net.vote(.precommit, by: 2, id, time: 30),
            ])
        // Three equal weights: half of the total (1) is reached by the earliest timestamp.
        #expect(Consensus.blockTime(commit: light, validators: set, previous: 0) == 10)
        #expect(Consensus.blockTime(commit: light, validators: set, previous: 25) == 26)
    }
}
