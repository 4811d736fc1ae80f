import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Storage
import SwiftProtobuf
import Testing

@testable import Ledger

/// Modules Collateral and Slashing (PROTOCOL §5.6, §9): deposits, withdrawals that unbond and are
/// released, the collateral term of the weight, exact slash amounts, liveness jail, unjail,
/// double-sign evidence and the collateral invariant; every bad input rejected with its reason.
@Suite struct CollateralSlashingTests {
    static let gnk = Amount.ngonkaPerGNK

    /// Two genesis validators whose account keys are their consensus keys (funded 1,000 GNK each).
    static func makeChain(_ params: ChainParams = .devnet) throws -> TestChain {
        try TestChain(accounts: 3, params: params, validatorAccounts: 2)
    }

    static func deposit(_ chain: TestChain, _ index: Int, _ amount: UInt64) throws -> [UInt8] {
        let msg = Wire.MsgDepositCollateral.with {
            $0.participant = chain.address(index).description
            $0.amount = amount
        }
        return try chain.sign(chain.body([Wire.Msg(msg)], signer: chain.accounts[index]), by: chain.accounts[index])
    }

    static func withdraw(_ chain: TestChain, _ index: Int, _ amount: UInt64) throws -> [UInt8] {
        let msg = Wire.MsgWithdrawCollateral.with {
            $0.participant = chain.address(index).description
            $0.amount = amount
        }
        return try chain.sign(chain.body([Wire.Msg(msg)], signer: chain.accounts[index]), by: chain.accounts[index])
    }

    static func unjail(_ chain: TestChain, _ index: Int) throws -> [UInt8] {
        let msg = Wire.MsgUnjail.with { $0.validator = chain.address(index).description }
        return try chain.sign(chain.body([Wire.Msg(msg)], signer: chain.accounts[index]), by: chain.accounts[index])
    }

    /// Runs one tx in its own block; a rejected tx does not consume the sequence.
    @discardableResult
    static func run(_ chain: TestChain, _ index: Int, _ tx: [UInt8], signers: [Address]? = nil) throws -> TxResult {
        let result = try chain.finalize([tx], signers: signers).txResults[0]
        chain.sequences[chain.address(index)] = try chain.ledger.account(chain.address(index)).sequence
        return result
    }

    static func collateralAccount(_ chain: TestChain) throws -> Amount {
        try chain.ledger.balance(of: try #require(Ledger.moduleAddress("collateral")))
    }

    // MARK: Collateral

    @Test func depositAndWithdrawMoveCoinsAndTheWithdrawalIsReleasedAtTheEpochStart() throws {
        let chain = try Self.makeChain()
        let before = try chain.balance(0)
        let deposit = try Self.run(chain, 0, try Self.deposit(chain, 0, 300 * Self.gnk))
        #expect(deposit.isSuccess, "\(String(describing: deposit.error))")
        #expect(try chain.ledger.collateral(chain.address(0)).deposit == 300 * Self.gnk)
        #expect(try Self.collateralAccount(chain) == Amount(ngonka: 300 * Self.gnk))
        let afterDeposit = try chain.balance(0)
        #expect(before.ngonka - afterDeposit.ngonka > 300 * Self.gnk, "the deposit and the fee")
        // Withdraw 100 GNK at height 2: released at ⌈(2 + 120) / 120⌉ · 120 = 240.
        let withdrawal = try Self.run(chain, 0, try Self.withdraw(chain, 0, 100 * Self.gnk))
        #expect(withdrawal.isSuccess)
        let record = try chain.ledger.collateral(chain.address(0))
        #expect(record.deposit == 200 * Self.gnk)
        #expect(record.unbonding.map(\.amount) == [100 * Self.gnk])
        #expect(record.unbonding.map(\.releaseHeight) == [240])
        #expect(try Self.collateralAccount(chain) == Amount(ngonka: 300 * Self.gnk), "unbonding stays in the account")
        let afterWithdraw = try chain.balance(0)
        while (chain.ledger.height ?? 0) < 239 { try chain.finalize([]) }
        #expect(try chain.balance(0) == afterWithdraw, "not before the release height")
        let released = try chain.finalize([])
        let release = LedgerEvent.collateralReleased(
            participant: chain.address(0), amount: Amount(ngonka: 100 * Self.gnk))
        #expect(released.events.contains(release))
        #expect(try chain.balance(0) == Amount(ngonka: afterWithdraw.ngonka + 100 * Self.gnk))
        #expect(try chain.ledger.collateral(chain.address(0)).unbonding.isEmpty)
        #expect(try Self.collateralAccount(chain) == Amount(ngonka: 200 * Self.gnk))
        #expect(try chain.ledger.collateralInvariantViolation() == nil)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    @Test func aWithdrawalAboveTheDepositIsRefusedAndChangesNothing() throws {
        let chain = try Self.makeChain()
        try Self.run(chain, 0, try Self.deposit(chain, 0, 10 * Self.gnk))
        let balance = try chain.balance(0)
        let result = try Self.run(chain, 0, try Self.withdraw(chain, 0, 10 * Self.gnk + 1))
        #expect(result.error?.shortDescription == "insufficient_collateral")
        #expect(try chain.ledger.collateral(chain.address(0)).deposit == 10 * Self.gnk)
        #expect(try chain.ledger.collateral(chain.address(0)).unbonding.isEmpty)
        #expect(try chain.balance(0) == balance)
        // Zero amounts and a deposit above the balance are refused too.
        #expect(try Self.run(chain, 0, try Self.withdraw(chain, 0, 0)).error?.shortDescription == "invalid_amount")
        #expect(
            try Self.run(chain, 0, try Self.deposit(chain, 0, 5_000 * Self.gnk)).error?.shortDescription
                == "insufficient_funds")
        #expect(try Self.collateralAccount(chain) == Amount(ngonka: 10 * Self.gnk))
    }

