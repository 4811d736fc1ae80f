import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// Module Rewards on a real ledger (PROTOCOL §8): epochs settle once their validation window has
/// closed, reward coins follow weight over W_ref, work coins follow the inferences' costs minus the
/// training fund's share, validators that passed an inference split its validator share, a claim
/// pays only when the revealed seed's obligations were all met, unclaimed settlements burn after
/// the window, and the three invariants hold after every block. Expected amounts are recomputed
/// here from the inference and validation records, not with the module's own arithmetic.
@Suite struct RewardsLedgerTests {
    static let model = InferenceTests.model
    static let miningPool = Amount(gnk: 680_000_000)!

    /// Four participants (weights 10, 20, 30, 40), 30-block epochs, a funded mining pool.
    static func makeChain() throws -> TestChain {
        var params = ChainParams.devnet
        params.epochs = .short
        return try TestChain(
            accounts: 4, params: params, validatorPowers: [10, 20, 30, 40],
            models: [Genesis.Model(id: model, tokensPerSecondPerWeight: 1, validationThresholdPpm: 50_000)],
            moduleAccounts: [.init(name: "mining_pool", balance: miningPool)])
    }

    /// Blocks until the ledger's height is `height`; every block commits only if the invariants hold.
    static func advance(_ chain: TestChain, to height: UInt64) throws {
        while (chain.ledger.height ?? 0) < height { try ValidationLedgerTests.block(chain) }
    }

    @discardableResult
    static func send(_ chain: TestChain, _ msg: Wire.Msg, by key: SigningKey) throws -> TxResult {
        let address = key.publicKey.address
        let sequence = try chain.ledger.account(address).sequence
        let tx = try chain.sign(chain.body([msg], signer: key, fee: 0, sequence: sequence), by: key)
        let result = try ValidationLedgerTests.block(chain, [tx]).txResults[0]
        chain.sequences[address] = try chain.ledger.account(address).sequence
        return result
    }

    static func claim(_ participant: Address, epoch: UInt64, seed: [UInt8]) -> Wire.Msg {
        var msg = Wire.MsgClaimRewards()
        msg.participant = participant.description
        msg.epoch = epoch
        msg.seed = Data(seed)
        return Wire.Msg(msg)
    }

