import GonkaCore

/// `query epoch`: where the chain is in the epoch schedule (PROTOCOL §4) and who signs next.
public struct EpochInfo: Codable, Hashable, Sendable {
    public var height: UInt64
    public var epoch: UInt64
    public var stage: String
    /// P, the sprint's first block (nil in epoch 0).
    public var pocStartHeight: UInt64?
    public var blocksToNextStage: UInt64
    public var nextStage: String
    public var nextStageHeight: UInt64
    public var epochLength: UInt64
    /// hex(hash(P)), empty until block P+1.
    public var pocBlockHash: String
    public var epochStatus: String
    /// The epoch whose weights sign the next block, and its seed (§6.2; empty for epoch 0).
    public var activeEpoch: UInt64
    public var epochSeed: String
    public var validators: [Power]

    public init(
        height: UInt64, epoch: UInt64, stage: String, pocStartHeight: UInt64?, blocksToNextStage: UInt64,
        nextStage: String, nextStageHeight: UInt64, epochLength: UInt64, pocBlockHash: String, epochStatus: String,
        activeEpoch: UInt64, epochSeed: String, validators: [Power]
    ) {
        self.height = height
        self.epoch = epoch
        self.stage = stage
        self.pocStartHeight = pocStartHeight
        self.blocksToNextStage = blocksToNextStage
        self.nextStage = nextStage
        self.nextStageHeight = nextStageHeight
        self.epochLength = epochLength
        self.pocBlockHash = pocBlockHash
        self.epochStatus = epochStatus
        self.activeEpoch = activeEpoch
        self.epochSeed = epochSeed
        self.validators = validators
    }

    public struct Power: Codable, Hashable, Sendable {
        public var address: String
        public var power: UInt64

        public init(address: String, power: UInt64) {
            self.address = address
            self.power = power
        }
    }

    enum CodingKeys: String, CodingKey {
        case height, epoch, stage, validators
        case pocStartHeight = "poc_start_height"
        case blocksToNextStage = "blocks_to_next_stage"
        case nextStage = "next_stage"
        case nextStageHeight = "next_stage_height"
        case epochLength = "epoch_length"
        case pocBlockHash = "poc_block_hash"
        case epochStatus = "epoch_status"
        case activeEpoch = "active_epoch"
        case epochSeed = "epoch_seed"
    }

    /// As synthesized, except that `poc_start_height` is `null` in epoch 0, not left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(height, forKey: .height)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(stage, forKey: .stage)
        try c.encode(pocStartHeight, forKey: .pocStartHeight)
        try c.encode(blocksToNextStage, forKey: .blocksToNextStage)
        try c.encode(nextStage, forKey: .nextStage)
        try c.encode(nextStageHeight, forKey: .nextStageHeight)
        try c.encode(epochLength, forKey: .epochLength)
        try c.encode(pocBlockHash, forKey: .pocBlockHash)
        try c.encode(epochStatus, forKey: .epochStatus)
        try c.encode(activeEpoch, forKey: .activeEpoch)
        try c.encode(epochSeed, forKey: .epochSeed)
        try c.encode(validators, forKey: .validators)
    }
}

/// `query epoch/{n}`: epoch n's record with its participants' weights.
public struct EpochRecordInfo: Codable, Hashable, Sendable {
    public var epoch: UInt64
    /// `sprint`, `computed`, `active` or `past`.
    public var status: String
    public var pocStartHeight: UInt64
    public var pocBlockHash: String
    public var epochSeed: String
    public var switchHeight: UInt64
    public var totalWeight: UInt64
    public var participants: [Member]

    public init(
        epoch: UInt64, status: String, pocStartHeight: UInt64, pocBlockHash: String, epochSeed: String,
        switchHeight: UInt64, totalWeight: UInt64, participants: [Member]
    ) {
        self.epoch = epoch
        self.status = status
        self.pocStartHeight = pocStartHeight
        self.pocBlockHash = pocBlockHash
        self.epochSeed = epochSeed
        self.switchHeight = switchHeight
        self.totalWeight = totalWeight
        self.participants = participants
    }

    /// A participant's weight in the epoch.
    public struct Member: Codable, Hashable, Sendable {
        public var address: String
        public var weight: UInt64
        public var rawWeight: UInt64
        public var status: String
        public var consensusPubkey: String

        public init(address: String, weight: UInt64, rawWeight: UInt64, status: String, consensusPubkey: String) {
            self.address = address
            self.weight = weight
            self.rawWeight = rawWeight
            self.status = status
            self.consensusPubkey = consensusPubkey
        }

        enum CodingKeys: String, CodingKey {
            case address, weight, status
            case rawWeight = "raw_weight"
            case consensusPubkey = "consensus_pubkey"
        }
    }

    enum CodingKeys: String, CodingKey {
        case epoch, status, participants
        case pocStartHeight = "poc_start_height"
        case pocBlockHash = "poc_block_hash"
        case epochSeed = "epoch_seed"
        case switchHeight = "switch_height"
        case totalWeight = "total_weight"
    }
}

