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
    @AmountText public var price: Amount
    @AmountText public var escrow: Amount
    @AmountText public var cost: Amount
    @AmountText public var refund: Amount
    /// Hex of the executor's payload commitment.
    public var responseCommitment: String
    /// Unix nanoseconds.
    public var timestamp: Int64
    public var startHeight: UInt64
    public var finishHeight: UInt64
    /// 0 once finished or expired.
    public var expiryHeight: UInt64
    public var epoch: UInt64

    public init(
        inferenceID: String, status: String, requester: String, transferAgent: String, executor: String,
        attempt: UInt32, model: String, promptHash: String, promptTokens: UInt64, maxTokens: UInt64,
        completionTokens: UInt64, executorPromptTokens: UInt64, price: Amount, escrow: Amount, cost: Amount,
        refund: Amount, responseCommitment: String, timestamp: Int64, startHeight: UInt64, finishHeight: UInt64,
        expiryHeight: UInt64, epoch: UInt64
    ) {
        self.inferenceID = inferenceID
        self.status = status
        self.requester = requester
        self.transferAgent = transferAgent
        self.executor = executor
        self.attempt = attempt
        self.model = model
        self.promptHash = promptHash
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        self.completionTokens = completionTokens
        self.executorPromptTokens = executorPromptTokens
        self.price = price
        self.escrow = escrow
        self.cost = cost
        self.refund = refund
        self.responseCommitment = responseCommitment
        self.timestamp = timestamp
        self.startHeight = startHeight
        self.finishHeight = finishHeight
        self.expiryHeight = expiryHeight
        self.epoch = epoch
    }

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

        public init(address: Address, weight: UInt64) {
            self.address = address
            self.weight = weight
        }
    }

    public var model: String
    public var epoch: UInt64
    /// Hex of the 32-byte epoch seed.
    public var epochSeed: String
    public var candidates: [Candidate]

    public init(model: String, epoch: UInt64, epochSeed: String, candidates: [Candidate]) {
        self.model = model
        self.epoch = epoch
        self.epochSeed = epochSeed
        self.candidates = candidates
    }

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
    @AmountText public var pricePerToken: Amount
    /// §7.2 test 2's threshold on the corrected mean distance, ppm (0: none recorded).
    public var validationThresholdPpm: UInt64
    /// `native` (validators replay the sampler, §7.2 test 3) or `opaque` (test 4).
    public var sampler: String

    public init(
        id: String, tokensPerSecondPerWeight: UInt64, weightsHash: String, quantization: String,
        contextLength: UInt64, pricePerToken: Amount, validationThresholdPpm: UInt64 = 0, sampler: String = "native"
    ) {
        self.id = id
        self.tokensPerSecondPerWeight = tokensPerSecondPerWeight
        self.weightsHash = weightsHash
        self.quantization = quantization
        self.contextLength = contextLength
        self.pricePerToken = pricePerToken
        self.validationThresholdPpm = validationThresholdPpm
        self.sampler = sampler
    }

    enum CodingKeys: String, CodingKey {
        case id, quantization, sampler
        case tokensPerSecondPerWeight = "tokens_per_second_per_weight"
        case weightsHash = "weights_hash"
        case contextLength = "context_length"
        case pricePerToken = "price_per_token"
        case validationThresholdPpm = "validation_threshold_ppm"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        tokensPerSecondPerWeight = try c.decode(UInt64.self, forKey: .tokensPerSecondPerWeight)
        weightsHash = try c.decode(String.self, forKey: .weightsHash)
        quantization = try c.decode(String.self, forKey: .quantization)
        contextLength = try c.decode(UInt64.self, forKey: .contextLength)
        _pricePerToken = try c.decode(AmountText.self, forKey: .pricePerToken)
        validationThresholdPpm = try c.decodeIfPresent(UInt64.self, forKey: .validationThresholdPpm) ?? 0
        sampler = try c.decodeIfPresent(String.self, forKey: .sampler) ?? "native"
    }
}

/// `query pricing`: every model's price and the parameters that move it (PROTOCOL §6.5).
public struct PricingInfo: Codable, Hashable, Sendable {
    public struct ModelPrice: Codable, Hashable, Sendable {
        public var model: String
        @AmountText public var pricePerToken: Amount
        /// ngonka per token × 10⁶ (the price's internal precision).
        public var priceMicro: UInt64
        public var utilisationPPM: UInt64
        public var windowTokens: UInt64

        public init(
            model: String, pricePerToken: Amount, priceMicro: UInt64, utilisationPPM: UInt64, windowTokens: UInt64
        ) {
            self.model = model
            self.pricePerToken = pricePerToken
            self.priceMicro = priceMicro
            self.utilisationPPM = utilisationPPM
            self.windowTokens = windowTokens
        }

        enum CodingKeys: String, CodingKey {
            case model
            case pricePerToken = "price_per_token"
            case priceMicro = "price_micro"
            case utilisationPPM = "utilisation_ppm"
            case windowTokens = "window_tokens"
        }
    }

    public var models: [ModelPrice]
    @AmountText public var startPrice: Amount
    @AmountText public var minPrice: Amount
    public var bandLowPPM: UInt64
    public var bandHighPPM: UInt64
    public var elasticityPPM: UInt64
    public var maxStepPPM: UInt64
    public var windowSeconds: UInt64
    public var defaultMaxTokens: UInt64

    public init(
        models: [ModelPrice], startPrice: Amount, minPrice: Amount, bandLowPPM: UInt64, bandHighPPM: UInt64,
        elasticityPPM: UInt64, maxStepPPM: UInt64, windowSeconds: UInt64, defaultMaxTokens: UInt64
    ) {
        self.models = models
        self.startPrice = startPrice
        self.minPrice = minPrice
        self.bandLowPPM = bandLowPPM
        self.bandHighPPM = bandHighPPM
        self.elasticityPPM = elasticityPPM
        self.maxStepPPM = maxStepPPM
        self.windowSeconds = windowSeconds
        self.defaultMaxTokens = defaultMaxTokens
    }

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

    public init(address: Address, reported: UInt64, expired: UInt64, total: UInt64, lastHeight: UInt64) {
        self.address = address
        self.reported = reported
        self.expired = expired
        self.total = total
        self.lastHeight = lastHeight
    }

    enum CodingKeys: String, CodingKey {
        case address, reported, expired, total
        case lastHeight = "last_height"
    }
}