    static func seed(_ index: Int) -> [UInt8] { (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) } }

    /// What the test expects of one epoch, from the records: Σ cost per executor and each
    /// validator's share of the inferences it passed.
    struct Expected {
        var earned: [Address: UInt64] = [:]
        var sharesOut: [Address: UInt64] = [:]
        var sharesIn: [Address: UInt64] = [:]

        mutating func add(_ id: String, chain: TestChain) throws {
            let record = try #require(try chain.ledger.inference(id))
            guard record.status != .invalidated else { return }
            let executor = try Address(record.executor)
            earned[executor, default: 0] += record.cost
            let passers = try chain.ledger.validations(of: id).validations.filter(\.passed)
            guard !passers.isEmpty else { return }
            let each = record.cost / 10 / UInt64(passers.count)  // validator_share 10%
            for passer in passers { sharesIn[try Address(passer.validator), default: 0] += each }
            sharesOut[executor, default: 0] += each * UInt64(passers.count)
        }

        func work(_ address: Address) -> UInt64 {
            let earned = earned[address] ?? 0
            return earned - earned / 5 - (sharesOut[address] ?? 0) + (sharesIn[address] ?? 0)  // fund 20%
        }

        var trainingFund: UInt64 { earned.values.reduce(0) { $0 + $1 / 5 } }
    }

    static func settlement(_ chain: TestChain, _ epoch: UInt64, _ address: Address) throws -> Wire.Settlement? {
        try RewardQueries.settlements(of: address, epoch: epoch, in: chain.store).first
    }

    @Test func epochsSettleAndClaimsPayOrBurnByTheirRules() throws {
        let chain = try Self.makeChain()
        let keys = chain.validators  // weights 10, 20, 30, 40
        let addresses = keys.map(\.publicKey.address)
        let weights: [UInt64] = [10, 20, 30, 40]

        // Epoch 0: three inferences, one passed by two validators, and a user tx paying a fee.
        var epoch0 = Expected()
        var ids0: [String] = []
        for n in 0..<3 { ids0.append(try ValidationLedgerTests.served(chain, tag: "e0-\(n)").id) }
        let first = try #require(try chain.ledger.inference(ids0[0]))
        for key in keys.filter({ $0.publicKey.address.description != first.executor }).prefix(2) {
            let r = try ValidationLedgerTests.send(
                chain, ValidationLedgerTests.validation(ids0[0], by: key.publicKey.address, passed: true), by: key)
            #expect(r.error == nil, "\(String(describing: r.error))")
        }
        for id in ids0 { try epoch0.add(id, chain: chain) }
        let feeTx = try chain.send(from: 1, to: 2, amount: 1_000, fee: 50_000)
        #expect(try ValidationLedgerTests.block(chain, [feeTx]).txResults[0].isSuccess)
        let fees0: UInt64 = 50_000

        // Sprint 1 (P = 30): v1, v2, v3 commit seeds; v0 does not.
        try Self.advance(chain, to: 30)
        for i in 1...3 {
            var commit = Wire.MsgCommitSeed()
            commit.participant = addresses[i].description
            commit.epoch = 1
            commit.seedHash = Data(Hash.sha256(Self.seed(i)).bytes)
            let r = try Self.send(chain, Wire.Msg(commit), by: keys[i])
            #expect(r.error == nil, "\(String(describing: r.error))")
        }
        // Epoch 1 begins at 50 (switch 49 + 1). Eight inferences; v3 and v1 check every one they
        // may, v2 none.
        try Self.advance(chain, to: 50)
        #expect(try RewardQueries.currentEpoch(in: chain.store) == 1)
        var ids1: [String] = []
        for n in 0..<8 { ids1.append(try ValidationLedgerTests.served(chain, tag: "e1-\(n)").id) }
        for id in ids1 {
            let executor = try #require(try chain.ledger.inference(id)).executor
            for i in [3, 1] where addresses[i].description != executor {
                let r = try ValidationLedgerTests.send(
                    chain, ValidationLedgerTests.validation(id, by: addresses[i], passed: true), by: keys[i])
                #expect(r.error == nil, "\(String(describing: r.error))")
            }
        }
        var epoch1 = Expected()
        for id in ids1 { try epoch1.add(id, chain: chain) }
        // v2's seed obliged it to some of them (issue 9's obligation, from the epoch's snapshot).
        let inputs = try #require(try ValidationStore.obligationInputs(1, in: StateContext(store: chain.store)))
        let finished = try ids1.map { id in
            let r = try #require(try chain.ledger.inference(id))
            return ValidationObligations.FinishedInference(id: id, executor: try Address(r.executor), model: r.model)
        }
        let obligedV2 = try ValidationObligations.obligations(
            validator: addresses[2], seed: try #require(Hash(bytes: Self.seed(2))), inferences: finished,
            snapshot: inputs.snapshot(model: Self.model), params: chain.genesis.params.validation)
        try #require(!obligedV2.isEmpty, "the fixture needs v2 to owe at least one validation")

        // Nothing is settled while an epoch's validation window is open.
        #expect(try RewardQueries.epoch(0, in: chain.store) == nil)
        let poolBefore = try chain.ledger.balance(of: Ledger.moduleAddress("mining_pool")!)
        // Epoch 0 settles when epoch 2 begins (height 80).
        try Self.advance(chain, to: 79)
        #expect(try RewardQueries.epoch(0, in: chain.store) == nil)
        try Self.advance(chain, to: 80)
        let settled0 = try #require(try RewardQueries.epoch(0, in: chain.store))
        #expect(settled0.summary.issuance == 0)  // R(0): genesis is no sprint
        #expect(settled0.summary.fees == fees0)
        #expect(settled0.summary.totalWeight == 100)
        #expect(settled0.summary.referenceWeight == 100)
        #expect(settled0.summary.trainingFund == epoch0.trainingFund)
        for (i, address) in addresses.enumerated() {
            let s = try Self.settlement(chain, 0, address)
            let reward = fees0 * weights[i] / 100
            #expect(s?.reward ?? 0 == reward, "reward of v\(i)")
            #expect(s?.work ?? 0 == epoch0.work(address), "work of v\(i)")
            #expect(s?.status ?? "pending" == "pending")
        }
        #expect(
            try chain.ledger.balance(of: Ledger.moduleAddress("mining_pool")!).ngonka
                == poolBefore.ngonka + fees0 - settled0.summary.rewardPaid)

        // Epoch 0 had no commitments: claims carry no seed and are not audited.
        let r0 = try Self.send(chain, Self.claim(addresses[3], epoch: 0, seed: []), by: keys[3])
        #expect(r0.error == nil, "\(String(describing: r0.error))")
        #expect(try Self.settlement(chain, 0, addresses[3])?.status == "claimed")

        // Epoch 1 settles when epoch 3 begins (height 110), with R(1) = R₀.
        try Self.advance(chain, to: 110)
        let settled1 = try #require(try RewardQueries.epoch(1, in: chain.store))
        let r1 = EpochIssuance.reward(epoch: 1, params: chain.genesis.params.rewards)
        #expect(settled1.summary.issuance == r1)
        #expect(r1 == 323_000_000_000_000)
        #expect(settled1.summary.referenceWeight == 100)
        var owed: [UInt64] = []
        for (i, address) in addresses.enumerated() {
            let s = try #require(try Self.settlement(chain, 1, address))
            #expect(s.reward == r1 * weights[i] / 100, "reward of v\(i)")
            #expect(s.work == epoch1.work(address), "work of v\(i)")
            owed.append(s.reward + s.work)
        }
        #expect(
            try chain.ledger.balance(of: Ledger.moduleAddress("training_fund")!).ngonka
                == epoch0.trainingFund + epoch1.trainingFund)

        // Bad claims change nothing.
        let before = try chain.ledger.balance(of: addresses[3])
        let early = try Self.send(chain, Self.claim(addresses[3], epoch: 2, seed: Self.seed(3)), by: keys[3])
        #expect(early.error?.shortDescription == "outside_window")
        let wrongSeed = try Self.send(chain, Self.claim(addresses[3], epoch: 1, seed: Self.seed(9)), by: keys[3])
        #expect(wrongSeed.error?.shortDescription == "seed_mismatch")
        let shortSeed = try Self.send(chain, Self.claim(addresses[3], epoch: 1, seed: [1, 2, 3]), by: keys[3])
        #expect(shortSeed.error?.shortDescription == "invalid_field")
        let forOther = try Self.send(chain, Self.claim(addresses[1], epoch: 1, seed: Self.seed(1)), by: keys[3])
        #expect(forOther.error?.shortDescription == "no_grant")
        #expect(try chain.ledger.balance(of: addresses[3]) == before)
        #expect(try Self.settlement(chain, 1, addresses[3])?.status == "pending")
        #expect(try Self.settlement(chain, 1, addresses[1])?.status == "pending")

        // v3 met every obligation: paid exactly its settlement.
        let paid = try Self.send(chain, Self.claim(addresses[3], epoch: 1, seed: Self.seed(3)), by: keys[3])
        #expect(paid.error == nil, "\(String(describing: paid.error))")
        #expect(try chain.ledger.balance(of: addresses[3]).ngonka == before.ngonka + owed[3])
        let twice = try Self.send(chain, Self.claim(addresses[3], epoch: 1, seed: Self.seed(3)), by: keys[3])
        #expect(twice.error?.shortDescription == "duplicate")
        // v2 skipped its obligations: the whole settlement burns.
        let burnedBefore = try chain.ledger.supply().burned
        let v2Before = try chain.ledger.balance(of: addresses[2])
        let missed = try Self.send(chain, Self.claim(addresses[2], epoch: 1, seed: Self.seed(2)), by: keys[2])
        #expect(missed.error == nil, "\(String(describing: missed.error))")
        let v2 = try #require(try Self.settlement(chain, 1, addresses[2]))
        #expect(v2.status == "burned" && v2.reason == "missed_validations")
        #expect(v2.missedValidations == UInt64(obligedV2.count))
        #expect(try chain.ledger.balance(of: addresses[2]) == v2Before)
        // v0 committed no seed for epoch 1: its weight cannot be audited.
        let noSeed = try Self.send(chain, Self.claim(addresses[0], epoch: 1, seed: Self.seed(0)), by: keys[0])
        #expect(noSeed.error == nil)
        #expect(try Self.settlement(chain, 1, addresses[0])?.reason == "no_seed_commitment")
        #expect(try chain.ledger.supply().burned.ngonka == burnedBefore.ngonka + owed[2] + owed[0])

        // v1 never claims: burned when epoch 4 begins (height 140), and then too late to claim.
        try Self.advance(chain, to: 139)
        #expect(try Self.settlement(chain, 1, addresses[1])?.status == "pending")
        try Self.advance(chain, to: 140)
        let v1 = try #require(try Self.settlement(chain, 1, addresses[1]))
        #expect(v1.status == "burned" && v1.reason == "unclaimed")
        let late = try Self.send(chain, Self.claim(addresses[1], epoch: 1, seed: Self.seed(1)), by: keys[1])
        #expect(late.error?.shortDescription == "duplicate")

        // The books: every coin of the settlements is claimed, burned or still pending.
        let supply = try RewardQueries.supply(in: chain.store)
        // Height 140 also settled epoch 2 (R(2), nobody served).
        let settled2 = try #require(try RewardQueries.epoch(2, in: chain.store))
        #expect(settled2.summary.issuance == EpochIssuance.reward(epoch: 2, params: chain.genesis.params.rewards))
        #expect(
            supply.totals.rewardIssued
                == settled0.summary.rewardPaid + settled1.summary.rewardPaid + settled2.summary.rewardPaid)
        #expect(
            try chain.ledger.balance(of: Ledger.moduleAddress("mining_pool")!).ngonka == Self.miningPool.ngonka + fees0
                - supply.totals.rewardIssued)
        #expect(supply.modules["rewards"]?.ngonka == supply.totals.pending)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
        #expect(try Rewards.checkInvariants(in: StateContext(store: chain.store)) == nil)
    }

    /// The invariants stop a commit: a genesis whose `inference` account holds coins nobody
    /// escrowed (or whose rewards account holds unrecorded settlements) never commits.
    @Test(arguments: ["inference", "rewards"])
    func unrecordedModuleMoneyStopsTheCommit(_ module: String) throws {
        #expect(throws: LedgerError.self) {
            _ = try TestChain(moduleAccounts: [.init(name: module, balance: Amount(ngonka: 5))])
        }
        // The same genesis with the coins in an account no invariant constrains commits.
        _ = try TestChain(moduleAccounts: [.init(name: "community_pool", balance: Amount(ngonka: 5))])
    }

    /// §8.3's reference: when weight disappears (a host knocked out of a sprint), the others' share
    /// rises by at most `reference_decay` per epoch; nothing is redistributed.
    @Test func theDenominatorFallsAtMostReferenceDecayPerEpoch() throws {
        let params = RewardParams.defaults
        let a = try Address(bytes: [UInt8](repeating: 1, count: 20)).unwrap()
        let b = try Address(bytes: [UInt8](repeating: 2, count: 20)).unwrap()
        let pool: UInt64 = 1_000_000_000
        let both = try EpochDistribution.compute(
            pool: pool, members: [.init(address: a, weight: 60), .init(address: b, weight: 40)], previousReference: 0,
            params: params)
        #expect(both.referenceWeight == 100)
        #expect(both.shares[0].reward == 600_000_000)
        // b is gone: W = 60, but W_ref = max(60, ⌊100 × 0.9⌋) = 90.
        let alone = try EpochDistribution.compute(
            pool: pool, members: [.init(address: a, weight: 60)], previousReference: both.referenceWeight,
            params: params)
        #expect(alone.referenceWeight == 90)
        #expect(alone.shares[0].reward == 666_666_666)
        #expect(alone.shares[0].reward * 9 <= both.shares[0].reward * 10)
        #expect(alone.rewardTotal < pool)  // the rest stays in the pool
        // Epoch after epoch the reference decays 10% until it meets the real weight.
        let later = try EpochDistribution.compute(
            pool: pool, members: [.init(address: a, weight: 60)], previousReference: alone.referenceWeight,
            params: params)
        #expect(later.referenceWeight == 81)
    }
}

extension Optional {
    fileprivate func unwrap() throws -> Wrapped {
        guard let self else { throw LedgerTestError("nil") }
        return self
    }
}
