import GonkaCore
import GonkaWire

/// `gonka bench settlement` (issue 16): the cost of settling one epoch (§8.3–§8.4) with many
/// participants and many inferences. The epoch's state is written through the module's own hooks,
/// as blocks would: each inference is settled into its executor's work counters and the audit
/// index (``Rewards/inferenceSettled(_:state:)``), every tenth passed by two validators
/// (``Rewards/validationPassed(_:by:params:state:)``); the sampling snapshot holds every
/// participant's weight. Then one end-block that settles the epoch is timed, commit included:
/// it walks participants, so its time must not grow with the inference count.
public enum SettlementBenchmark {
    public struct Result: Sendable {
        public let participants: Int
        public let inferences: Int
        /// Writing the epoch's state (not part of the settlement).
        public let setupSeconds: Double
        /// The settling end-block: ``Rewards/endBlock(context:params:state:)`` plus flush and commit.
        public let settleSeconds: Double
        public let settlements: Int
    }

    /// Runs on `store` (empty); `clock` measures seconds (the ledger reads no clock itself).
    public static func run(
        participants: Int, inferences: Int, store: any StateStore, clock: () -> Double,
        progress: (String) -> Void = { _ in }
    ) throws(LedgerError) -> Result {
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
        let start = clock()
        try state.transaction { () throws(LedgerError) in
            try writeEpoch(addresses, in: state)
        }
        var version: UInt64 = 1
        for n in 0..<inferences {
            try state.transaction { () throws(LedgerError) in
                try writeInference(n, addresses, params: params, in: state)
            }
            if (n + 1) % 50_000 == 0 {
                try flush(state, store: store, version: &version)
                progress("wrote \(n + 1) of \(inferences) inferences")
            }
        }
        // The requesters' refunds left with their Finishes: the account holds the costs.
        try state.transaction { () throws(LedgerError) in
            let owed = try RewardsStore.liabilities(in: state)
            try Bank.mint(Amount(ngonka: owed.unsettledCost), to: Inference.moduleAddress, in: state)
        }
        try flush(state, store: store, version: &version)
        let setup = clock() - start

        let before = clock()
        let context = BlockContext(chainID: "bench", height: version, time: 0, proposer: nil)
        _ = try state.transaction { () throws(LedgerError) in
            try Rewards.endBlock(context: context, params: params, state: state)
        }
        try flush(state, store: store, version: &version)
        let settle = clock() - before
        guard let record = try RewardsStore.epochSettlement(1, in: StateContext(store: store)) else {
            throw .invariantViolated("the benchmark epoch did not settle")
        }
        if let violation = try Rewards.checkInvariants(in: StateContext(store: store)) {
            throw .invariantViolated(violation)
        }
        return Result(
            participants: participants, inferences: inferences, setupSeconds: setup, settleSeconds: settle,
            settlements: Int(record.participants))
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

    private static func flush(_ state: StateContext, store: any StateStore, version: inout UInt64) throws(LedgerError) {
        try state.flush()
        do {
            _ = try store.commit(version: version)
        } catch {
            throw .storage(error)
        }
        version += 1
        state.reset()
    }
}
