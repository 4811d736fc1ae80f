import Consensus
import GonkaCore
import Testing

/// One test per rule of the algorithm (line numbers of Buchman–Kwon–Milosevic 2018): feed inputs
/// to the pure machine, compare the actions.
@Suite struct MachineTests {
    let net = Net()

    /// Drives `m` through a proposal of `block` for round `round` that the app finds `valid`.
    func propose(
        _ m: inout Consensus.Machine, _ block: [UInt8], round: Int = 0, polRound: Int = -1, valid: Bool = true
    )
        -> [Consensus.Machine.Action]
    {
        var actions = m.handle(.proposal(net.proposal(round: round, polRound: polRound, block: block)), now: 10)
        actions += m.handle(.validated(blockID: Consensus.blockID(of: block), valid: valid), now: 10)
        return actions
    }

    @Test func rule11ProposerAsksTheAppForABlockAndProposesIt() {
        let p = net.proposer(round: 0)
        var m = net.machine(for: p)
        #expect(
            m.start() == [
                .schedule(.init(height: 1, round: 0, step: .propose, duration: 1000)),
                .requestProposal(height: 1, round: 0),
            ])
        let block = net.block("a")
        let actions = m.handle(.proposalBlock(height: 1, round: 0, block: block), now: 100)
        guard case .persistSignState = actions.first, case .broadcastProposal(let message) = actions.dropFirst().first
        else {
            Issue.record("expected persist then proposal, got \(actions)")
            return
        }
        #expect(message.signed.proposal.blockID == Consensus.blockID(of: block))
        #expect(message.signed.proposal.polRound == -1)
        // Rule 22 on its own proposal: prevote for it.
        #expect(actions.votes.map(\.blockID) == [Consensus.blockID(of: block)])
    }

    @Test func rule21FollowerSchedulesTheProposeTimeout() {
        var m = net.machine(for: net.follower)
        #expect(m.start() == [.schedule(.init(height: 1, round: 0, step: .propose, duration: 1000))])
    }

    @Test func rule22PrevotesAValidProposalAfterTheAppAccepts() {
        var m = net.machine(for: net.follower)
        _ = m.start()
        let block = net.block("a")
        let id = Consensus.blockID(of: block)
        let first = m.handle(.proposal(net.proposal(block: block)), now: 10)
        #expect(first == [.validate(height: 1, blockID: id, block: block)])
        let second = m.handle(.validated(blockID: id, valid: true), now: 10)
        #expect(second.count == 2)
        #expect(
            second.votes == [
                Consensus.Vote(
                    type: .prevote, height: 1, round: 0, blockID: id, timestamp: 10,
                    validator: net.address(net.follower))
            ])
        #expect(m.step == .prevote)
    }

    @Test func rule22PrevotesNilForAnInvalidProposal() {
        var m = net.machine(for: net.follower)
        _ = m.start()
        #expect(propose(&m, net.block("bad"), valid: false).votes.map(\.blockID) == [nil])
    }

    @Test func proposalsFromTheWrongProposerOrWithABadSignatureAreIgnored() {
        var m = net.machine(for: net.follower)
        _ = m.start()
        let wrong = net.proposal(block: net.block("a"), by: net.follower)
        #expect(m.handle(.proposal(wrong), now: 1).isEmpty)
        let good = net.proposal(block: net.block("a"))
        let forged = Consensus.ProposalMessage(
            signed: (try? Consensus.SignedProposal(
                bytes: good.signed.bytes, signature: [UInt8](repeating: 7, count: 64)))!,
            block: good.block)
        #expect(m.handle(.proposal(forged), now: 1).isEmpty)
        let tampered = Consensus.ProposalMessage(signed: good.signed, block: net.block("other"))
        #expect(m.handle(.proposal(tampered), now: 1).isEmpty)
    }

    @Test func rule57ProposeTimeoutPrevotesNil() {
        var m = net.machine(for: net.follower)
        _ = m.start()
        let actions = m.handle(.timeout(.init(height: 1, round: 0, step: .propose, duration: 1000)), now: 1000)
        #expect(actions.votes.map(\.blockID) == [nil])
        #expect(actions.votes.map(\.type) == [.prevote])
        // A stale timeout does nothing.
        #expect(m.handle(.timeout(.init(height: 1, round: 0, step: .propose, duration: 1000)), now: 1001).isEmpty)
    }

    @Test func rule34And61PrevoteTimeoutOnTwoThirdsOfMixedPrevotesThenPrecommitNil() {
        let me = net.follower
        var m = net.machine(for: me)
        _ = m.start()
        let id = Consensus.blockID(of: net.block("a"))
        _ = propose(&m, net.block("a"))  // our prevote for id
        let others = (0..<4).filter { $0 != me }
        var actions = m.handle(.vote(net.vote(.prevote, by: others[0], nil)), now: 20)
        #expect(actions.isEmpty)
        actions = m.handle(.vote(net.vote(.prevote, by: others[1], Hash.sha256("x"))), now: 20)
        #expect(actions.scheduled == [.init(height: 1, round: 0, step: .prevote, duration: 500)])
        _ = id
        actions = m.handle(.timeout(.init(height: 1, round: 0, step: .prevote, duration: 500)), now: 600)
        #expect(actions.votes.map(\.type) == [.precommit])
        #expect(actions.votes.map(\.blockID) == [nil])
    }

    @Test func rule36LocksAndPrecommitsOnTwoThirdsPrevotes() {
        let me = net.follower
        var m = net.machine(for: me)
        _ = m.start()
        let id = Consensus.blockID(of: net.block("a"))
        _ = propose(&m, net.block("a"))
        var actions: [Consensus.Machine.Action] = []
        for i in (0..<4).filter({ $0 != me }).prefix(2) {
            actions += m.handle(.vote(net.vote(.prevote, by: i, id)), now: 30)
        }
        #expect(actions.votes.map(\.type) == [.precommit])
        #expect(actions.votes.map(\.blockID) == [id])
        #expect(m.lockedValue == id && m.lockedRound == 0 && m.validValue == id && m.validRound == 0)
    }

    @Test func rule44PrecommitsNilOnTwoThirdsNilPrevotes() {
        let me = net.follower
        var m = net.machine(for: me)
        _ = m.start()
        _ = m.handle(.timeout(.init(height: 1, round: 0, step: .propose, duration: 1000)), now: 1000)
        var actions: [Consensus.Machine.Action] = []
        for i in (0..<4).filter({ $0 != me }).prefix(2) {
            actions += m.handle(.vote(net.vote(.prevote, by: i, nil)), now: 30)
        }
        #expect(actions.votes.map(\.type) == [.precommit])
        #expect(actions.votes.map(\.blockID) == [nil])
        #expect(m.lockedRound == -1)
    }

    @Test func rule47And65PrecommitTimeoutStartsTheNextRound() {
        let me = net.follower
        var m = net.machine(for: me)
        _ = m.start()
        var actions: [Consensus.Machine.Action] = []
        for i in (0..<4).filter({ $0 != me }) {
            actions += m.handle(.vote(net.vote(.precommit, by: i, i == 0 ? nil : Hash.sha256("\(i)"))), now: 30)
        }
        #expect(actions.scheduled == [.init(height: 1, round: 0, step: .precommit, duration: 500)])
        actions = m.handle(.timeout(.init(height: 1, round: 0, step: .precommit, duration: 500)), now: 600)
        #expect(m.round == 1)
        #expect(actions.scheduled == [.init(height: 1, round: 1, step: .propose, duration: 1500)])
    }

    @Test func rule49CommitsOnTwoThirdsPrecommitsForAProposal() {
        let me = net.follower
        var m = net.machine(for: me)
        _ = m.start()
        let block = net.block("a")
        let id = Consensus.blockID(of: block)
        var actions: [Consensus.Machine.Action] = []
        // Precommits arrive before the proposal: nothing to commit without the block.
        for i in (0..<4).filter({ $0 != me }) { actions += m.handle(.vote(net.vote(.precommit, by: i, id)), now: 30) }
        #expect(actions.commits.isEmpty)
        actions = m.handle(.proposal(net.proposal(block: block)), now: 40)
        #expect(actions.commits.isEmpty)  // validity still unknown
        actions = m.handle(.validated(blockID: id, valid: true), now: 40)
        let decision = actions.commits.first
        #expect(decision?.blockID == id)
        #expect(decision?.block == block)
        #expect(decision?.commit.precommits.count == 3)
        #expect(m.step == .commit)
        if let commit = decision?.commit {
            #expect(throws: Never.self) {
                try Consensus.verifyCommit(
                    blockID: id, commit: commit, validators: net.validators, chainID: net.chainID, height: 1)
            }
        }
    }

    @Test func rule55SkipsToAHigherRoundOnOneThirdOfThePower() {
        let me = net.follower
        var m = net.machine(for: me)
        _ = m.start()
        let others = (0..<4).filter { $0 != me }
        #expect(m.handle(.vote(net.vote(.prevote, by: others[0], round: 5, nil)), now: 1).isEmpty)
        let actions = m.handle(.vote(net.vote(.precommit, by: others[1], round: 5, nil)), now: 1)
        #expect(m.round == 5)
        #expect(actions.scheduled.first == .init(height: 1, round: 5, step: .propose, duration: 3500))
    }

    /// Locked on A in round 0: a new proposal B (no POL) in round 1 gets a nil prevote; a machine
    /// that ignores its lock prevotes B.
    @Test(arguments: [false, true]) func rule22RespectsTheLock(ignoreLock: Bool) {
        let me = net.follower
        var m = net.machine(for: me, defects: .init(ignoreLock: ignoreLock))
        _ = m.start()
        let a = Consensus.blockID(of: net.block("a"))
        _ = propose(&m, net.block("a"))
        for i in (0..<4).filter({ $0 != me }).prefix(2) { _ = m.handle(.vote(net.vote(.prevote, by: i, a)), now: 30) }
        #expect(m.lockedValue == a)
        for i in (0..<4).filter({ $0 != me }) {
            _ = m.handle(.vote(net.vote(.precommit, by: i, i == 0 ? nil : Hash.sha256("\(i)"))), now: 30)
        }
        _ = m.handle(.timeout(.init(height: 1, round: 0, step: .precommit, duration: 500)), now: 600)
        #expect(m.round == 1)
        let b = net.block("b")
        let actions = propose(&m, b, round: 1)
        #expect(actions.votes.map(\.blockID) == [ignoreLock ? Consensus.blockID(of: b) : nil])
    }

    /// Rule 28: locked on A in round 0, a proposal of B in round 2 with a POL from round 1
    /// (which we hold) is prevoted: lockedRound 0 ≤ polRound 1.
    @Test func rule28UnlocksOnALaterProofOfLock() {
        let me = (0..<4).first { i in !(0...2).contains { net.proposer(round: $0) == i } }!
        var m = net.machine(for: me)
        _ = m.start()
        let a = Consensus.blockID(of: net.block("a"))
        _ = propose(&m, net.block("a"))
        let others = (0..<4).filter { $0 != me }
        for i in others.prefix(2) { _ = m.handle(.vote(net.vote(.prevote, by: i, a)), now: 30) }
        #expect(m.lockedRound == 0)
        let b = net.block("b")
        let bid = Consensus.blockID(of: b)
        for i in others { _ = m.handle(.vote(net.vote(.prevote, by: i, round: 1, bid)), now: 40) }
        for i in others { _ = m.handle(.vote(net.vote(.precommit, by: i, round: 1, nil)), now: 40) }
        _ = m.handle(.timeout(.init(height: 1, round: 1, step: .precommit, duration: 750)), now: 800)
        #expect(m.round == 2)
        let actions = propose(&m, b, round: 2, polRound: 1)
        #expect(actions.votes.map(\.blockID) == [bid])
    }

    @Test func aProposerWithAValidValueReproposesItWithItsPOLRound() {
        // Find a validator that proposes in some round r > 0 but not round 0.
        let me = (0..<4).first { $0 != net.proposer(round: 0) }!
        let r = (1..<20).first { net.proposer(round: $0) == me }!
        var m = net.machine(for: me)
        _ = m.start()
        let a = Consensus.blockID(of: net.block("a"))
        _ = propose(&m, net.block("a"))
        for i in (0..<4).filter({ $0 != me }).prefix(2) { _ = m.handle(.vote(net.vote(.prevote, by: i, a)), now: 30) }
        #expect(m.validRound == 0)
        let others = (0..<4).filter { $0 != me }
        var actions: [Consensus.Machine.Action] = []
        for i in others.prefix(2) { actions += m.handle(.vote(net.vote(.prevote, by: i, round: r, nil)), now: 50) }
        #expect(m.round == r)
        let proposals = actions.compactMap { if case .broadcastProposal(let p) = $0 { p.signed.proposal } else { nil } }
        #expect(proposals.map(\.blockID) == [a])
        #expect(proposals.map(\.polRound) == [0])
        #expect(!actions.contains(.requestProposal(height: 1, round: r)))
    }

    @Test func conflictingVotesYieldEvidenceOnceAndCountForBothValues() {
        let me = net.follower
        var m = net.machine(for: me)
        _ = m.start()
        let other = (0..<4).first { $0 != me }!
        #expect(m.handle(.vote(net.vote(.prevote, by: other, Hash.sha256("x"))), now: 1).isEmpty)
        let actions = m.handle(.vote(net.vote(.prevote, by: other, Hash.sha256("y"))), now: 1)
        guard case .evidence(let e) = actions.first else {
            Issue.record("no evidence in \(actions)")
            return
        }
        #expect(e.key.validator == net.address(other))
        #expect(throws: Never.self) { try e.verify(validators: net.validators, chainID: net.chainID) }
        #expect(m.handle(.vote(net.vote(.prevote, by: other, nil)), now: 1).isEmpty)
    }

    @Test func votesWithBadSignaturesOrFromStrangersAreIgnored() {
        var m = net.machine(for: net.follower)
        _ = m.start()
        let good = net.vote(.prevote, by: 0, round: 3, nil)
        let forged = (try? Consensus.SignedVote(bytes: good.bytes, signature: [UInt8](repeating: 1, count: 64)))!
        let stranger = Consensus.SignedVote.sign(
            Consensus.Vote(
                type: .prevote, height: 1, round: 3, blockID: nil, timestamp: 1, validator: Address.module("x")),
            chainID: net.chainID, signer: net.signer(0))
        _ = m.handle(.vote(forged), now: 1)
        _ = m.handle(.vote(stranger), now: 1)
        #expect(!m.contains(forged))
        #expect(!m.contains(stranger))
    }
}
