import Foundation
import GonkaCore
import GonkaWire

/// Module PoC (PROTOCOL §5.3–5.4): seeds, batches and validations of the sprint in progress.
///
/// Only integers: distances arrive as `distance_nano = ⌊d × 10⁹⌋` and are compared with
/// `r_target_nano`; the ledger never recomputes a distance (validators do, off chain, and their
/// evidence is stored so a lying validator can be caught).
///
/// The participant's PoC key (the `pk` of §5.2) and a validator's sampling key (§5.4) are their
/// consensus public keys in lowercase hex, from the participant record.
enum PoC {
    static let maxNodeIDBytes = 64

    static func sprint(
        _ p: UInt64, _ participant: Address, in state: StateContext
    ) throws(LedgerError)
        -> Wire.PocSprintRecord?
    {
        try state.record(Wire.PocSprintRecord.self, at: StateKey.pocSprint(p, participant), what: "poc sprint record")
    }

    static func batches(
        _ p: UInt64, _ participant: Address, in state: StateContext
    ) throws(LedgerError)
        -> [Wire.PocBatchRecord]
    {
        try state.records(
            Wire.PocBatchRecord.self, withPrefix: StateKey.pocBatchPrefix(p, participant), what: "poc batch")
    }

    /// The participant's submitted nonces at P, ascending (the nonce markers' key order).
    static func nonces(_ p: UInt64, _ participant: Address, in state: StateContext) throws(LedgerError) -> [UInt64] {
        let prefix = StateKey.pocNoncePrefix(p, participant)
        var out: [UInt64] = []
        for entry in try state.entries(withPrefix: prefix) {
            out.append(try BigEndian.decode(Array(entry.key.dropFirst(prefix.count)), what: "nonce key"))
        }
        return out
    }

    static func validations(
        _ p: UInt64, _ participant: Address, in state: StateContext
    ) throws(LedgerError)
        -> [Wire.MsgSubmitPocValidation]
    {
        try state.records(
            Wire.MsgSubmitPocValidation.self, withPrefix: StateKey.pocValidationPrefix(p, participant),
            what: "poc validation")
    }

    /// The sprint whose window is open at `height`, as (epoch, P), or `nil` in epoch 0.
    private static func sprint(at height: UInt64, params: EpochParams) -> (epoch: UInt64, p: UInt64)? {
        let position = EpochSchedule(params).position(at: height)
        return position.pocStartHeight.map { (position.epoch, $0) }
    }

    private static func registered(_ address: Address, in state: StateContext) throws(LedgerError) -> Wire.Participant {
        guard let record = try Participants.participant(address, in: state) else { throw .notParticipant(address) }
        return record
    }

    // MARK: MsgCommitSeed

    static func handle(
        _ msg: Wire.MsgCommitSeed, context: BlockContext, params: ChainParams, in state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let participant = try parseAddress(msg.participant, field: "participant")
        _ = try registered(participant, in: state)
        let schedule = EpochSchedule(params.epochs)
        let window = sprint(at: context.height, params: params.epochs)
        guard let window, msg.epoch == window.epoch, schedule.acceptsSeeds(context.height, p: window.p) else {
            throw .outsideWindow(
                "seed for epoch \(msg.epoch) at height \(context.height) (seeds are accepted from P to the end of generation of that epoch's sprint)"
            )
        }
        let (epoch, p) = window
        guard msg.seedHash.count == 32 else { throw .invalidField("seed_hash", "must be 32 bytes (SHA-256)") }
        var record = try sprint(p, participant, in: state) ?? Wire.PocSprintRecord()
        guard record.seedHash.isEmpty else { throw .duplicate("seed already committed for epoch \(epoch)") }
        record.seedHash = msg.seedHash
        try state.setRecord(record, at: StateKey.pocSprint(p, participant))
        return [.seedCommitted(participant: participant, epoch: epoch)]
    }

    // MARK: MsgSubmitPocBatch

