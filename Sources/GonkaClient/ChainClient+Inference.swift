import Foundation
import GonkaCore

// Module Inference's queries (docs/RPC.md): inference records, the executor pool a Transfer Agent
// draws from, the model registry with prices, and executors' misses.

/// `query inference/{id}`: one inference's on-chain record (PROTOCOL §6.4).
public struct InferenceRecordInfo: Codable, Hashable, Sendable {
    public var inferenceID: String
    /// `STARTED`, `FINISHED`, `VALIDATED`, `VOTING`, `INVALIDATED`, `EXPIRED` or `AWAITING_START`
    /// (a Finish that came before its Start).
    public var status: String
    public var requester: String
    public var transferAgent: String
    public var executor: String
    public var attempt: UInt32
    public var model: String
    /// Hex of SHA-256 of the request body.
    public var promptHash: String
    public var promptTokens: UInt64
    public var maxTokens: UInt64
    public var completionTokens: UInt64
    public var executorPromptTokens: UInt64
    /// Per token, fixed by the first of Start and Finish.
    public var price: Amount
    public var escrow: Amount
    public var cost: Amount
    public var refund: Amount
    /// Hex of the executor's payload commitment.
    public var responseCommitment: String
    /// Unix nanoseconds.
    public var timestamp: Int64
    public var startHeight: UInt64
    public var finishHeight: UInt64
    /// 0 once finished or expired.
    public var expiryHeight: UInt64
    public var epoch: UInt64

    enum CodingKeys: String, CodingKey {
        case status, requester, executor, attempt, model, price, escrow, cost, refund, timestamp, epoch
        case inferenceID = "inference_id"
        case transferAgent = "transfer_agent"
        case promptHash = "prompt_hash"
        case promptTokens = "prompt_tokens"
        case maxTokens = "max_tokens"
        case completionTokens = "completion_tokens"
        case executorPromptTokens = "executor_prompt_tokens"
        case responseCommitment = "response_commitment"
        case startHeight = "start_height"
        case finishHeight = "finish_height"
        case expiryHeight = "expiry_height"
    }
}

/// `query executors?model=ID`: exactly what `ExecutorDraw.executor(…)` needs.
public struct ExecutorsInfo: Codable, Hashable, Sendable {
    public struct Candidate: Codable, Hashable, Sendable {
        public var address: Address
        public var weight: UInt64
    }

    public var model: String
    public var epoch: UInt64
    /// Hex of the 32-byte epoch seed.
    public var epochSeed: String
    public var candidates: [Candidate]

    /// The epoch seed as a `Hash`, or `nil` if the node sent something else.
    public var epochSeedHash: Hash? { Hash(hex: epochSeed) }

    enum CodingKeys: String, CodingKey {
        case model, epoch, candidates
        case epochSeed = "epoch_seed"
    }
}

/// One entry of `query models`.
public struct ModelRecord: Codable, Hashable, Sendable {
    public var id: String
    public var tokensPerSecondPerWeight: UInt64
    public var weightsHash: String
    public var quantization: String
    public var contextLength: UInt64
    /// What a request pays per token now.
    public var pricePerToken: Amount

    enum CodingKeys: String, CodingKey {
        case id, quantization
        case tokensPerSecondPerWeight = "tokens_per_second_per_weight"
        case weightsHash = "weights_hash"
        case contextLength = "context_length"
        case pricePerToken = "price_per_token"
    }
}

/// `query pricing`: every model's price and the parameters that move it (PROTOCOL §6.5).
public struct PricingInfo: Codable, Hashable, Sendable {
    public struct ModelPrice: Codable, Hashable, Sendable {
        public var model: String
        public var pricePerToken: Amount
        /// ngonka per token × 10⁶ (the price's internal precision).
        public var priceMicro: UInt64
        public var utilisationPPM: UInt64
        public var windowTokens: UInt64

