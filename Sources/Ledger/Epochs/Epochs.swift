import Foundation
import GonkaCore
import GonkaWire

/// Module Epochs (PROTOCOL §4, §5.5–5.7): the epoch records, the end-of-block schedule (stage
/// events, recording hash(P), computing weights, handing the new validator set to consensus,
/// recording the epoch seed), and the validator-set history consensus reads per height.
///
/// Heights of sprint P (epoch e = P / L):
/// * P: the epoch record is created (status `sprint`);
/// * P+1: hash(block P) — `BlockContext.lastBlockHash` at P+1 — is recorded as the PoC seed H;
/// * P+weights_offset (end of block): weights computed (§5.5, §5.6), status `computed`;
/// * P+switch_offset−2: the new set is returned as `validatorUpdates` and recorded to sign from
///   P+switch_offset (consensus takes a set two heights ahead, §3.1);
/// * P+switch_offset: status `active` (the previous epoch becomes `past`);
/// * P+switch_offset+1: the epoch seed = hash(block P+switch_offset), again from `lastBlockHash`.
enum Epochs {
    static let genesisStatus = "genesis"
    static let acceptedStatus = "accepted"
    static let rejectedStatus = "rejected"
    static let noBatchesStatus = "no_batches"
    /// Nobody was accepted: the epoch keeps the previous weights so the chain keeps validators.
    static let keptStatus = "kept"

    // MARK: Genesis

    /// Epoch 0 = the genesis validators with their genesis powers, signing from height 1.
    static func initGenesis(_ validators: [Genesis.Validator], in state: StateContext) throws(LedgerError) {
        var record = Wire.EpochRecord()
        record.epoch = 0
        record.status = "active"
        record.switchHeight = 1
        for v in validators.sorted(by: { $0.address.bytes.lexicographicallyPrecedes($1.address.bytes) }) {
            var member = Wire.EpochParticipant()
            member.address = v.address.description
            member.consensusPubkey = Data(Hex.decode(v.consensusPubkey) ?? [])
            member.rawWeight = v.power
            member.weight = v.power
            member.status = genesisStatus
            record.participants.append(member)
            record.totalWeight += v.power
        }
        try state.setRecord(record, at: StateKey.epoch(0))
        var set = Wire.ValidatorSetRecord()
        set.fromHeight = 1
        set.epoch = 0
        set.validators = record.participants
        try state.setRecord(set, at: StateKey.validatorSet(from: 1))
    }

    // MARK: Records

    static func epoch(_ index: UInt64, in state: StateContext) throws(LedgerError) -> Wire.EpochRecord? {
        try state.record(Wire.EpochRecord.self, at: StateKey.epoch(index), what: "epoch \(index)")
    }

    /// The validator set that signs `height`: the record with the largest `from_height` ≤ height.
    static func validatorSet(
        forHeight height: UInt64, in state: StateContext
    ) throws(LedgerError)
        -> Wire.ValidatorSetRecord?
    {
        var found: [UInt8]?
        for entry in try state.entries(withPrefix: StateKey.validatorSetPrefix) {
            let from = try BigEndian.decode(
                Array(entry.key.dropFirst(StateKey.validatorSetPrefix.count)), what: "validator set key")
            guard from <= height else { break }
            found = entry.key
        }
        guard let found else { return nil }
        return try state.record(Wire.ValidatorSetRecord.self, at: found, what: "validator set")
    }

    static func validatorSets(in state: StateContext) throws(LedgerError) -> [Wire.ValidatorSetRecord] {
        try state.records(Wire.ValidatorSetRecord.self, withPrefix: StateKey.validatorSetPrefix, what: "validator set")
    }

    static func updates(_ set: Wire.ValidatorSetRecord) -> [ValidatorUpdate] {
        set.validators.compactMap { v in
            guard let address = try? Address(v.address), let key = try? PublicKey(bytes: Array(v.consensusPubkey))
            else { return nil }
            return ValidatorUpdate(address: address, consensusKey: key, power: v.weight)
        }
    }

    // MARK: End of block

    struct EndBlock {
        var events: [LedgerEvent] = []
        var validatorUpdates: [ValidatorUpdate] = []
    }

    /// The schedule's work at the end of block `context.height` (after its transactions). Runs
    /// inside the ledger's end-block transaction (`Ledger.finalize`); state transactions do not nest,
    /// so it opens none of its own.
    static func endBlock(
        context: BlockContext, params: ChainParams, in state: StateContext
    ) throws(LedgerError)
        -> EndBlock
    {
        try run(context: context, params: params, in: state)
    }