    static func handle(
        _ msg: Wire.MsgSubmitPocBatch, context: BlockContext, params: ChainParams, in state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let participant = try parseAddress(msg.participant, field: "participant")
        _ = try registered(participant, in: state)
        let epochs = params.epochs
        let window = sprint(at: context.height, params: epochs)
        guard let p = window?.p, msg.pocStartHeight == p, EpochSchedule(epochs).acceptsBatches(context.height, p: p)
        else {
            throw .outsideWindow(
                "batch for the sprint at \(msg.pocStartHeight) at height \(context.height) (batches are accepted over [P+1, P+\(epochs.exchangeEnd)) of the current sprint)"
            )
        }
        guard !msg.mlNodeID.isEmpty, msg.mlNodeID.utf8.count <= maxNodeIDBytes else {
            throw .invalidField("ml_node_id", "must be 1–\(maxNodeIDBytes) bytes")
        }
        guard msg.nodeCount > 0, msg.nodeIndex < msg.nodeCount else {
            throw .invalidField("node_index", "\(msg.nodeIndex) is not below node_count \(msg.nodeCount)")
        }
        guard !msg.nonces.isEmpty else { throw .invalidField("nonces", "at least one nonce is needed") }
        guard UInt64(msg.nonces.count) <= epochs.maxPocBatchNonces else {
            throw .invalidField("nonces", "\(msg.nonces.count) nonces, more than \(epochs.maxPocBatchNonces)")
        }
        guard msg.distancesNano.count == msg.nonces.count else {
            throw .invalidField("distances_nano", "\(msg.distancesNano.count) distances for \(msg.nonces.count) nonces")
        }
        var record = try sprint(p, participant, in: state) ?? Wire.PocSprintRecord()
        guard record.nodeCount == 0 || record.nodeCount == msg.nodeCount else {
            throw .invalidField("node_count", "\(msg.nodeCount), but this sprint's batches use \(record.nodeCount)")
        }
        let noncePrefix = StateKey.pocNoncePrefix(p, participant)
        for (nonce, distance) in zip(msg.nonces, msg.distancesNano) {
            guard nonce % UInt64(msg.nodeCount) == UInt64(msg.nodeIndex) else {
                throw .invalidField(
                    "nonces", "nonce \(nonce) is not in lattice \(msg.nodeIndex) mod \(msg.nodeCount)")
            }
            guard distance < epochs.rTargetNano else {
                throw .distanceTooLarge(nonce: nonce, distanceNano: distance, rTargetNano: epochs.rTargetNano)
            }
            // One key per nonce: a duplicate (in this batch or any earlier one of the sprint) is a
            // point lookup, not a scan. Writes of this transaction are visible to the lookups.
            let key = noncePrefix + BigEndian.encode(nonce)
            guard try state.get(key) == nil else { throw .duplicate("nonce \(nonce) was already submitted") }
            state.set(key, [1])
        }
        // §5.7: ⌊n/2⌋ of the participant's n nodes keep serving inference this sprint; they carry
        // weight instead of mining, so a batch from one of them is refused.
        if msg.nodeCount >= 2, let epoch = window?.epoch {
            let model = try Epochs.servingModel(in: state)
            let owner = participant.description
            let count = UInt64(msg.nodeCount)
            guard
                !ServingNodes.serving(epoch: epoch, participant: owner, model: model, nodeCount: count)
                    .contains(UInt64(msg.nodeIndex))
            else {
                let mining = ServingNodes.mining(epoch: epoch, participant: owner, model: model, nodeCount: count)
                throw .invalidField(
                    "node_index",
                    "node \(msg.nodeIndex) of \(msg.nodeCount) keeps serving inference in epoch \(epoch) "
                        + "(PROTOCOL §5.7); the mining nodes are \(mining)")
            }
        }
        var batch = Wire.PocBatchRecord()
        batch.mlNodeID = msg.mlNodeID
        batch.nodeIndex = msg.nodeIndex
        batch.nodeCount = msg.nodeCount
        batch.nonces = msg.nonces
        batch.distancesNano = msg.distancesNano
        batch.height = context.height
        try state.setRecord(batch, at: StateKey.pocBatchPrefix(p, participant) + BigEndian.encode(record.batches))
        record.nodeCount = msg.nodeCount
        record.batches += 1
        record.nonces += UInt64(msg.nonces.count)
        try state.setRecord(record, at: StateKey.pocSprint(p, participant))
        return [
            .pocBatch(participant: participant, pocStartHeight: p, mlNodeID: msg.mlNodeID, nonces: msg.nonces.count)
        ]
    }

    // MARK: MsgSubmitPocValidation

    static func handle(
        _ msg: Wire.MsgSubmitPocValidation, context: BlockContext, params: ChainParams, in state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let validator = try parseAddress(msg.validator, field: "validator")
        let participant = try parseAddress(msg.participant, field: "participant")
        let epochs = params.epochs
        let window = sprint(at: context.height, params: epochs)
        guard let window, msg.pocStartHeight == window.p,
            EpochSchedule(epochs).acceptsValidations(context.height, p: window.p)
        else {
            throw .outsideWindow(
                "validation for the sprint at \(msg.pocStartHeight) at height \(context.height) (validations are accepted over [P+\(epochs.validationStart), P+\(epochs.validationEnd)) of the current sprint)"
            )
        }
        let (epoch, p) = window
        guard
            let member = try Epochs.validatorSet(forHeight: context.height, in: state)?.validators.first(where: {
                $0.address == validator.description
            })
        else { throw .notValidator(validator) }
        guard validator != participant else { throw .invalidField("participant", "a validator cannot validate itself") }
        guard let submitted = try sprint(p, participant, in: state), submitted.nonces > 0 else {
            throw .notParticipant(participant)
        }
        let key = StateKey.pocValidationPrefix(p, participant) + validator.bytes
        guard try state.get(key) == nil else {
            throw .duplicate("\(validator) already validated \(participant) in this sprint")
        }
        let blockHash = try Epochs.epoch(epoch, in: state)?.pocBlockHash ?? Data()
        let expected = PocSampling.sample(
            nonces: try nonces(p, participant, in: state), validatorKeyHex: Hex.encode(Array(member.consensusPubkey)),
            blockHashHex: Hex.encode(Array(blockHash)), count: Int(clamping: epochs.pocValidationSample))
        guard msg.sampledNonces == expected else {
            throw .invalidField(
                "sampled_nonces", "not this validator's deterministic sample of \(expected.count) nonces (§5.4)")
        }
        guard msg.recomputedNano.count == msg.sampledNonces.count else {
            throw .invalidField(
                "recomputed_nano", "\(msg.recomputedNano.count) distances for \(msg.sampledNonces.count) nonces")
        }
        let verdict = PocVerdict(recomputedNano: msg.recomputedNano, params: epochs)
        let fraud = verdict.fraud
        guard msg.fraud == fraud else {
            throw .invalidField(
                "fraud",
                "\(msg.fraud) contradicts the evidence: \(verdict.mismatches) of \(msg.recomputedNano.count) recomputed distances ≥ r_target (fraud iff ≥ \(epochs.pocFraudMinMismatches))"
            )
        }
        try state.setRecord(msg, at: key)
        return [.pocValidation(validator: validator, participant: participant, pocStartHeight: p, fraud: fraud)]
    }
}