    @Test(arguments: [
        // (raw, collateral GNK, weight) with base share 20% and 1 GNK per weight.
        (UInt64(1_000), UInt64(0), UInt64(200)), (1_000, 500, 700), (1_000, 800, 1_000), (1_000, 10_000, 1_000),
        (7, 0, 1), (7, 3, 4), (7, 100, 7), (0, 100, 0),
    ])
    func theCollateralTermOfTheWeight(raw: UInt64, collateral: UInt64, weight: UInt64) {
        let params = CollateralParams(graceEpochs: 0)
        #expect(params.weight(raw: raw, collateral: Amount(ngonka: collateral * Self.gnk)) == weight)
        #expect(params.applies(toEpoch: 1))
        #expect(!CollateralParams.devnet.applies(toEpoch: 1_000), "devnet: grace outlasts any devnet")
    }

    @Test func theCollateralInvariantStopsABlockWhenTheAccountDisagrees() throws {
        let chain = try Self.makeChain()
        try Self.run(chain, 0, try Self.deposit(chain, 0, 10 * Self.gnk))
        let height = chain.ledger.height
        // A deposit record grows without coins behind it: written straight into the store.
        var record = try chain.ledger.collateral(chain.address(0))
        record.deposit += 1
        try chain.store.set(StateKey.collateral(chain.address(0)), try record.serializedBytes())
        let violation = #expect(throws: LedgerError.self) { try chain.finalize([]) }
        #expect(violation?.shortDescription == "invariant_violated")
        #expect(violation?.description.contains("collateral") == true)
        #expect(chain.ledger.height == height)
    }

    // MARK: Liveness, jail, unjail