    private static func run(
        context: BlockContext, params: ChainParams, in state: StateContext
    ) throws(LedgerError)
        -> EndBlock
    {
        var out = EndBlock()
        let schedule = EpochSchedule(params.epochs)
        let h = context.height
        let position = schedule.position(at: h)
        guard let p = position.pocStartHeight else { return out }
        let e = position.epoch
        let offsets = params.epochs
        var record = try epoch(e, in: state) ?? Wire.EpochRecord()
        var changed = false
        if h == p {
            record = Wire.EpochRecord()
            record.epoch = e
            record.pocStartHeight = p
            record.status = "sprint"
            changed = true
        }
        if h == p + 1 {
            record.pocBlockHash = Data((context.lastBlockHash ?? .zero).bytes)
            changed = true
        }
        if h == p + offsets.weightsOffset {
            try computeWeights(&record, height: h, params: params, in: state)
            for member in record.participants {
                if let address = try? Address(member.address) {
                    out.events.append(
                        .weightComputed(epoch: e, participant: address, weight: member.weight, status: member.status))
                }
            }
            // The previous sprint's batches, nonces and validations are no longer needed.
            if e >= 2 { try deleteSprint(p - offsets.epochLength, in: state) }
            changed = true
        }
        if h + 2 == p + offsets.switchOffset, record.status == "computed", record.totalWeight > 0 {
            var set = Wire.ValidatorSetRecord()
            set.fromHeight = p + offsets.switchOffset
            set.epoch = e
            let excluded = try excludedAddresses(in: state)
            set.validators = validatorMembers(record, params: params, excluding: excluded)
            try state.setRecord(set, at: StateKey.validatorSet(from: set.fromHeight))
            out.validatorUpdates = updates(set)
            out.events.append(
                .validatorSetChanged(
                    epoch: e, fromHeight: set.fromHeight, validators: set.validators.count,
                    totalPower: set.validators.reduce(0) { $0 &+ $1.weight }))
        }
        if h == p + offsets.switchOffset, record.status == "computed" {
            record.status = "active"
            if e >= 1, var previous = try epoch(e - 1, in: state) {
                previous.status = "past"
                try state.setRecord(previous, at: StateKey.epoch(e - 1))
            }
            changed = true
        }
        if h == p + offsets.switchOffset + 1 {
            record.epochSeed = Data((context.lastBlockHash ?? .zero).bytes)
            changed = true
            // The new weights are also the executor-selection weights of the epoch, drawn with the
            // switch block's hash as seed (PROTOCOL §5.6, §6.2).
            if record.status == "active" {
                let ended = try Inference.currentEpoch(in: state)
                // Jailed and tombstoned participants stay out of the new pool (PROTOCOL §9).
                let excluded = try excludedAddresses(in: state)
                let candidates = record.participants.compactMap { member -> ExecutorDraw.Candidate? in
                    guard !excluded.contains(member.address), let address = try? Address(member.address) else {
                        return nil
                    }
                    return ExecutorDraw.Candidate(address: address, weight: member.weight)
                }
                try Inference.setExecutorSet(
                    epoch: e, epochSeed: context.lastBlockHash ?? .zero, candidates: candidates, context: context,
                    in: state)
                // Executor downtime of the epoch whose pool this one replaces (§9).
                if ended != e {
                    out.events += try Slashing.endEpoch(ended, context: context, params: params, state: state)
                }
                try Validation.beginEpoch(
                    e, ended: ended == e ? nil : ended, candidates: candidates, params: params, state: state)
            }
        }
        if changed { try state.setRecord(record, at: StateKey.epoch(e)) }
        if schedule.isStageStart(h) || h == p + 1 {
            out.events.insert(
                .pocStage(
                    epoch: e, stage: position.stage.rawValue, pocStartHeight: p,
                    blockHash: record.pocBlockHash.isEmpty ? "" : Hex.encode(Array(record.pocBlockHash))),
                at: 0)
        }
        return out
    }

