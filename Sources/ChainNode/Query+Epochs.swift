import ChainRPCTypes
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

    static func info(_ record: Wire.EpochRecord) -> EpochRecordInfo {
        EpochRecordInfo(
            epoch: record.epoch, status: record.status, pocStartHeight: record.pocStartHeight,
            pocBlockHash: Hex.encode(record.pocBlockHash), epochSeed: Hex.encode(record.epochSeed),
            switchHeight: record.switchHeight, totalWeight: record.totalWeight,
            participants: record.participants.map { member in
                EpochRecordInfo.Member(
                    address: member.address, weight: member.weight, rawWeight: member.rawWeight, status: member.status,
                    consensusPubkey: Hex.encode(member.consensusPubkey))
            })
    }

    func epoch(
        _ index: UInt64?, proven: (_ key: [UInt8]) throws(QueryError) -> (value: [UInt8]?, proof: JSONValue)
    ) throws(QueryError) -> QueryResult {
        if let index {
            let key = LedgerStateKey.epoch(index)
            let (raw, proof) = try proven(key)
            guard let raw else { throw .notFound("epoch \(index) has no record at height \(version)") }
            let record = Self.info(try decode(Wire.EpochRecord.self, raw, "epoch"))
            return QueryResult(height: version, key: key, value: try QueryEngine.value(record), proof: proof)
        }
        let schedule = EpochSchedule(try params().epochs)
        let position = schedule.position(at: version)
        let key = LedgerStateKey.epoch(position.epoch)
        let (raw, proof) = try proven(key)
        let record = try raw.map { raw throws(QueryError) in try decode(Wire.EpochRecord.self, raw, "epoch") }
        let active = try validatorSet(forHeight: version + 1)
        let activeRecord = try active.flatMap { set throws(QueryError) in try epochRecord(set.epoch) }
        let info = EpochInfo(
            height: version, epoch: position.epoch, stage: position.stage.rawValue,
            pocStartHeight: position.pocStartHeight, blocksToNextStage: position.blocksToNextStage,
            nextStage: position.nextStage.rawValue, nextStageHeight: position.nextStageHeight,
            epochLength: schedule.params.epochLength, pocBlockHash: Hex.encode(record?.pocBlockHash ?? Data()),
            epochStatus: record?.status ?? "none",
            // The epoch whose weights sign the next block, and its seed (§6.2).
            activeEpoch: active?.epoch ?? 0, epochSeed: Hex.encode(activeRecord?.epochSeed ?? Data()),
            validators: (active?.validators ?? []).map { EpochInfo.Power(address: $0.address, power: $0.weight) })
        return QueryResult(height: version, key: key, value: try QueryEngine.value(info), proof: proof)
    }

    func poc(
        _ participant: Address, pocStartHeight: UInt64?,
        proven: (_ key: [UInt8]) throws(QueryError) -> (value: [UInt8]?, proof: JSONValue)
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
        var nonces: [UInt64] = []
        var batches: [PocSprintInfo.Batch] = []
        for entry in try entries(LedgerStateKey.pocBatchPrefix(p, participant)) {
            let batch = try decode(Wire.PocBatchRecord.self, entry.value, "poc batch")
            nonces += batch.nonces
            batches.append(
                PocSprintInfo.Batch(
                    mlNodeID: batch.mlNodeID, nodeIndex: UInt64(batch.nodeIndex), nodeCount: UInt64(batch.nodeCount),
                    height: batch.height, nonces: UInt64(batch.nonces.count)))
        }
        var validations: [PocSprintInfo.Validation] = []
        let epochs = try params().epochs
        for entry in try entries(LedgerStateKey.pocValidationPrefix(p, participant)) {
            let v = try decode(Wire.MsgSubmitPocValidation.self, entry.value, "poc validation")
            let mismatches = PocVerdict(recomputedNano: v.recomputedNano, params: epochs).mismatches
            validations.append(
                PocSprintInfo.Validation(
                    validator: v.validator, fraud: v.fraud, sampled: UInt64(v.sampledNonces.count),
                    mismatches: UInt64(mismatches)))
        }
        let sprint = PocSprintInfo(
            participant: participant.description, pocStartHeight: p, seedCommitted: !summary.seedHash.isEmpty,
            nodeCount: UInt64(summary.nodeCount), batchesCount: summary.batches, nonceCount: summary.nonces,
            batches: batches, nonces: nonces, validations: validations)
        return QueryResult(height: version, key: key, value: try QueryEngine.value(sprint), proof: proof)
    }
}
