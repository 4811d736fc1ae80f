import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// Module Governance on a real ledger (PROTOCOL §10): each tally outcome and where the deposit
/// goes, voting power = epoch weight, expedited votes and their fall-back, re-votes, operator
/// votes, the deposit period, each proposal kind's effect, the software-upgrade halt, and every
/// bad input rejected with its reason and nothing changed.
@Suite struct GovernanceLedgerTests {
    /// Short periods: deposit 5 blocks, vote 10, expedited 4.
    static let governance = GovernanceParams(
        maxDepositPeriodBlocks: 5, votingPeriodBlocks: 10, expeditedVotingPeriodBlocks: 4)
    static let fund = Amount(gnk: 10_000)!

    /// Four participants of weight 10, 20, 30, 40 (total 100), each funded with 500 GNK from the
    /// accounts; 10,000 GNK in the training fund and community pool.
    static func makeChain(
        params: ChainParams = ChainParams(governance: governance), upgrades: UpgradeRegistry = .compiledIn
    ) throws -> TestChain {
        let chain = try TestChain(
            accounts: 5, params: params, validatorPowers: [10, 20, 30, 40],
            moduleAccounts: [
                .init(name: "training_fund", balance: fund), .init(name: "community_pool", balance: fund),
            ], upgrades: upgrades)
        let funding = try (0..<4).map { i in
            try chain.sign(
                chain.body(
                    [.send(from: chain.address(i), to: chain.validators[i].publicKey.address, amount: 500 * gnk)],
                    signer: chain.accounts[i]),
                by: chain.accounts[i])
        }
        let result = try chain.finalize(funding)
        #expect(result.txResults.allSatisfy { $0.isSuccess })
        return chain
    }

    static let gnk = Amount.ngonkaPerGNK

    /// Sends `msg` signed by `key` in its own block; the sequence comes from the chain, since a
    /// rejected transaction does not consume one.
    @discardableResult
    static func send(_ chain: TestChain, _ msg: Wire.Msg, by key: SigningKey) throws -> BlockResult {
        let address = key.publicKey.address
        let sequence = try chain.ledger.account(address).sequence
        let tx = try chain.sign(chain.body([msg], signer: key, sequence: sequence), by: key)
        return try chain.finalize([tx])
    }

    static func submit(
        _ chain: TestChain, _ content: Wire.ProposalContent, by key: SigningKey, deposit: UInt64 = 100 * gnk,
        expedited: Bool = false
    ) throws -> BlockResult {
        var msg = Wire.MsgSubmitProposal()
        msg.proposer = key.publicKey.address.description
        msg.deposit = deposit
        msg.expedited = expedited
        msg.title = "a proposal"
        msg.content = content
        return try send(chain, Wire.Msg(msg), by: key)
    }

    static func vote(
        _ chain: TestChain, _ id: UInt64, _ option: Wire.VoteOption, by key: SigningKey, voter: Address? = nil
    ) throws -> TxResult {
        var msg = Wire.MsgVote()
        msg.voter = (voter ?? key.publicKey.address).description
        msg.proposalID = id
        msg.option = option
        return try send(chain, Wire.Msg(msg), by: key).txResults[0]
    }

    /// Empty blocks until the ledger has committed `height`.
    static func advance(_ chain: TestChain, to height: UInt64) throws -> [LedgerEvent] {
        var events: [LedgerEvent] = []
        while (chain.ledger.height ?? 0) < height { events += try chain.finalize([]).events }
        return events
    }

    static var text: Wire.ProposalContent {
        var content = Wire.ProposalContent()
        content.text = Wire.TextProposal()
        return content
    }

    static func paramChange(_ changes: [(String, String)]) -> Wire.ProposalContent {
        var proposal = Wire.ParamChangeProposal()
        proposal.changes = changes.map { name, value in
            var change = Wire.ParamChange()
            change.name = name
            change.value = value
            return change
        }
        var content = Wire.ProposalContent()
        content.paramChange = proposal
        return content
    }

    static func spend(_ recipient: Address, _ amount: UInt64, training: Bool = true) -> Wire.ProposalContent {
        var spend = Wire.FundSpendProposal()
        spend.recipient = recipient.description
        spend.amount = amount
        var content = Wire.ProposalContent()
        if training { content.trainingFundSpend = spend } else { content.communityPoolSpend = spend }
        return content
    }