    /// After a jail, tombstone or unjail in block h (PROTOCOL §9): the set that signs from h+2 is the
    /// set in force then, recomputed from its epoch's record without the jailed and tombstoned
    /// (``validatorMembers(_:params:excluding:)``), so a jailed validator leaves at once (as in
    /// CometBFT) and an unjailed one returns. Nothing when the set does not change, when it would be
    /// empty, or when this block already wrote the set of h+2 (the switch, which filters too).
    static func refreshValidatorSet(
        context: BlockContext, params: ChainParams, in state: StateContext
    ) throws(LedgerError) -> EndBlock {
        var out = EndBlock()
        let target = context.height &+ 2
        guard let inForce = try validatorSet(forHeight: target, in: state), inForce.fromHeight != target,
            let record = try epoch(inForce.epoch, in: state)
        else { return out }
        let excluded = try excludedAddresses(in: state)
        let members = validatorMembers(record, params: params, excluding: excluded)
        guard !members.isEmpty, members != inForce.validators else { return out }
        var set = Wire.ValidatorSetRecord()
        set.fromHeight = target
        set.epoch = inForce.epoch
        set.validators = members
        try state.setRecord(set, at: StateKey.validatorSet(from: target))
        out.validatorUpdates = updates(set)
        out.events.append(
            .validatorSetChanged(
                epoch: set.epoch, fromHeight: target, validators: members.count,
                totalPower: members.reduce(0) { $0 &+ $1.weight }))
        return out
    }

    /// The validators of a computed epoch: positive weights, heaviest first (address breaks ties),
    /// at most `max_validators`, one entry per consensus key, none of `excluded` (jailed or
    /// tombstoned participants, PROTOCOL §9).
    static func validatorMembers(
        _ record: Wire.EpochRecord, params: ChainParams, excluding excluded: Set<String> = []
    ) -> [Wire.EpochParticipant] {
        let ordered = record.participants.filter {
            $0.weight > 0 && $0.consensusPubkey.count == 32 && !excluded.contains($0.address)
        }.sorted {
            $0.weight != $1.weight ? $0.weight > $1.weight : $0.address < $1.address
        }
        var keys = Set<Data>()
        var out: [Wire.EpochParticipant] = []
        for member in ordered where keys.insert(member.consensusPubkey).inserted {
            guard UInt64(out.count) < params.maxValidators else { break }
            out.append(member)
        }
        return out.sorted { $0.address < $1.address }
    }

    /// The addresses of jailed and tombstoned participants (PROTOCOL §9).
    static func excludedAddresses(in state: StateContext) throws(LedgerError) -> Set<String> {
        let infos = try state.records(
            Wire.SigningInfo.self, withPrefix: StateKey.signingInfoPrefix, what: "signing info")
        return Set(infos.filter { $0.jailed || $0.tombstoned }.map(\.address))
    }

    /// §5.5 acceptance: the `fraud = false` votes (`yes`, current weight) hold more than half of
    /// the current weight `total` less the participant's `own` (it cannot vote on itself);
    /// non-voters count against. Counting its own weight against it, as a plain > 50% of `total`
    /// did, rejected every other participant of four equal ones whenever one was down through the
    /// validation stage (the soak saw three of four hosts lose an epoch's weight that way).
    static func isAccepted(yes: UInt128, total: UInt128, own: UInt128) -> Bool {
        yes * 2 > total - min(own, total)
    }

