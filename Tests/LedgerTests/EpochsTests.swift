import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// Module Epochs: the schedule as a function of height, the power cap, parameters in genesis, and
/// a whole sprint from seeds to the validator set consensus receives.
@Suite struct EpochsTests {
    @Test func scheduleOfTheShortParameters() {
        let s = EpochSchedule(.short)
        let genesis = s.position(at: 5)
        #expect(genesis.epoch == 0 && genesis.stage == .genesis && genesis.pocStartHeight == nil)
        #expect(genesis.nextStageHeight == 30 && genesis.blocksToNextStage == 25 && genesis.nextStage == .seedCommit)
        let expected: [(UInt64, EpochSchedule.Stage, UInt64)] = [
            (30, .seedCommit, 31), (31, .generation, 38), (37, .generation, 38), (38, .exchange, 40),
            (40, .closed, 41), (41, .validation, 46), (45, .validation, 46), (46, .weights, 49),
            (49, .switch, 50), (50, .claim, 60), (59, .claim, 60), (60, .seedCommit, 61),
        ]
        for (h, stage, next) in expected {
            let at = s.position(at: h)
            #expect(at.stage == stage, "stage at \(h)")
            #expect(at.nextStageHeight == next, "next stage after \(h)")
            #expect(at.epoch == h / 30)
            #expect(at.pocStartHeight == h / 30 * 30)
        }
        #expect(s.isStageStart(30) && s.isStageStart(31) && s.isStageStart(49) && !s.isStageStart(32))
        #expect(!s.isStageStart(0) && !s.isStageStart(1))
        // Devnet: PROTOCOL §4's table.
        let d = EpochSchedule(.devnet)
        #expect(d.position(at: 120).stage == .seedCommit && d.position(at: 140).stage == .exchange)
        #expect(d.position(at: 144).stage == .validation && d.position(at: 154).stage == .weights)
        #expect(d.position(at: 159).stage == .switch && d.position(at: 160).stage == .claim)
    }

    @Test func powerCapHandExamples() {
        // Four equal: exactly 25% each, nothing to cap.
        #expect(PowerCap.apply([10, 10, 10, 10], maxPpm: 250_000) == [10, 10, 10, 10])
        // [100,100,100,100,1000]: k = 4 is the first with p·10⁶ > L·(S + p·1) (10⁹ > 0.25·1400·10⁶);
        // cap = ⌊0.25·400 / 0.75⌋ = 133 (133/533 = 24.95%).
        #expect(PowerCap.apply([1000, 100, 100, 100, 100], maxPpm: 250_000) == [133, 100, 100, 100, 100])
        // Two above the line: [10,10,10,10,50,60]: at k = 4, 50 > 0.25·(40 + 100) = 35 → cap =
        // ⌊0.25·40 / (1 − 0.5)⌋ = 20; both capped.
        #expect(PowerCap.apply([10, 50, 10, 60, 10, 10], maxPpm: 250_000) == [10, 20, 10, 20, 10, 10])
        // Three participants: the limit relaxes to 40%: [10,20,40] → cap ⌊0.4·30 / 0.6⌋ = 20.
        #expect(PowerCap.apply([40, 20, 10], maxPpm: 250_000) == [20, 20, 10])
        // Two: 50% → the larger comes down to the smaller.
        #expect(PowerCap.apply([40, 20], maxPpm: 250_000) == [20, 20])
        // One: no cap.
        #expect(PowerCap.apply([7], maxPpm: 250_000) == [7])
        // A limit below 1/n is raised to 1/n: with 4 and 10%, equal weights stay.
        #expect(PowerCap.apply([5, 5, 5, 5], maxPpm: 100_000) == [5, 5, 5, 5])
        // Large weights do not overflow (128-bit intermediates).
        let big = UInt64(1) << 60
        #expect(PowerCap.apply([big, 1 << 50, 1 << 50, 1 << 50, 1 << 50], maxPpm: 250_000)[1] == 1 << 50)
    }