/// `query participants`: a participant record with its latest computed weight and its voting power.
public struct ParticipantInfo: Codable, Hashable, Sendable {
    public var address: String
    public var url: String
    public var consensusPubkey: String
    public var p2pPubkey: String
    public var registeredHeight: UInt64
    /// The epoch of `weight` (the newest with computed weights).
    public var epoch: UInt64?
    public var weight: UInt64
    public var rawWeight: UInt64
    /// `genesis`, `accepted`, `rejected`, `no_batches`, `kept` or `none`.
    public var status: String
    /// The power consensus gives it for the next block (0: not a validator).
    public var validatorPower: UInt64

    public init(
        address: String, url: String, consensusPubkey: String, p2pPubkey: String, registeredHeight: UInt64,
        epoch: UInt64?, weight: UInt64, rawWeight: UInt64, status: String, validatorPower: UInt64
    ) {
        self.address = address
        self.url = url
        self.consensusPubkey = consensusPubkey
        self.p2pPubkey = p2pPubkey
        self.registeredHeight = registeredHeight
        self.epoch = epoch
        self.weight = weight
        self.rawWeight = rawWeight
        self.status = status
        self.validatorPower = validatorPower
    }

    enum CodingKeys: String, CodingKey {
        case address, url, epoch, weight, status
        case consensusPubkey = "consensus_pubkey"
        case p2pPubkey = "p2p_pubkey"
        case registeredHeight = "registered_height"
        case rawWeight = "raw_weight"
        case validatorPower = "validator_power"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        address = try c.decode(String.self, forKey: .address)
        url = try c.decode(String.self, forKey: .url)
        consensusPubkey = try c.decode(String.self, forKey: .consensusPubkey)
        p2pPubkey = try c.decode(String.self, forKey: .p2pPubkey)
        registeredHeight = try c.decode(UInt64.self, forKey: .registeredHeight)
        // Nodes before the Epochs module do not send these.
        epoch = try c.decodeIfPresent(UInt64.self, forKey: .epoch)
        weight = try c.decodeIfPresent(UInt64.self, forKey: .weight) ?? 0
        rawWeight = try c.decodeIfPresent(UInt64.self, forKey: .rawWeight) ?? 0
        status = try c.decodeIfPresent(String.self, forKey: .status) ?? "none"
        validatorPower = try c.decodeIfPresent(UInt64.self, forKey: .validatorPower) ?? 0
    }

    /// As synthesized, except that `epoch` is `null` before any weights are computed, not left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address, forKey: .address)
        try c.encode(url, forKey: .url)
        try c.encode(consensusPubkey, forKey: .consensusPubkey)
        try c.encode(p2pPubkey, forKey: .p2pPubkey)
        try c.encode(registeredHeight, forKey: .registeredHeight)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(weight, forKey: .weight)
        try c.encode(rawWeight, forKey: .rawWeight)
        try c.encode(status, forKey: .status)
        try c.encode(validatorPower, forKey: .validatorPower)
    }
}

/// `query poc/{participant}`: a participant's sprint as the ledger holds it.
public struct PocSprintInfo: Codable, Hashable, Sendable {
    public var participant: String
    public var pocStartHeight: UInt64
    public var seedCommitted: Bool
    public var nodeCount: UInt64
    public var batchesCount: UInt64
    public var nonceCount: UInt64
    public var batches: [Batch]
    public var nonces: [UInt64]
    public var validations: [Validation]

    public init(
        participant: String, pocStartHeight: UInt64, seedCommitted: Bool, nodeCount: UInt64, batchesCount: UInt64,
        nonceCount: UInt64, batches: [Batch], nonces: [UInt64], validations: [Validation]
    ) {
        self.participant = participant
        self.pocStartHeight = pocStartHeight
        self.seedCommitted = seedCommitted
        self.nodeCount = nodeCount
        self.batchesCount = batchesCount
        self.nonceCount = nonceCount
        self.batches = batches
        self.nonces = nonces
        self.validations = validations
    }

    public struct Batch: Codable, Hashable, Sendable {
        public var mlNodeID: String
        public var nodeIndex: UInt64
        public var nodeCount: UInt64
        public var height: UInt64
        public var nonces: UInt64

        public init(mlNodeID: String, nodeIndex: UInt64, nodeCount: UInt64, height: UInt64, nonces: UInt64) {
            self.mlNodeID = mlNodeID
            self.nodeIndex = nodeIndex
            self.nodeCount = nodeCount
            self.height = height
            self.nonces = nonces
        }

        enum CodingKeys: String, CodingKey {
            case height, nonces
            case mlNodeID = "ml_node_id"
            case nodeIndex = "node_index"
            case nodeCount = "node_count"
        }
    }

    public struct Validation: Codable, Hashable, Sendable {
        public var validator: String
        public var fraud: Bool
        public var sampled: UInt64
        public var mismatches: UInt64

        public init(validator: String, fraud: Bool, sampled: UInt64, mismatches: UInt64) {
            self.validator = validator
            self.fraud = fraud
            self.sampled = sampled
            self.mismatches = mismatches
        }
    }

    enum CodingKeys: String, CodingKey {
        case participant, batches, nonces, validations
        case pocStartHeight = "poc_start_height"
        case seedCommitted = "seed_committed"
        case nodeCount = "node_count"
        case batchesCount = "batches_count"
        case nonceCount = "nonce_count"
    }
}