    /// §5.5–5.7 for the sprint of `record`: acceptance (``isAccepted(yes:total:own:)``), raw
    /// weight = the accepted nonces + the weight the serving nodes carry
    /// (``carriedWeight(_:nodeCount:record:params:in:)``; the batches' `node_count` is the
    /// participant's ML node count), then the collateral term
    /// (`CollateralParams.weight(raw:collateral:)` over the deposit, for epochs after
    /// `collateral_grace_epochs`), then the power cap.
    static func computeWeights(
        _ record: inout Wire.EpochRecord, height: UInt64, params: ChainParams, in state: StateContext
    ) throws(LedgerError) {
        let p = record.pocStartHeight
        let current = try validatorSet(forHeight: height, in: state)?.validators ?? []
        var currentWeight: [String: UInt64] = [:]
        var total: UInt128 = 0
        for v in current {
            currentWeight[v.address] = v.weight
            total += UInt128(v.weight)
        }
        var members: [Wire.EpochParticipant] = []
        for participant in try Participants.all(in: state) {
            guard let address = try? Address(participant.address) else { continue }
            var member = Wire.EpochParticipant()
            member.address = participant.address
            member.consensusPubkey = participant.consensusPubkey
            let sprint = try PoC.sprint(p, address, in: state)
            if let sprint, sprint.nonces > 0 {
                var yes: UInt128 = 0
                for validation in try PoC.validations(p, address, in: state) where !validation.fraud {
                    yes += UInt128(currentWeight[validation.validator] ?? 0)
                }
                if isAccepted(yes: yes, total: total, own: UInt128(currentWeight[participant.address] ?? 0)) {
                    member.status = acceptedStatus
                    let carried = try carriedWeight(
                        participant.address, nodeCount: UInt64(sprint.nodeCount), record: record, params: params,
                        in: state)
                    let (sum, overflow) = sprint.nonces.addingReportingOverflow(carried)
                    member.rawWeight = overflow ? .max : sum
                } else {
                    member.status = rejectedStatus
                }
            } else {
                member.status = noBatchesStatus
            }
            members.append(member)
        }
        var backed: [UInt64] = []
        for member in members {
            if params.collateral.applies(toEpoch: record.epoch), let address = try? Address(member.address) {
                let deposit = try Collateral.deposit(of: address, in: state)
                backed.append(params.collateral.weight(raw: member.rawWeight, collateral: deposit))
            } else {
                backed.append(member.rawWeight)
            }
        }
        let positive = members.indices.filter { backed[$0] > 0 }
        let capped = PowerCap.apply(positive.map { backed[$0] }, maxPpm: params.epochs.maxIndividualPowerPpm)
        record.totalWeight = 0
        for (i, weight) in zip(positive, capped) {
            members[i].weight = weight
            record.totalWeight += weight
        }
        if record.totalWeight == 0 {
            // Nobody accepted: the validators of the current epoch keep their weights.
            var kept = current
            for i in kept.indices { kept[i].status = keptStatus }
            members = kept
            record.totalWeight = kept.reduce(0) { $0 &+ $1.weight }
        }
        // The seed commitments of this sprint outlive its records (deleted a sprint later): the
        // claim of §8.4 audits the epoch's validations against them.
        for i in members.indices {
            guard let address = try? Address(members[i].address) else { continue }
            members[i].seedHash = try PoC.sprint(p, address, in: state)?.seedHash ?? Data()
        }
        record.participants = members
        record.status = "computed"
        record.switchHeight = p + params.epochs.switchOffset
    }

    /// The inference model whose serving nodes §5.7 picks: the registered model with the smallest
    /// id ("" with none). The chain does not yet know which model each ML node serves; the devnet
    /// registers one model, so this is that model.
    static func servingModel(in state: StateContext) throws(LedgerError) -> String {
        try Inference.models(in: state).map(\.id).min() ?? ""
    }

    /// §5.7 carried weight of a participant accepted in `record`'s sprint with `nodeCount` nodes:
    /// its ⌊n/2⌋ serving nodes keep the weight they had, taken as the previous epoch's raw weight
    /// spread evenly over the nodes it had then (the previous sprint's `node_count`, 1 when it has
    /// none: genesis or a sprint it did not mine in). The chain keeps no per-node weights.
    static func carriedWeight(
        _ participant: String, nodeCount: UInt64, record: Wire.EpochRecord, params: ChainParams,
        in state: StateContext
    ) throws(LedgerError) -> UInt64 {
        guard nodeCount >= 2, record.epoch >= 1, let address = try? Address(participant) else { return 0 }
        let serving = ServingNodes.serving(
            epoch: record.epoch, participant: participant, model: try servingModel(in: state), nodeCount: nodeCount)
        guard !serving.isEmpty, let previous = try epoch(record.epoch - 1, in: state),
            let before = previous.participants.first(where: { $0.address == participant })
        else { return 0 }
        var previousNodes: UInt64 = 1
        if record.epoch >= 2, record.pocStartHeight >= params.epochs.epochLength,
            let sprint = try PoC.sprint(record.pocStartHeight - params.epochs.epochLength, address, in: state),
            sprint.nodeCount > 0
        {
            previousNodes = UInt64(sprint.nodeCount)
        }
        return ServingNodes.carriedWeight(
            previousRawWeight: before.rawWeight, previousNodeCount: previousNodes,
            servingCount: UInt64(serving.count))
    }

    private static func deleteSprint(_ p: UInt64, in state: StateContext) throws(LedgerError) {
        let stamp = BigEndian.encode(p)
        for prefix in [
            StateKey.pocSprintPrefix, StateKey.pocBatchPrefix, StateKey.pocNoncePrefix, StateKey.pocValidationPrefix,
        ] {
            for entry in try state.entries(withPrefix: prefix + stamp) { state.delete(entry.key) }
        }
    }
}