    @Test func aValidatorSigningLessThanHalfOfTheWindowIsSlashedOnePercentAndJailed() throws {
        let chain = try Self.makeChain()
        try Self.run(chain, 0, try Self.deposit(chain, 0, 1_000 * Self.gnk - 100_000_000))
        let down = chain.address(0)
        let up = chain.address(1)
        let deposit = try chain.ledger.collateral(down).deposit
        // Blocks 2…101 carry only the other validator's precommit: at 101 the window is full.
        var jailing: BlockResult?
        while jailing == nil, (chain.ledger.height ?? 0) < 150 {
            let result = try chain.finalize([], signers: [up])
            if result.events.contains(where: { if case .slashed = $0 { true } else { false } }) { jailing = result }
        }
        #expect(jailing?.height == 101)
        // It leaves the validator set two heights later.
        #expect(jailing?.validatorUpdates.map(\.address) == [up])
        #expect(try chain.ledger.validatorSets().last?.fromHeight == 103)
        let info = try chain.ledger.signingInfo(down)
        #expect(info.jailed && !info.tombstoned)
        #expect(info.jailedUntil == 101 + ChainParams.devnet.slashing.jailBlocks)
        let slashes = try chain.ledger.slashes(of: down)
        #expect(slashes.count == 1)
        #expect(slashes.first?.reason == "liveness")
        #expect(slashes.first?.burnedDeposit == deposit / 100, "exactly 1%")
        #expect(try chain.ledger.collateral(down).deposit == deposit - deposit / 100)
        #expect(!(try chain.ledger.signingInfo(up)).jailed, "the signing validator is untouched")
        #expect(try chain.ledger.slashes(of: up).isEmpty)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
        #expect(try chain.ledger.collateralInvariantViolation() == nil)
        // Jailed validators are left out of every set computed later (the epoch switch).
        let record = try #require(try chain.ledger.epoch(0))
        let excluded = try Epochs.excludedAddresses(in: StateContext(store: chain.store))
        let members = Epochs.validatorMembers(record, params: .devnet, excluding: excluded)
        #expect(members.map(\.address) == [up.description])

        // Unjail: too early, then at jailed_until.
        let early = try Self.run(chain, 0, try Self.unjail(chain, 0), signers: [up])
        #expect(early.error?.shortDescription == "still_jailed")
        #expect(try chain.ledger.signingInfo(down).jailed)
        while (chain.ledger.height ?? 0) + 1 < info.jailedUntil { try chain.finalize([], signers: [up]) }
        let unjailing = try chain.finalize([try Self.unjail(chain, 0)], signers: [up])
        chain.sequences[down] = try chain.ledger.account(down).sequence
        #expect(unjailing.txResults[0].isSuccess, "\(String(describing: unjailing.txResults[0].error))")
        #expect(!(try chain.ledger.signingInfo(down)).jailed)
        // Back in the set from two heights later, with its weight.
        #expect(Set(unjailing.validatorUpdates.map(\.address)) == [up, down])
        #expect(unjailing.validatorUpdates.allSatisfy { $0.power == 10 })
        // Not jailed any more: a second unjail is refused.
        #expect(try Self.run(chain, 0, try Self.unjail(chain, 0)).error?.shortDescription == "not_jailed")
        #expect(try Self.run(chain, 2, try Self.unjail(chain, 2)).error?.shortDescription == "not_jailed")
    }

    @Test func aValidatorSigningHalfTheWindowIsNotJailed() throws {
        let chain = try Self.makeChain()
        let a = chain.address(0)
        let b = chain.address(1)
        for h in 0..<150 { try chain.finalize([], signers: h % 2 == 0 ? [a, b] : [b]) }
        #expect(!(try chain.ledger.signingInfo(a)).jailed, "50% signed is not below 50%")
        #expect(try chain.ledger.slashes().isEmpty)
    }

    // MARK: Double sign

    static func evidence(_ chain: TestChain, _ index: Int, height: UInt64) -> DoubleSignEvidence {
        DoubleSignEvidence(validator: chain.address(index), height: height, round: 0, voteType: 2)
    }