    static func upgrade(_ name: String, height: UInt64) -> Wire.ProposalContent {
        var upgrade = Wire.SoftwareUpgradeProposal()
        upgrade.name = name
        upgrade.height = height
        upgrade.binarySha256 = String(repeating: "ab", count: 32)
        var content = Wire.ProposalContent()
        content.softwareUpgrade = upgrade
        return content
    }

    /// Submits `content` from participant 3 and has `votes` (participant index, option) cast;
    /// returns the proposal id and the height whose end tallies it.
    static func propose(
        _ chain: TestChain, _ content: Wire.ProposalContent, votes: [(Int, Wire.VoteOption)], expedited: Bool = false,
        deposit: UInt64? = nil
    ) throws -> (id: UInt64, end: UInt64) {
        let result = try submit(
            chain, content, by: chain.validators[3],
            deposit: deposit ?? (expedited ? 200 : 100) * gnk, expedited: expedited)
        #expect(result.txResults[0].error == nil, "\(String(describing: result.txResults[0].error))")
        let proposal = try #require(try chain.ledger.proposals().last)
        for (index, option) in votes {
            let r = try vote(chain, proposal.id, option, by: chain.validators[index])
            #expect(r.error == nil, "\(String(describing: r.error))")
        }
        return (proposal.id, proposal.votingEndHeight)
    }

    static func status(_ chain: TestChain, _ id: UInt64) throws -> Wire.GovProposal {
        try #require(try chain.ledger.proposal(id)?.proposal)
    }

    static func balance(_ chain: TestChain, _ address: Address) throws -> UInt64 {
        try chain.ledger.balance(of: address).ngonka
    }

    // MARK: Outcomes and deposits

