import GonkaCore
import GonkaWire

/// `gonka bench settlement` (issue 16): the cost of settling one epoch (§8.3–§8.4) with many
/// participants and many inferences. The epoch's state is written through the module's own hooks,
/// as blocks would: each inference is settled into its executor's work counters and the audit
/// index (``Rewards/inferenceSettled(_:state:)``), every tenth passed by two validators
/// (``Rewards/validationPassed(_:by:params:state:)``); the sampling snapshot holds every
/// participant's weight. Then one end-block that settles the epoch is timed, commit included:
/// it walks participants, so its time must not grow with the inference count. The caller times
/// ``prepare(participants:inferences:store:progress:)`` and ``settle(_:)`` (the ledger reads no clock).
public enum SettlementBenchmark {
    /// An epoch written and committed, ready to settle.
    public struct Prepared {
        let store: any StateStore
        let state: StateContext
        var version: UInt64
        public let participants: Int
        public let inferences: Int
    }

    /// Writes epoch 1 with `participants` and `inferences` into `store` (empty) and commits it.
    public static func prepare(
        participants: Int, inferences: Int, store: any StateStore, progress: (String) -> Void = { _ in }
    ) throws(LedgerError) -> Prepared {
        let params = ChainParams.devnet
        let state = StateContext(store: store)
        let addresses = (0..<participants).map { i -> Address in
            var bytes = [UInt8](repeating: 0, count: 20)
            bytes[0] = 0xbe
            bytes[16] = UInt8(truncatingIfNeeded: i >> 24)
            bytes[17] = UInt8(truncatingIfNeeded: i >> 16)
            bytes[18] = UInt8(truncatingIfNeeded: i >> 8)
            bytes[19] = UInt8(truncatingIfNeeded: i)
            return Address(bytes: bytes)!
        }
        try state.transaction { () throws(LedgerError) in
            try writeEpoch(addresses, in: state)
        }
        var prepared = Prepared(
            store: store, state: state, version: 1, participants: participants, inferences: inferences)
        for n in 0..<inferences {
            try state.transaction { () throws(LedgerError) in
                try writeInference(n, addresses, params: params, in: state)
            }
            if (n + 1) % 50_000 == 0 {
                try flush(&prepared)
                progress("wrote \(n + 1) of \(inferences) inferences")
            }
        }
        // The requesters' refunds left with their Finishes: the account holds the costs.
        try state.transaction { () throws(LedgerError) in
            let owed = try RewardsStore.liabilities(in: state)
            try Bank.mint(Amount(ngonka: owed.unsettledCost), to: Inference.moduleAddress, in: state)
        }
        try flush(&prepared)
        return prepared
    }

    /// The timed part: the end-block that settles the epoch, flushed and committed. Returns how
    /// many settlements it recorded; checks the §8.3 invariants afterwards.
    public static func settle(_ prepared: inout Prepared) throws(LedgerError) -> Int {
        let state = prepared.state
        let context = BlockContext(chainID: "bench", height: prepared.version, time: 0, proposer: nil)
        _ = try state.transaction { () throws(LedgerError) in
            try Rewards.endBlock(context: context, params: .devnet, state: state)
        }
        try flush(&prepared)
        let committed = StateContext(store: prepared.store)
        guard let record = try RewardsStore.epochSettlement(1, in: committed) else {
            throw .invariantViolated("the benchmark epoch did not settle")
        }
        if let violation = try Rewards.checkInvariants(in: committed) { throw .invariantViolated(violation) }
        return Int(record.participants)
    }

    /// Epoch 1's snapshot and pool, and epoch 3 as the current epoch (epoch 1's window closed).
    private static func writeEpoch(_ addresses: [Address], in state: StateContext) throws(LedgerError) {
        var snapshot = Wire.ValidationEpoch()
        snapshot.epoch = 1
        for (i, address) in addresses.enumerated() {
            var entry = Wire.ValidationWeight()
            entry.address = address.description
            entry.weight = UInt64(100 + i % 50)
            snapshot.weights.append(entry)
        }
        try state.setRecord(snapshot, at: StateKey.validationEpoch(1))
        var pool = Wire.ExecutorSet()
        pool.epoch = 3
        try state.setRecord(pool, at: StateKey.executorSet)
        var totals = Wire.RewardTotals()
        totals.nextEpoch = 1
        try RewardsStore.saveTotals(totals, in: state)
        try Bank.mint(Amount(gnk: 680_000_000)!, to: Rewards.miningPool, in: state)
    }

    /// Inference `n`: escrowed, finished (its executor's counters, the audit index), and every
    /// tenth passed by two validators.
    private static func writeInference(
        _ n: Int, _ addresses: [Address], params: ChainParams, in state: StateContext
    ) throws(LedgerError) {
        let participants = addresses.count
        var rec = Wire.InferenceRecord()
        rec.inferenceID = Hash.sha256("bench-\(n)").hex
        rec.executor = addresses[n % participants].description
        rec.model = "bench-model"
        rec.epoch = 1
        rec.escrow = 3_000
        rec.cost = 2_000 + UInt64(n % 1_000)
        try Rewards.escrowOpened(rec.escrow, in: state)
        try Rewards.inferenceSettled(rec, state: state)
        guard n % 10 == 0, participants > 2 else { return }
        for k in 1...2 {
            let validator = addresses[(n + k) % participants]
            var record = Wire.ValidationRecord()
            record.inferenceID = rec.inferenceID
            record.validator = validator.description
            record.passed = true
            try state.setRecord(record, at: StateKey.validationRecord(rec.inferenceID, validator))
            try Rewards.validationPassed(rec, by: validator, params: params.rewards, state: state)
        }
    }

    private static func flush(_ prepared: inout Prepared) throws(LedgerError) {
        try prepared.state.flush()
        do {
            _ = try prepared.store.commit(version: prepared.version)
        } catch {
            throw .storage(error)
        }
        prepared.version += 1
        prepared.state.reset()
    }
}