    @Test func doubleSignEvidenceSlashesFivePercentAndTombstones() throws {
        let chain = try Self.makeChain()
        try Self.run(chain, 1, try Self.deposit(chain, 1, 400 * Self.gnk))
        try Self.run(chain, 1, try Self.withdraw(chain, 1, 100 * Self.gnk))
        try chain.finalize([])
        let result = try chain.finalize([], evidence: [Self.evidence(chain, 1, height: 3)])
        let cheater = chain.address(1)
        #expect(
            result.events.contains(
                .slashed(
                    participant: cheater, reason: "double_sign", amount: Amount(ngonka: 20 * Self.gnk), jailed: true,
                    tombstoned: true)))
        let record = try chain.ledger.collateral(cheater)
        #expect(record.deposit == 285 * Self.gnk, "5% of the deposit")
        #expect(record.unbonding.map(\.amount) == [95 * Self.gnk], "5% of what is unbonding")
        #expect(try chain.ledger.signingInfo(cheater).tombstoned)
        // Tombstoned: never unjailed; further evidence is already punished, and is ignored in a block.
        #expect(try Self.run(chain, 1, try Self.unjail(chain, 1)).error?.shortDescription == "tombstoned")
        let again = chain.ledger.evidenceProblem(Self.evidence(chain, 1, height: 4), atHeight: 7)
        #expect(again?.description.contains("already punished") == true)
        try chain.finalize([], evidence: [Self.evidence(chain, 1, height: 4)])
        #expect(try chain.ledger.slashes(of: cheater).count == 1)
        #expect(try chain.ledger.collateralInvariantViolation() == nil)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    @Test func badEvidenceIsRefusedWithItsReasonAndChangesNothing() throws {
        var params = ChainParams.devnet
        params.slashing.evidenceMaxAgeBlocks = 5
        let chain = try Self.makeChain(params)
        for _ in 0..<10 { try chain.finalize([]) }
        let unknown = DoubleSignEvidence(validator: chain.address(2), height: 8, round: 0, voteType: 1)
        #expect(chain.ledger.evidenceProblem(unknown, atHeight: 11)?.description.contains("unknown validator") == true)
        let old = Self.evidence(chain, 0, height: 5)
        #expect(chain.ledger.evidenceProblem(old, atHeight: 11)?.description.contains("too old") == true)
        let future = Self.evidence(chain, 0, height: 12)
        #expect(chain.ledger.evidenceProblem(future, atHeight: 11)?.description.contains("after block") == true)
        #expect(chain.ledger.evidenceProblem(Self.evidence(chain, 0, height: 6), atHeight: 11) == nil)
        // Such evidence in a block (which the node refuses before consensus) changes nothing.
        let result = try chain.finalize([], evidence: [unknown, old, future])
        #expect(!result.events.contains { if case .slashed = $0 { true } else { false } })
        #expect(try chain.ledger.slashes().isEmpty)
        #expect(!(try chain.ledger.signingInfo(chain.address(0))).tombstoned)
    }

    // MARK: INVALID (§7.4) and executor downtime

    @Test func anInvalidExecutorIsSlashedTwentyPercentOfItsCollateral() throws {
        typealias V = ValidationLedgerTests
        let chain = try V.makeChain()
        let cheaterKey = chain.validators[1]
        let cheater = cheaterKey.publicKey.address
        let fund = Wire.Msg.send(from: chain.address(0), to: cheater, amount: 100 * Self.gnk)
        try V.block(chain, [try chain.sign(chain.body([fund], signer: chain.accounts[0]), by: chain.accounts[0])])
        let deposit = Wire.MsgDepositCollateral.with {
            $0.participant = cheater.description
            $0.amount = 50 * Self.gnk
        }
        let deposited = try V.block(
            chain, [try chain.sign(chain.body([Wire.Msg(deposit)], signer: cheaterKey), by: cheaterKey)])
        #expect(deposited.txResults[0].isSuccess, "\(String(describing: deposited.txResults[0].error))")
        let first = V.others(chain, excluding: cheater)[0]
        var convicted = false
        for served in try (0..<5).map({ try V.served(chain, executor: cheater, tag: "s\($0)") }) {
            try V.send(chain, V.validation(served.id, by: first.publicKey.address, passed: false), by: first)
            let voting = try #require(try chain.ledger.validations(of: served.id).voting)
            for revalidator in voting.revalidators {
                let key = try #require(chain.validatorKey(try Address(revalidator.address)))
                let result = try V.send(
                    chain, V.validation(served.id, by: key.publicKey.address, passed: false, vote: true), by: key)
                if result.events.contains(.executorInvalid(executor: cheater, epoch: 0)) { convicted = true }
            }
        }
        #expect(convicted)
        let slashes = try chain.ledger.slashes(of: cheater)
        #expect(slashes.map(\.reason) == ["invalid"])
        #expect(slashes.first?.burnedDeposit == 10 * Self.gnk, "exactly 20% of 50 GNK")
        #expect(try chain.ledger.collateral(cheater).deposit == 40 * Self.gnk)
        #expect(try chain.ledger.collateralInvariantViolation() == nil)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    @Test func executorDowntimeAboveFivePercentIsSlashedTenPercentAtTheEpochBoundary() throws {
        let chain = try Self.makeChain()
        try Self.run(chain, 0, try Self.deposit(chain, 0, 100 * Self.gnk))
        try Self.run(chain, 1, try Self.deposit(chain, 1, 100 * Self.gnk))
        // Epoch 0's stats: account 0 served 94 and missed 6 (6% > 5%), account 1 served 95 and missed 5.
        let state = StateContext(store: chain.store)
        var stats = try ValidationStore.stats(0, chain.address(0), in: state)
        stats.served = 94
        stats.missed = 6
        try ValidationStore.saveStats(stats, in: state)
        var other = try ValidationStore.stats(0, chain.address(1), in: state)
        other.served = 95
        other.missed = 5
        try ValidationStore.saveStats(other, in: state)
        let context = BlockContext(chainID: TestChain.chainID, height: 3, time: 0, proposer: nil)
        let events = try Slashing.endEpoch(0, context: context, params: .devnet, state: state)
        #expect(
            events == [
                .slashed(
                    participant: chain.address(0), reason: "downtime", amount: Amount(ngonka: 10 * Self.gnk),
                    jailed: false, tombstoned: false)
            ])
        #expect(try Collateral.record(chain.address(0), in: state).deposit == 90 * Self.gnk)
        #expect(try Collateral.record(chain.address(1), in: state).deposit == 100 * Self.gnk, "5% is not above 5%")
    }
}
