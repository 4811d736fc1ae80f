import GonkaCore

/// Free protocol-duty transactions (PROTOCOL §3.4): a transaction whose messages are all duties
/// (seeds, PoC batches and validations, inference records, validations and claims) acting for registered participants may
/// offer less than the fee, at most `max_duty_txs_per_block` such transactions per
/// participant per block, so spam cannot be free. The counts live under `duty/count/` during the
/// block and are deleted at end-block, so they never reach committed state.
enum DutyTx {
    /// Message types that are protocol duties.
    static let types: Set<String> = [
        "MsgCommitSeed", "MsgSubmitPocBatch", "MsgSubmitPocValidation", "MsgStartInference", "MsgFinishInference",
        "MsgValidation", "MsgClaimRewards",
    ]

    /// Whether a transaction with these messages may go without the fee. `false` when any message
    /// is not a duty or acts for someone who is not a registered participant (the modules check who
    /// may send each message: a participant that joined mines its first sprint before it has any
    /// weight); throws
    /// `duty_tx_limit` when it would be free but a participant has used up this block's bound.
    static func isFree(
        typeNames: [String], authorities: [Address], params: ChainParams, state: StateContext
    ) throws(LedgerError) -> Bool {
        guard !typeNames.isEmpty, typeNames.allSatisfy(types.contains) else { return false }
        for authority in Set(authorities).sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            guard try Participants.participant(authority, in: state) != nil else { return false }
            guard try count(authority, in: state) < params.maxDutyTxsPerBlock else {
                throw .dutyTxLimit(participant: authority, limit: params.maxDutyTxsPerBlock)
            }
        }
        return true
    }

    /// Free duty transactions `participant` has sent in the block in progress.
    static func count(_ participant: Address, in state: StateContext) throws(LedgerError) -> UInt64 {
        guard let raw = try state.get(StateKey.dutyCount(participant)) else { return 0 }
        return try BigEndian.decode(raw, what: "duty tx count")
    }

    /// Counts one free transaction against each of its (distinct) authorities.
    static func record(authorities: [Address], in state: StateContext) throws(LedgerError) {
        for authority in Set(authorities) {
            state.set(StateKey.dutyCount(authority), BigEndian.encode(try count(authority, in: state) + 1))
        }
    }
}
