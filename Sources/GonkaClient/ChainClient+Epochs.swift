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

    public struct Power: Codable, Hashable, Sendable {
        public var address: String
        public var power: UInt64
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

    public struct Batch: Codable, Hashable, Sendable {
        public var mlNodeID: String
        public var nodeIndex: UInt64
        public var nodeCount: UInt64
        public var height: UInt64
        public var nonces: UInt64
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

extension ChainClient {
    /// The epoch schedule at `height` (default: latest).
    public func epoch(height: UInt64? = nil) async throws(ChainClientError) -> EpochInfo {
        try await decoded(query("epoch", height: height), EpochInfo.self, path: "epoch")
    }

    /// Every participant with its latest computed weight and current voting power.
    public func participants(height: UInt64? = nil) async throws(ChainClientError) -> [ParticipantInfo] {
        try await decoded(query("participants", height: height), [ParticipantInfo].self, path: "participants")
    }

    /// A participant's sprint at P (default: the current sprint).
    public func poc(
        _ participant: Address, pocStartHeight: UInt64? = nil, height: UInt64? = nil
    ) async throws(ChainClientError) -> PocSprintInfo {
        let path = "poc/\(participant)" + (pocStartHeight.map { "/\($0)" } ?? "")
        return try await decoded(query(path, height: height), PocSprintInfo.self, path: path)
    }

    private func decoded<T: Decodable>(
        _ result: QueryResult, _ type: T.Type, path: String
    ) throws(ChainClientError)
        -> T
    {
        do {
            guard let value = try result.decodeValue(type) else {
                throw ChainClientError.invalidResponse(url: baseURL + "/query/" + path, reason: "empty value")
            }
            return value
        } catch let error as ChainClientError {
            throw error
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }
}