    @Test func paramsDecodeWithDefaultsAndValidate() throws {
        // An older genesis without the epochs object gets the devnet defaults.
        let old = try JSONDecoder().decode(ChainParams.self, from: Data(#"{"min_gas_price": 3}"#.utf8))
        #expect(old.epochs == .devnet && old.minGasPrice == 3)
        let partial = try JSONDecoder().decode(
            ChainParams.self, from: Data(#"{"epochs": {"epoch_length": 240, "r_target_nano": 7}}"#.utf8))
        #expect(partial.epochs.epochLength == 240 && partial.epochs.rTargetNano == 7)
        #expect(partial.epochs.switchOffset == EpochParams.devnet.switchOffset)
        // Round trip.
        let encoded = try JSONEncoder().encode(ChainParams(epochs: .short))
        #expect(try JSONDecoder().decode(ChainParams.self, from: encoded).epochs == .short)
        #expect(EpochParams.devnet.problem == nil && EpochParams.short.problem == nil)
        // A genesis whose switch is too close to the weights is refused, naming the problem.
        var bad = EpochParams.short
        bad.switchOffset = bad.weightsOffset + 1
        var params = ChainParams.devnet
        params.epochs = bad
        let chain = try TestChain()
        var genesis = chain.genesis
        genesis.params = params
        #expect(throws: LedgerError.self) { try genesis.validate() }
    }

    @Test func genesisIsEpochZero() throws {
        let f = try PocFixture()
        let zero = try #require(try f.chain.ledger.epoch(0))
        #expect(zero.status == "active" && zero.totalWeight == 40 && zero.participants.count == 4)
        #expect(zero.participants.allSatisfy { $0.weight == 10 && $0.status == "genesis" })
        let set = try #require(try f.chain.ledger.validatorSet(forHeight: 1))
        #expect(set.fromHeight == 1 && set.validators.count == 4)
        #expect(Set(set.validators.map(\.consensusKey)) == Set((0..<4).map { f.key($0).publicKey }))
    }

    /// A whole sprint: three honest participants with different nonce counts, one whose distances
    /// do not recompute (every validator finds it out), and a registered non-validator that does
    /// not mine. The weights appear at P+16 (capped), consensus receives them at P+17 for P+19.
    @Test func sprintWeightsBecomeValidatorPowersAtTheSwitch() throws {
        let f = try PocFixture()
        try f.advance(toNext: 20)
        #expect(try f.block([f.register(4)]).txResults.allSatisfy(\.isSuccess))
        try f.advance(toNext: PocFixture.p)
        let atP = try f.block((0..<4).map { try f.tx(f.seed($0), from: $0) })
        #expect(atP.txResults.allSatisfy { $0.isSuccess }, "\(atP.txResults.compactMap { $0.error })")
        #expect(atP.events.contains(.pocStage(epoch: 1, stage: "seed_commit", pocStartHeight: 30, blockHash: "")))
        let gen = try f.block()
        let h = PocFixture.blockHash(PocFixture.p).hex
        #expect(gen.events.first == .pocStage(epoch: 1, stage: "generation", pocStartHeight: 30, blockHash: h))
        #expect(try f.chain.ledger.epoch(1)?.pocBlockHash == Data(PocFixture.blockHash(PocFixture.p).bytes))
        // Participant 0: three ML nodes, one keeps serving (§5.7), the two others mine 40 nonces in
        // two batches; 1: 20; 2: 10 (the cheat); 3: 25.
        let model = f.chain.genesis.models.map(\.id).min() ?? ""
        let mining = ServingNodes.mining(epoch: 1, participant: f.address(0).description, model: model, nodeCount: 3)
        #expect(mining.count == 2)
        let txs = try [
            f.tx(
                f.batch(0, nonces: (0..<20).map { $0 * 3 + mining[0] }, index: UInt32(mining[0]), count: 3), from: 0),
            f.tx(
                f.batch(0, nonces: (0..<20).map { $0 * 3 + mining[1] }, index: UInt32(mining[1]), count: 3), from: 0),
            f.tx(f.batch(1, nonces: Array(100..<120)), from: 1),
            f.tx(f.batch(2, nonces: Array(0..<10)), from: 2),
            f.tx(f.batch(3, nonces: Array(0..<25)), from: 3),
        ]
        let batches = try f.block(txs)
        #expect(batches.txResults.allSatisfy { $0.isSuccess }, "\(batches.txResults.compactMap { $0.error })")
        try f.advance(toNext: PocFixture.p + f.epochs.validationStart)
        var validations: [[UInt8]] = []
        for v in 0..<4 {
            for x in 0..<4 where x != v {
                validations.append(try f.tx(f.validation(v, of: x, far: x == 2 ? 6 : 0), from: v))
            }
        }
        let validated = try f.block(validations)
        #expect(validated.txResults.allSatisfy { $0.isSuccess }, "\(validated.txResults.compactMap { $0.error })")
        try f.advance(toNext: PocFixture.p + f.epochs.weightsOffset)
        let weights = try f.block()
        let record = try #require(try f.chain.ledger.epoch(1))
        #expect(record.status == "computed" && record.switchHeight == 49)
        let byAddress = Dictionary(uniqueKeysWithValues: record.participants.map { ($0.address, $0) })
        // Participant 0's raw weight: 40 nonces + its serving node's carried weight, the genesis
        // power 10 over the one node it had then (§5.7) = 50.
        // Accepted raw weights 50, 20, 25 → n = 3, limit 40%: sorted [20,25,50], k = 3:
        // 50 > 0.4·(45 + 50) = 38 → cap = ⌊0.4·45 / 0.6⌋ = 30.
        #expect(byAddress[f.address(0).description]?.rawWeight == 50)
        #expect(byAddress[f.address(0).description]?.weight == 30)
        #expect(byAddress[f.address(1).description]?.weight == 20)
        #expect(byAddress[f.address(3).description]?.weight == 25)
        #expect(byAddress[f.address(2).description]?.status == "rejected")
        #expect(byAddress[f.address(2).description]?.weight == 0)
        #expect(byAddress[f.address(4).description]?.status == "no_batches")
        #expect(record.totalWeight == 75)
        #expect(
            weights.events.contains(
                .weightComputed(epoch: 1, participant: f.address(0), weight: 30, status: "accepted")))
        // Consensus: nothing until P+17, the whole new set at P+17, nothing after.
        try f.advance(toNext: 52)
        for h in UInt64(1)...51 where h != 47 {
            #expect(f.results[h]?.validatorUpdates.isEmpty ?? true, "no validator updates at \(h)")
        }
        let updates = try #require(f.results[47]?.validatorUpdates)
        #expect(
            Set(updates.map { "\($0.address):\($0.power)" })
                == ["\(f.address(0)):30", "\(f.address(1)):20", "\(f.address(3)):25"])
        let keys = Dictionary(uniqueKeysWithValues: f.chain.accounts.map { ($0.publicKey.address, $0.publicKey) })
        #expect(updates.allSatisfy { update in update.consensusKey == keys[update.address] })
        // Heights before the switch keep the genesis set; from 49 on the new one signs.
        #expect(try f.chain.ledger.validatorSet(forHeight: 48)?.fromHeight == 1)
        #expect(try f.chain.ledger.validatorSet(forHeight: 49)?.fromHeight == 49)
        #expect(try f.chain.ledger.validatorSet(forHeight: 49)?.validators.count == 3)
        #expect(try f.chain.ledger.epoch(1)?.status == "active")
        #expect(try f.chain.ledger.epoch(0)?.status == "past")
        // The epoch seed is hash(block 49), recorded by block 50.
        #expect(try f.chain.ledger.epoch(1)?.epochSeed == Data(PocFixture.blockHash(49).bytes))
    }

    /// §5.5: the votes a participant needs are a majority of everyone else's weight. Four equal
    /// validators; participant 3 casts no vote (down through the validation stage) and 1 does not
    /// vote on 2. Each of 0 and 1 has two of the three others' 30 (20 > 15): accepted, where a
    /// majority of all 40 (20 is not > 20) rejected them; 2 has one (10): rejected.
    @Test func oneValidatorDownDoesNotRejectTheOthers() throws {
        let f = try PocFixture()
        try f.advance(toNext: PocFixture.p)
        #expect(try f.block((0..<4).map { try f.tx(f.seed($0), from: $0) }).txResults.allSatisfy(\.isSuccess))
        _ = try f.block()
        let batches = try f.block(
            (0..<4).map { try f.tx(f.batch($0, nonces: (0..<(10 + 5 * UInt64($0))).map { $0 }), from: $0) })
        #expect(batches.txResults.allSatisfy { $0.isSuccess }, "\(batches.txResults.compactMap { $0.error })")
        try f.advance(toNext: PocFixture.p + f.epochs.validationStart)
        var validations: [[UInt8]] = []
        for v in 0..<3 {
            for x in 0..<4 where x != v && !(v == 1 && x == 2) {
                validations.append(try f.tx(f.validation(v, of: x, far: 0), from: v))
            }
        }
        let validated = try f.block(validations)
        #expect(validated.txResults.allSatisfy { $0.isSuccess }, "\(validated.txResults.compactMap { $0.error })")
        try f.advance(toNext: PocFixture.p + f.epochs.weightsOffset)
        _ = try f.block()
        let record = try #require(try f.chain.ledger.epoch(1))
        let status = record.participants.map { "\($0.address):\($0.status)" }
        #expect(
            Set(status) == [
                "\(f.address(0)):accepted", "\(f.address(1)):accepted", "\(f.address(2)):rejected",
                "\(f.address(3)):accepted",
            ])
    }

    @Test func acceptanceNeedsAMajorityOfTheOthersWeight() {
        // Four validators of 10: the others hold 30, a majority is above 15.
        #expect(Epochs.isAccepted(yes: 20, total: 40, own: 10))
        #expect(!Epochs.isAccepted(yes: 15, total: 40, own: 10))
        // A newcomer without current weight needs a majority of all of it.
        #expect(Epochs.isAccepted(yes: 21, total: 40, own: 0))
        #expect(!Epochs.isAccepted(yes: 20, total: 40, own: 0))
        // The sole validator has nobody to check it; weight the set does not hold is clamped.
        #expect(!Epochs.isAccepted(yes: 0, total: 10, own: 10))
        #expect(!Epochs.isAccepted(yes: 0, total: 10, own: 11))
    }

    /// Nobody mines: the epoch keeps the current validators, so the chain never runs out of them.
    @Test func emptySprintKeepsTheValidators() throws {
        let f = try PocFixture()
        try f.advance(toNext: 52)
        let record = try #require(try f.chain.ledger.epoch(1))
        #expect(
            record.participants.count == 4 && record.participants.allSatisfy { $0.status == "kept" && $0.weight == 10 })
        #expect(f.results[47]?.validatorUpdates.count == 4)
        #expect(try f.chain.ledger.validatorSet(forHeight: 60)?.validators.map(\.power) == [10, 10, 10, 10])
    }

    @Test func samplingIsDeterministicAndBounded() {
        let nonces = (0..<1_000).map { UInt64($0 * 3) }
        let a = PocSampling.sample(nonces: nonces, validatorKeyHex: "ab", blockHashHex: "cd", count: 200)
        let b = PocSampling.sample(nonces: nonces.reversed(), validatorKeyHex: "AB", blockHashHex: "cd", count: 200)
        let c = PocSampling.sample(nonces: nonces, validatorKeyHex: "ac", blockHashHex: "cd", count: 200)
        #expect(a == b, "input order and key case do not matter")
        #expect(a.count == 200 && Set(a).count == 200 && a == a.sorted() && Set(a).isSubset(of: Set(nonces)))
        #expect(a != c, "another validator samples differently")
        #expect(
            PocSampling.sample(nonces: [5, 1, 3], validatorKeyHex: "ab", blockHashHex: "cd", count: 200) == [1, 3, 5])
    }
}