        enum CodingKeys: String, CodingKey {
            case model
            case pricePerToken = "price_per_token"
            case priceMicro = "price_micro"
            case utilisationPPM = "utilisation_ppm"
            case windowTokens = "window_tokens"
        }
    }

    public var models: [ModelPrice]
    public var startPrice: Amount
    public var minPrice: Amount
    public var bandLowPPM: UInt64
    public var bandHighPPM: UInt64
    public var elasticityPPM: UInt64
    public var maxStepPPM: UInt64
    public var windowSeconds: UInt64
    public var defaultMaxTokens: UInt64

    enum CodingKeys: String, CodingKey {
        case models
        case startPrice = "start_price"
        case minPrice = "min_price"
        case bandLowPPM = "band_low_ppm"
        case bandHighPPM = "band_high_ppm"
        case elasticityPPM = "elasticity_ppm"
        case maxStepPPM = "max_step_ppm"
        case windowSeconds = "window_seconds"
        case defaultMaxTokens = "default_max_tokens"
    }
}

/// `query misses/{address}`.
public struct MissesInfo: Codable, Hashable, Sendable {
    public var address: Address
    /// Skipped by a Transfer Agent (reported in a later attempt's Start).
    public var reported: UInt64
    /// Started but not finished before expiry.
    public var expired: UInt64
    public var total: UInt64
    public var lastHeight: UInt64

    enum CodingKeys: String, CodingKey {
        case address, reported, expired, total
        case lastHeight = "last_height"
    }
}

extension ChainClient {
    /// The record of inference `id` (64 hex), or `nil` when the chain has none.
    public func inference(_ id: String, height: UInt64? = nil) async throws(ChainClientError) -> InferenceRecordInfo? {
        let hex = id.lowercased()
        guard hex.count == 64, Hex.decode(hex) != nil else {
            throw .invalidArgument("inference id \"\(id)\" must be 64 hex digits")
        }
        return try decodeQuery(
            try await query("inference/\(hex)", height: height), InferenceRecordInfo.self, "inference")
    }

    /// The executor pool of `model`: epoch seed and weighted candidates (404 for a model not registered).
    public func executors(model: String, height: UInt64? = nil) async throws(ChainClientError) -> ExecutorsInfo {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        guard !model.isEmpty, let encoded = model.addingPercentEncoding(withAllowedCharacters: allowed) else {
            throw .invalidArgument("model id \"\(model)\" is empty or not encodable")
        }
        let suffix = height.map { "&height=\($0)" } ?? ""
        let result = try await get("/query/executors?model=\(encoded)\(suffix)", as: QueryResult.self)
        guard let info = try decodeQuery(result, ExecutorsInfo.self, "executors") else {
            throw .invalidResponse(url: baseURL + "/query/executors", reason: "no executors in the answer")
        }
        return info
    }

    /// The registered models with their current price per token.
    public func models(height: UInt64? = nil) async throws(ChainClientError) -> [ModelRecord] {
        try decodeQuery(try await query("models", height: height), [ModelRecord].self, "models") ?? []
    }

    /// Current prices and the pricing parameters.
    public func pricing(height: UInt64? = nil) async throws(ChainClientError) -> PricingInfo {
        guard let info = try decodeQuery(try await query("pricing", height: height), PricingInfo.self, "pricing") else {
            throw .invalidResponse(url: baseURL + "/query/pricing", reason: "no pricing in the answer")
        }
        return info
    }

    /// An executor's misses (zeros when it has none).
    public func misses(_ address: Address, height: UInt64? = nil) async throws(ChainClientError) -> MissesInfo {
        try decodeQuery(try await query("misses/\(address)", height: height), MissesInfo.self, "misses")
            ?? MissesInfo(address: address, reported: 0, expired: 0, total: 0, lastHeight: 0)
    }

    private func decodeQuery<T: Decodable>(
        _ result: QueryResult, _ type: T.Type, _ path: String
    ) throws(ChainClientError) -> T? {
        do {
            return try result.decodeValue(type)
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }
}
