import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf

/// Reads the Epochs and PoC records at one state version for `/query/epoch`, `/query/poc/…` and
/// the weights in `/query/participants`.
struct EpochReader {
    let state: AuthenticatedStore
    let version: UInt64

    private func read(_ key: [UInt8]) throws(QueryError) -> [UInt8]? {
        do { return try state.get(key, atVersion: version) } catch { throw .internal("state read failed: \(error)") }
    }

    private func entries(_ prefix: [UInt8]) throws(QueryError) -> [AuthenticatedStore.Entry] {
        do {
            return try state.entries(withPrefix: prefix, atVersion: version)
        } catch {
            throw .internal("state read failed: \(error)")
        }
    }

    private func decode<M: SwiftProtobuf.Message>(
        _ type: M.Type, _ raw: [UInt8], _ what: String
    ) throws(QueryError)
        -> M
    {
        guard let value = try? M(serializedBytes: raw) else { throw .internal("\(what) record does not decode") }
        return value
    }

    func params() throws(QueryError) -> ChainParams {
        guard let raw = try read(LedgerStateKey.params),
            let params = try? JSONDecoder().decode(ChainParams.self, from: Data(raw))
        else { throw .internal("chain parameters are missing from state") }
        return params
    }

    func epochRecord(_ index: UInt64) throws(QueryError) -> Wire.EpochRecord? {
        try read(LedgerStateKey.epoch(index)).map { raw throws(QueryError) in
            try decode(Wire.EpochRecord.self, raw, "epoch")
        }
    }

    /// The newest epoch whose weights are computed (not one still in its sprint).
    func latestWeights() throws(QueryError) -> Wire.EpochRecord? {
        let schedule = EpochSchedule(try params().epochs)
        var e = schedule.epoch(at: version)
        while true {
            if let record = try epochRecord(e), record.status != "sprint" { return record }
            guard e > 0 else { return nil }
            e -= 1
        }
    }

    /// The validator-set record that signs `height`.
    func validatorSet(forHeight height: UInt64) throws(QueryError) -> Wire.ValidatorSetRecord? {
        var found: [UInt8]?
        for entry in try entries(LedgerStateKey.validatorSetPrefix) {
            guard let from = LedgerStateKey.validatorSetHeight(entry.key), from <= height else { break }
            found = entry.value
        }
        return try found.map { raw throws(QueryError) in try decode(Wire.ValidatorSetRecord.self, raw, "validator set")
        }
    }