    @Test func yesMajorityPassesAndRefunds() throws {
        let chain = try Self.makeChain()
        let proposer = chain.validators[3].publicKey.address
        let (id, end) = try Self.propose(chain, Self.text, votes: [(3, .yes), (2, .yes), (0, .no)])
        let before = try Self.balance(chain, proposer)
        #expect(try Self.status(chain, id).status == .votingPeriod)
        _ = try Self.advance(chain, to: end - 1)
        #expect(try Self.status(chain, id).status == .votingPeriod, "the tally runs at the end of the last block")
        let events = try Self.advance(chain, to: end)
        let p = try Self.status(chain, id)
        #expect(p.status == .passed)
        #expect(p.outcome == "passed")
        #expect(p.depositFate == "refunded")
        #expect(p.finalTally.yes == 70 && p.finalTally.no == 10 && p.finalTally.totalPower == 100)
        #expect(try Self.balance(chain, proposer) == before + 100 * Self.gnk)
        #expect(try Self.balance(chain, Governance.moduleAddress) == 0)
        #expect(
            events.contains(
                .proposalDecided(proposalID: id, status: "passed", outcome: "passed", depositFate: "refunded")))
    }

    @Test func missedQuorumRejectsAndRefunds() throws {
        let chain = try Self.makeChain()
        let proposer = chain.validators[3].publicKey.address
        // 30 of 100 voted: below 33.4%.
        let (id, end) = try Self.propose(chain, Self.text, votes: [(2, .yes)])
        let before = try Self.balance(chain, proposer)
        let burned = try chain.ledger.supply().burned
        _ = try Self.advance(chain, to: end)
        let p = try Self.status(chain, id)
        #expect(p.status == .rejected)
        #expect(p.outcome == "quorum_not_reached")
        #expect(p.depositFate == "refunded")
        #expect(try Self.balance(chain, proposer) == before + 100 * Self.gnk)
        #expect(try chain.ledger.supply().burned == burned)
    }

    @Test func vetoRejectsAndBurns() throws {
        let chain = try Self.makeChain()
        let proposer = chain.validators[3].publicKey.address
        // Veto 40 of 70 voted (≥ 33.4%), though yes 30 > no 0.
        let (id, end) = try Self.propose(chain, Self.text, votes: [(2, .yes), (3, .noWithVeto)])
        let before = try Self.balance(chain, proposer)
        let burned = try chain.ledger.supply().burned
        _ = try Self.advance(chain, to: end)
        let p = try Self.status(chain, id)
        #expect(p.status == .rejected)
        #expect(p.outcome == "vetoed")
        #expect(p.depositFate == "burned")
        #expect(try Self.balance(chain, proposer) == before)
        #expect(try chain.ledger.supply().burned.ngonka == burned.ngonka + 100 * Self.gnk)
        #expect(try Self.balance(chain, Governance.moduleAddress) == 0)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    @Test func noMajorityRejectsAndRefunds() throws {
        let chain = try Self.makeChain()
        let (id, end) = try Self.propose(chain, Self.text, votes: [(2, .yes), (3, .no)])
        _ = try Self.advance(chain, to: end)
        let p = try Self.status(chain, id)
        #expect(p.status == .rejected)
        #expect(p.outcome == "threshold_not_reached")
        #expect(p.depositFate == "refunded")
    }

    @Test func abstainCountsForQuorumButNotForTheThreshold() throws {
        let chain = try Self.makeChain()
        // Turnout 70; of the 30 that did not abstain, yes 20 > 50%.
        let (id, end) = try Self.propose(chain, Self.text, votes: [(1, .yes), (0, .no), (3, .abstain)])
        _ = try Self.advance(chain, to: end)
        let p = try Self.status(chain, id)
        #expect(p.status == .passed)
        #expect(p.finalTally.abstain == 40)
    }

    @Test func talliesAtTheBoundariesOfEachRule() {
        let gov = GovernanceParams()
        // Quorum 33.4% of 1000: 334 reaches it, 333 does not.
        #expect(GovernanceTally(yes: 334, totalPower: 1_000).outcome(gov, expedited: false) == .passed)
        #expect(GovernanceTally(yes: 333, totalPower: 1_000).outcome(gov, expedited: false) == .quorumNotReached)
        // Threshold: yes must exceed 50% of non-abstain; exactly half fails.
        #expect(
            GovernanceTally(yes: 250, no: 250, totalPower: 500).outcome(gov, expedited: false) == .thresholdNotReached)
        #expect(GovernanceTally(yes: 251, no: 249, totalPower: 500).outcome(gov, expedited: false) == .passed)
        // Veto at exactly 33.4% of the votes vetoes; just below does not.
        #expect(GovernanceTally(yes: 666, noWithVeto: 334, totalPower: 1_000).outcome(gov, expedited: false) == .vetoed)
        #expect(GovernanceTally(yes: 667, noWithVeto: 333, totalPower: 1_000).outcome(gov, expedited: false) == .passed)
        // Expedited threshold 66.7%: yes must exceed it; 668 of 1000 passes, 667 does not (normal: passes).
        #expect(GovernanceTally(yes: 668, no: 332, totalPower: 1_000).outcome(gov, expedited: true) == .passed)
        #expect(
            GovernanceTally(yes: 667, no: 333, totalPower: 1_000).outcome(gov, expedited: true) == .thresholdNotReached)
        #expect(
            GovernanceTally(yes: 666, no: 334, totalPower: 1_000).outcome(gov, expedited: true) == .thresholdNotReached)
        #expect(GovernanceTally(yes: 666, no: 334, totalPower: 1_000).outcome(gov, expedited: false) == .passed)
        // Everyone abstained: nothing decisive.
        #expect(
            GovernanceTally(abstain: 1_000, totalPower: 1_000).outcome(gov, expedited: false) == .thresholdNotReached)
        // Nobody has weight: no quorum.
        #expect(GovernanceTally(totalPower: 0).outcome(gov, expedited: false) == .quorumNotReached)
    }

    // MARK: Voting power is compute

    @Test func votingPowerIsWeightNotMoney() throws {
        let chain = try Self.makeChain()
        // Account 4 (1,000 GNK, more than any participant) registers: a participant without weight.
        var register = Wire.MsgRegisterParticipant()
        register.participant = chain.address(4).description
        register.url = "http://127.0.0.1:9999"
        register.consensusPubkey = Data(chain.accounts[4].publicKey.bytes)
        register.p2PPubkey = Data(chain.accounts[4].publicKey.bytes)
        #expect(try Self.send(chain, Wire.Msg(register), by: chain.accounts[4]).txResults[0].error == nil)
        // Participant 1 (weight 20) votes yes, participant 0 (weight 10) no, the rich one yes.
        let (id, end) = try Self.propose(chain, Self.text, votes: [(1, .yes), (0, .no)])
        #expect(try Self.vote(chain, id, .yes, by: chain.accounts[4]).error == nil)
        let view = try #require(try chain.ledger.proposal(id))
        #expect(view.votes.first { $0.voter == chain.address(4).description }?.power == 0)
        _ = try Self.advance(chain, to: end)
        let p = try Self.status(chain, id)
        // Twice the weight carries twice the vote; the money carries none.
        #expect(p.finalTally.yes == 20)
        #expect(p.finalTally.no == 10)
        #expect(p.finalTally.yes == 2 * p.finalTally.no)
        #expect(p.outcome == "quorum_not_reached", "30 of 100 voted: the rich account's vote adds nothing")
    }

    // MARK: Expedited, re-votes, operators, deposits

    @Test func expeditedPassesEarlyWithTwoThirds() throws {
        let chain = try Self.makeChain()
        let (id, end) = try Self.propose(chain, Self.text, votes: [(3, .yes), (2, .yes), (0, .no)], expedited: true)
        let p0 = try Self.status(chain, id)
        #expect(end == p0.votingStartHeight + 4)
        _ = try Self.advance(chain, to: end)
        #expect(try Self.status(chain, id).status == .passed)
    }

    @Test func failedExpeditedVoteGoesOnAsANormalOne() throws {
        let chain = try Self.makeChain()
        // yes 60 of 90 = 66.67% < 66.7%: not expedited, but > 50%.
        let (id, end) = try Self.propose(chain, Self.text, votes: [(3, .yes), (1, .yes), (2, .no)], expedited: true)
        _ = try Self.advance(chain, to: end)
        let p = try Self.status(chain, id)
        #expect(p.status == .votingPeriod)
        #expect(p.convertedFromExpedited)
        #expect(!p.expedited)
        #expect(p.votingEndHeight == p.votingStartHeight + 10)
        #expect(try Self.balance(chain, Governance.moduleAddress) == 200 * Self.gnk, "deposits stay in escrow")
        _ = try Self.advance(chain, to: p.votingEndHeight)
        let done = try Self.status(chain, id)
        #expect(done.status == .passed)
        #expect(done.finalTally.yes == 60, "the votes of the expedited period still count")
    }

    @Test func theLastVoteCounts() throws {
        let chain = try Self.makeChain()
        let (id, end) = try Self.propose(chain, Self.text, votes: [(3, .no), (2, .yes), (3, .yes)])
        #expect(try chain.ledger.proposal(id)?.votes.count == 2)
        _ = try Self.advance(chain, to: end)
        let p = try Self.status(chain, id)
        #expect(p.finalTally.yes == 70 && p.finalTally.no == 0)
        #expect(p.status == .passed)
    }

    @Test func anOperatorKeyGrantedVotingVotesForItsParticipant() throws {
        let chain = try Self.makeChain()
        let participant = chain.validators[3]
        let operatorKey = chain.accounts[1]
        let (id, end) = try Self.propose(chain, Self.text, votes: [])
        // Without a grant the operator cannot vote for the participant.
        let refused = try Self.vote(chain, id, .yes, by: operatorKey, voter: participant.publicKey.address)
        #expect(refused.error?.shortDescription == "no_grant")
        var grant = Wire.MsgGrantOperator()
        grant.granter = participant.publicKey.address.description
        grant.grantee = operatorKey.publicKey.address.description
        grant.msgTypes = ["MsgVote"]
        #expect(try Self.send(chain, Wire.Msg(grant), by: participant).txResults[0].error == nil)
        let voted = try Self.vote(chain, id, .yes, by: operatorKey, voter: participant.publicKey.address)
        #expect(voted.error == nil, "\(String(describing: voted.error))")
        _ = try Self.advance(chain, to: end)
        #expect(try Self.status(chain, id).finalTally.yes == 40)
    }

    @Test func depositsOpenTheVoteOrBurnWhenThePeriodEnds() throws {
        let chain = try Self.makeChain()
        // 25 GNK (25% of the minimum) is enough to submit, not to vote.
        let r1 = try Self.submit(chain, Self.text, by: chain.validators[3], deposit: 25 * Self.gnk)
        #expect(r1.txResults[0].error == nil)
        let p1 = try #require(try chain.ledger.proposals().last)
        #expect(p1.status == .depositPeriod)
        var deposit = Wire.MsgDeposit()
        deposit.depositor = chain.address(0).description
        deposit.proposalID = p1.id
        deposit.amount = 75 * Self.gnk
        let r2 = try Self.send(chain, Wire.Msg(deposit), by: chain.accounts[0])
        #expect(r2.txResults[0].error == nil)
        let opened = try Self.status(chain, p1.id)
        #expect(opened.status == .votingPeriod)
        #expect(opened.votingStartHeight == chain.ledger.height)
        #expect(opened.deposits.count == 2)
        // A second proposal never reaches the minimum: rejected when its deposit period ends, burned.
        let r3 = try Self.submit(chain, Self.text, by: chain.validators[2], deposit: 30 * Self.gnk)
        #expect(r3.txResults[0].error == nil)
        let p2 = try #require(try chain.ledger.proposals().last)
        let burned = try chain.ledger.supply().burned.ngonka
        _ = try Self.advance(chain, to: p2.depositEndHeight)
        let ended = try Self.status(chain, p2.id)
        #expect(ended.status == .rejected)
        #expect(ended.outcome == "deposit_period_ended")
        #expect(ended.depositFate == "burned")
        #expect(try chain.ledger.supply().burned.ngonka == burned + 30 * Self.gnk)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    // MARK: Proposal kinds

    @Test func paramChangesTakeEffectAtTheirBoundary() throws {
        var params = ChainParams(epochs: .short, governance: Self.governance)
        params.defaultMaxTokens = 512
        let chain = try Self.makeChain(params: params)
        let (id, end) = try Self.propose(
            chain, Self.paramChange([("default_max_tokens", "777"), ("max_validators", "50")]),
            votes: [(3, .yes), (2, .yes)])
        _ = try Self.advance(chain, to: end - 1)
        #expect(chain.ledger.params.defaultMaxTokens == 512)
        let events = try Self.advance(chain, to: end)
        #expect(try Self.status(chain, id).status == .passed)
        // Next block: in force for the block after the tally.
        #expect(chain.ledger.params.defaultMaxTokens == 777)
        #expect(events.contains(.paramChanged(name: "default_max_tokens", value: "777")))
        // Next epoch: waits for the epoch's last block.
        #expect(chain.ledger.params.maxValidators == 100)
        let length = params.epochs.epochLength
        let boundary = (end / length + 1) * length - 1
        _ = try Self.advance(chain, to: boundary - 1)
        #expect(chain.ledger.params.maxValidators == 100)
        _ = try Self.advance(chain, to: boundary)
        #expect(chain.ledger.params.maxValidators == 50)
        // The parameters are state: a ledger reopened over the store reads the changed values.
        let reopened = try Ledger(store: chain.store)
        #expect(reopened.params == chain.ledger.params)
    }

    @Test func trainingFundSpendPaysTheRecipientAndNothingElseMoves() throws {
        let chain = try Self.makeChain()
        let recipient = chain.address(4)
        let (id, end) = try Self.propose(chain, Self.spend(recipient, 1_234 * Self.gnk), votes: [(3, .yes), (2, .yes)])
        _ = try Self.advance(chain, to: end - 1)
        let watched =
            chain.accounts.map(\.publicKey.address) + chain.validators.map(\.publicKey.address)
            + ["training_fund", "community_pool", "fee_collector", "inference"].compactMap(Ledger.moduleAddress)
        let before = try watched.map { try Self.balance(chain, $0) }
        let supply = try chain.ledger.supply()
        _ = try Self.advance(chain, to: end)
        #expect(try Self.status(chain, id).status == .passed)
        let after = try watched.map { try Self.balance(chain, $0) }
        let proposer = chain.validators[3].publicKey.address
        let fund = try #require(Ledger.moduleAddress("training_fund"))
        for (address, (b, a)) in zip(watched, zip(before, after)) {
            switch address {
            case recipient: #expect(a == b + 1_234 * Self.gnk)
            case fund: #expect(a == b - 1_234 * Self.gnk)
            case proposer: #expect(a == b + 100 * Self.gnk, "the deposit came back")
            default: #expect(a == b, "\(address) moved")
            }
        }
        #expect(try chain.ledger.supply() == supply)
    }

    @Test func communityPoolSpendPaysFromThePool() throws {
        let chain = try Self.makeChain()
        let recipient = chain.address(4)
        let pool = try #require(Ledger.moduleAddress("community_pool"))
        let before = try Self.balance(chain, recipient)
        let (_, end) = try Self.propose(
            chain, Self.spend(recipient, 10 * Self.gnk, training: false), votes: [(3, .yes), (2, .yes)])
        _ = try Self.advance(chain, to: end)
        #expect(try Self.balance(chain, recipient) == before + 10 * Self.gnk)
        #expect(try Self.balance(chain, pool) == Self.fund.ngonka - 10 * Self.gnk)
    }

    @Test func registerAndRetireAModel() throws {
        let chain = try Self.makeChain()
        var info = Wire.ModelInfo()
        info.id = "new-model"
        info.tokensPerSecondPerWeight = 2
        info.validationThresholdPpm = 3_000
        info.sampler = "opaque"
        var register = Wire.ProposalContent()
        register.registerModel.model = info
        let (_, end) = try Self.propose(chain, register, votes: [(3, .yes), (2, .yes)])
        #expect(try chain.ledger.models().isEmpty)
        _ = try Self.advance(chain, to: end)
        let model = try #require(try chain.ledger.models().first { $0.info.id == "new-model" })
        #expect(model.info.validationThresholdPpm == 3_000)
        #expect(model.info.sampler == "opaque")
        var retire = Wire.ProposalContent()
        retire.retireModel.modelID = "new-model"
        let (_, end2) = try Self.propose(chain, retire, votes: [(3, .yes), (2, .yes)])
        _ = try Self.advance(chain, to: end2)
        #expect(try chain.ledger.models().isEmpty)
    }

    // MARK: Software upgrade

    /// A test-only upgrade handler: writes a marker key and changes a parameter.
    static let testUpgrade = UpgradeHandler(name: "test-upgrade") { migration throws(LedgerError) in
        migration.set(Array("test/upgraded".utf8), Array("yes".utf8))
        var params = try migration.params()
        params.defaultMaxTokens = 4_321
        try migration.setParams(params)
    }

    @Test func anUnknownUpgradeHaltsAtItsHeightAndAKnownOneContinuesWithTheSameAppHash() throws {
        let chain = try Self.makeChain()
        let knowing = try Self.makeChain(upgrades: UpgradeRegistry.compiledIn.adding([Self.testUpgrade]))
        let upgradeHeight: UInt64 = 20
        for c in [chain, knowing] {
            let (id, end) = try Self.propose(
                c, Self.upgrade("test-upgrade", height: upgradeHeight), votes: [(3, .yes), (2, .yes)])
            _ = try Self.advance(c, to: end)
            #expect(try Self.status(c, id).status == .passed)
            #expect(try c.ledger.upgradePlan()?.height == upgradeHeight)
            _ = try Self.advance(c, to: upgradeHeight - 1)
        }
        #expect(chain.ledger.appHash == knowing.ledger.appHash)
        // The binary that does not know it halts before block 20 and commits nothing.
        let hashBefore = chain.ledger.appHash
        let halt = #expect(throws: LedgerError.self) { try chain.finalize([]) }
        #expect(halt?.shortDescription == "upgrade_required")
        #expect(halt?.description.contains("\"test-upgrade\"") == true)
        #expect(halt?.description.contains("height 20") == true)
        #expect(chain.ledger.height == upgradeHeight - 1)
        #expect(chain.ledger.appHash == hashBefore)
        // Restarting the same binary refuses, with the same message.
        let refusal = #expect(throws: LedgerError.self) { _ = try Ledger(store: chain.store) }
        #expect(refusal?.description == halt?.description)
        // Restarted with a binary that knows the upgrade: the chain continues from height 20, with
        // the app hash of a node that knew it all along.
        let restarted = try Ledger(store: chain.store, upgrades: .init([Self.testUpgrade]))
        let context = BlockContext(chainID: TestChain.chainID, height: upgradeHeight, time: 0, proposer: nil)
        let resumed = try restarted.finalize(block: [], context: context)
        let original = try knowing.finalize([])
        #expect(resumed.events.contains(.upgradeApplied(name: "test-upgrade", height: upgradeHeight)))
        #expect(resumed.appHash == original.appHash)
        #expect(restarted.params.defaultMaxTokens == 4_321)
        let next = try restarted.finalize(
            block: [],
            context: BlockContext(chainID: TestChain.chainID, height: upgradeHeight + 1, time: 0, proposer: nil))
        #expect(next.appHash == (try knowing.finalize([])).appHash)
        #expect(try restarted.upgradePlan() == nil)
    }

    // MARK: Bad input: rejected with a reason, nothing changed

    /// Runs `msg` by `key` in a block and checks it was refused with `code` and that neither the
    /// proposals, their votes nor the signer's balance changed.
    static func expectRefused(
        _ chain: TestChain, _ msg: Wire.Msg, by key: SigningKey, code: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let signer = key.publicKey.address
        let proposals = try chain.ledger.proposals()
        let views = try proposals.map { try chain.ledger.proposal($0.id) }
        let balance = try Self.balance(chain, signer)
        let sequence = try chain.ledger.account(signer).sequence
        let result = try Self.send(chain, msg, by: key).txResults[0]
        #expect(
            result.error?.shortDescription == code, "\(String(describing: result.error))",
            sourceLocation: sourceLocation)
        let reason = result.error.map { "\($0)" } ?? ""
        #expect(!reason.isEmpty, sourceLocation: sourceLocation)
        #expect(try chain.ledger.proposals() == proposals, sourceLocation: sourceLocation)
        #expect(try proposals.map { try chain.ledger.proposal($0.id) } == views, sourceLocation: sourceLocation)
        #expect(try Self.balance(chain, signer) == balance, sourceLocation: sourceLocation)
        #expect(try chain.ledger.account(signer).sequence == sequence, sourceLocation: sourceLocation)
    }

    static func submitMsg(
        _ chain: TestChain, _ content: Wire.ProposalContent, by key: SigningKey, deposit: UInt64 = 100 * gnk
    ) -> Wire.Msg {
        var msg = Wire.MsgSubmitProposal()
        msg.proposer = key.publicKey.address.description
        msg.deposit = deposit
        msg.title = "bad"
        msg.content = content
        return Wire.Msg(msg)
    }

    static func voteMsg(_ id: UInt64, voter: Address, _ option: Wire.VoteOption = .yes) -> Wire.Msg {
        var msg = Wire.MsgVote()
        msg.voter = voter.description
        msg.proposalID = id
        msg.option = option
        return Wire.Msg(msg)
    }

    @Test func badVotesAreRefused() throws {
        let chain = try Self.makeChain()
        let (id, end) = try Self.propose(chain, Self.text, votes: [])
        // A non-participant, however rich.
        try Self.expectRefused(
            chain, Self.voteMsg(id, voter: chain.address(0)), by: chain.accounts[0], code: "not_participant")
        // An unknown proposal.
        let voter = chain.validators[1]
        try Self.expectRefused(
            chain, Self.voteMsg(99, voter: voter.publicKey.address), by: voter, code: "unknown_proposal")
        // No option.
        try Self.expectRefused(
            chain, Self.voteMsg(id, voter: voter.publicKey.address, .unspecified), by: voter, code: "invalid_field")
        // After the period.
        _ = try Self.advance(chain, to: end)
        try Self.expectRefused(
            chain, Self.voteMsg(id, voter: voter.publicKey.address), by: voter, code: "proposal_closed")
    }

    @Test(arguments: [
        ("no_such_param", "1", "unknown_parameter"),
        ("default_max_tokens", "0", "out_of_bounds"),
        ("max_attempts", "1000", "out_of_bounds"),
        ("default_max_tokens", "-5", "out_of_bounds"),
        ("default_max_tokens", "\"512\"", "wrong_type"),
        ("default_max_tokens", "1.5", "wrong_type"),
        ("default_max_tokens", "not json", "wrong_type"),
        ("epochs.poc_model", "7", "genesis_only_parameter"),
        ("epochs.epoch_length", "240", "genesis_only_parameter"),
        ("epochs.max_individual_power_ppm", "300000", "genesis_only_parameter"),
        ("price_band_low_ppm", "900000", "inconsistent_parameters"),
    ])
    func badParameterChangesAreRefused(name: String, value: String, code: String) throws {
        let chain = try Self.makeChain()
        try Self.expectRefused(
            chain, Self.submitMsg(chain, Self.paramChange([(name, value)]), by: chain.validators[3]),
            by: chain.validators[3], code: code)
    }

    @Test func otherBadProposalsAreRefused() throws {
        let chain = try Self.makeChain()
        let proposer = chain.validators[3]
        // A spend above the fund (10,000 GNK).
        try Self.expectRefused(
            chain, Self.submitMsg(chain, Self.spend(chain.address(4), Self.fund.ngonka + 1), by: proposer),
            by: proposer,
            code: "spend_above_fund")
        try Self.expectRefused(
            chain,
            Self.submitMsg(chain, Self.spend(chain.address(4), Self.fund.ngonka + 1, training: false), by: proposer),
            by: proposer, code: "spend_above_fund")
        // A deposit below the minimum initial deposit (25% of 100 GNK).
        try Self.expectRefused(
            chain, Self.submitMsg(chain, Self.text, by: proposer, deposit: 25 * Self.gnk - 1), by: proposer,
            code: "deposit_below_minimum")
        // An upgrade at a past (and at the current) height.
        let height = (chain.ledger.height ?? 0) + 1
        try Self.expectRefused(
            chain, Self.submitMsg(chain, Self.upgrade("v2", height: height - 1), by: proposer), by: proposer,
            code: "upgrade_height_passed")
        try Self.expectRefused(
            chain, Self.submitMsg(chain, Self.upgrade("v2", height: height + 1), by: proposer), by: proposer,
            code: "upgrade_height_passed")
        // A proposer that is not a participant.
        try Self.expectRefused(
            chain, Self.submitMsg(chain, Self.text, by: chain.accounts[0]), by: chain.accounts[0],
            code: "not_participant")
        // No kind; retiring an unknown model; an invalid model.
        try Self.expectRefused(
            chain, Self.submitMsg(chain, Wire.ProposalContent(), by: proposer), by: proposer, code: "invalid_proposal")
        var retire = Wire.ProposalContent()
        retire.retireModel.modelID = "nope"
        try Self.expectRefused(
            chain, Self.submitMsg(chain, retire, by: proposer), by: proposer, code: "unknown_model")
        var register = Wire.ProposalContent()
        register.registerModel.model.id = "m"
        register.registerModel.model.tokensPerSecondPerWeight = 1
        register.registerModel.model.validationThresholdPpm = 1_000
        register.registerModel.model.sampler = "magic"
        try Self.expectRefused(
            chain, Self.submitMsg(chain, register, by: proposer), by: proposer, code: "invalid_proposal")
        // A deposit on an unknown proposal, and a zero deposit.
        var deposit = Wire.MsgDeposit()
        deposit.depositor = chain.address(0).description
        deposit.proposalID = 42
        deposit.amount = 1
        try Self.expectRefused(chain, Wire.Msg(deposit), by: chain.accounts[0], code: "unknown_proposal")
    }

    @Test func anExecutionThatNoLongerFitsFailsAndChangesNothing() throws {
        let chain = try Self.makeChain()
        let recipient = chain.address(4)
        // Two spends of 6,000 each from the 10,000 fund: both fit when submitted, only one when run.
        let a = try Self.propose(chain, Self.spend(recipient, 6_000 * Self.gnk), votes: [(3, .yes), (2, .yes)])
        let b = try Self.propose(chain, Self.spend(recipient, 6_000 * Self.gnk), votes: [(3, .yes), (2, .yes)])
        _ = try Self.advance(chain, to: max(a.end, b.end))
        #expect(try Self.status(chain, a.id).status == .passed)
        let failed = try Self.status(chain, b.id)
        #expect(failed.status == .failed)
        #expect(failed.outcome.hasPrefix("execution_failed"))
        #expect(failed.depositFate == "refunded")
        #expect(
            try chain.ledger.balance(of: try #require(Ledger.moduleAddress("training_fund"))).ngonka == 4_000 * Self.gnk
        )
    }
}