    func validatorPowers(forHeight height: UInt64) throws(QueryError) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for v in try validatorSet(forHeight: height)?.validators ?? [] { out[v.address] = v.weight }
        return out
    }

    static func json(_ member: Wire.EpochParticipant) -> JSON {
        .object([
            ("address", .string(member.address)), ("weight", .uint(member.weight)),
            ("raw_weight", .uint(member.rawWeight)), ("status", .string(member.status)),
            ("consensus_pubkey", .string(Hex.encode(member.consensusPubkey))),
        ])
    }

    static func json(_ record: Wire.EpochRecord) -> JSON {
        .object([
            ("epoch", .uint(record.epoch)), ("status", .string(record.status)),
            ("poc_start_height", .uint(record.pocStartHeight)),
            ("poc_block_hash", .string(Hex.encode(record.pocBlockHash))),
            ("epoch_seed", .string(Hex.encode(record.epochSeed))), ("switch_height", .uint(record.switchHeight)),
            ("total_weight", .uint(record.totalWeight)), ("participants", .array(record.participants.map(json))),
        ])
    }

    func epoch(
        _ index: UInt64?, proven: (_ key: [UInt8]) throws(QueryError) -> (value: [UInt8]?, proof: JSON)
    ) throws(QueryError) -> QueryResult {
        if let index {
            let key = LedgerStateKey.epoch(index)
            let (raw, proof) = try proven(key)
            guard let raw else { throw .notFound("epoch \(index) has no record at height \(version)") }
            return QueryResult(
                height: version, key: key, value: Self.json(try decode(Wire.EpochRecord.self, raw, "epoch")),
                proof: proof)
        }
        let schedule = EpochSchedule(try params().epochs)
        let position = schedule.position(at: version)
        let key = LedgerStateKey.epoch(position.epoch)
        let (raw, proof) = try proven(key)
        let record = try raw.map { raw throws(QueryError) in try decode(Wire.EpochRecord.self, raw, "epoch") }
        let active = try validatorSet(forHeight: version + 1)
        let activeRecord = try active.flatMap { set throws(QueryError) in try epochRecord(set.epoch) }
        return QueryResult(
            height: version, key: key,
            value: .object([
                ("height", .uint(version)), ("epoch", .uint(position.epoch)),
                ("stage", .string(position.stage.rawValue)),
                ("poc_start_height", position.pocStartHeight.map { .uint($0) } ?? .null),
                ("blocks_to_next_stage", .uint(position.blocksToNextStage)),
                ("next_stage", .string(position.nextStage.rawValue)),
                ("next_stage_height", .uint(position.nextStageHeight)),
                ("epoch_length", .uint(schedule.params.epochLength)),
                ("poc_block_hash", .string(Hex.encode(record?.pocBlockHash ?? Data()))),
                ("epoch_status", .string(record?.status ?? "none")),
                // The epoch whose weights sign the next block, and its seed (§6.2).
                ("active_epoch", .uint(active?.epoch ?? 0)),
                ("epoch_seed", .string(Hex.encode(activeRecord?.epochSeed ?? Data()))),
                (
                    "validators",
                    .array(
                        (active?.validators ?? []).map {
                            .object([("address", .string($0.address)), ("power", .uint($0.weight))])
                        })
                ),
            ]), proof: proof)
    }

    func poc(
        _ participant: Address, pocStartHeight: UInt64?,
        proven: (_ key: [UInt8]) throws(QueryError) -> (value: [UInt8]?, proof: JSON)
    ) throws(QueryError) -> QueryResult {
        let schedule = EpochSchedule(try params().epochs)
        guard let p = pocStartHeight ?? schedule.position(at: version).pocStartHeight else {
            throw .notFound("no sprint at height \(version) (epoch 0 is genesis)")
        }
        let key = LedgerStateKey.pocSprint(p, participant)
        let (raw, proof) = try proven(key)
        let summary =
            try raw.map { raw throws(QueryError) in try decode(Wire.PocSprintRecord.self, raw, "poc sprint") }
            ?? Wire.PocSprintRecord()
        var nonces: [JSON] = []
        var batches: [JSON] = []
        for entry in try entries(LedgerStateKey.pocBatchPrefix(p, participant)) {
            let batch = try decode(Wire.PocBatchRecord.self, entry.value, "poc batch")
            nonces += batch.nonces.map { .uint($0) }
            batches.append(
                .object([
                    ("ml_node_id", .string(batch.mlNodeID)), ("node_index", .uint(UInt64(batch.nodeIndex))),
                    ("node_count", .uint(UInt64(batch.nodeCount))), ("height", .uint(batch.height)),
                    ("nonces", .uint(UInt64(batch.nonces.count))),
                ]))
        }
        var validations: [JSON] = []
        let epochs = try params().epochs
        for entry in try entries(LedgerStateKey.pocValidationPrefix(p, participant)) {
            let v = try decode(Wire.MsgSubmitPocValidation.self, entry.value, "poc validation")
            validations.append(
                .object([
                    ("validator", .string(v.validator)), ("fraud", .bool(v.fraud)),
                    ("sampled", .uint(UInt64(v.sampledNonces.count))),
                    (
                        "mismatches",
                        .uint(UInt64(PocVerdict(recomputedNano: v.recomputedNano, params: epochs).mismatches))
                    ),
                ]))
        }
        return QueryResult(
            height: version, key: key,
            value: .object([
                ("participant", .string(participant.description)), ("poc_start_height", .uint(p)),
                ("seed_committed", .bool(!summary.seedHash.isEmpty)), ("node_count", .uint(UInt64(summary.nodeCount))),
                ("batches_count", .uint(summary.batches)), ("nonce_count", .uint(summary.nonces)),
                ("batches", .array(batches)), ("nonces", .array(nonces)), ("validations", .array(validations)),
            ]), proof: proof)
    }
}
