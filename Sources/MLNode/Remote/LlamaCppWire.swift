import Inference

/// llama.cpp's `llama-server` on the wire (its `tools/server`, as built by `scripts/llama-server`):
/// the native `/completion` request and its answers (streamed chunks, the final answer), `/props`
/// and `/v1/models`. Only the fields this node sends or reads.
enum LlamaCppWire {
    /// `POST /completion`. `prompt` is token ids (used as given: no BOS added); `n_probs` asks for
    /// the top alternatives from the raw logits (`post_sampling_probs` false, the default), and the
    /// sampled token's own logprob is exact even outside them.
    struct CompletionRequest: Encodable, Sendable {
        var prompt: [Int]
        var nPredict: Int
        var nProbs: Int
        var stream: Bool
        var returnTokens = true
        var cachePrompt = true
        var temperature: Float?
        var topK: Int?
        var topP: Float?
        var minP: Float?
        var seed: UInt32?
        /// Token id (decimal) → bias.
        var logitBias: [String: Float]?
        var presencePenalty: Float?
        var frequencyPenalty: Float?
        var repeatPenalty: Float?
        /// Tokens the penalties look back over (the whole request: prompt and completion).
        var repeatLastN: Int?
        /// The sampler chain, by name; nil keeps the server's.
        var samplers: [String]?

        enum CodingKeys: String, CodingKey {
            case prompt, stream, temperature, seed, samplers
            case nPredict = "n_predict"
            case nProbs = "n_probs"
            case returnTokens = "return_tokens"
            case cachePrompt = "cache_prompt"
            case topK = "top_k"
            case topP = "top_p"
            case minP = "min_p"
            case logitBias = "logit_bias"
            case presencePenalty = "presence_penalty"
            case frequencyPenalty = "frequency_penalty"
            case repeatPenalty = "repeat_penalty"
            case repeatLastN = "repeat_last_n"
        }
    }

    /// One entry of `completion_probabilities`.
    struct Probability: Decodable, Sendable {
        var id: Int
        var logprob: Double
        var topLogprobs: [Alternative]

        enum CodingKeys: String, CodingKey {
            case id, logprob
            case topLogprobs = "top_logprobs"
        }
    }

    struct Alternative: Decodable, Sendable {
        var id: Int
        var logprob: Double
    }

    /// A streamed chunk (`stop` false: one token) or the final answer (`stop` true).
    struct Answer: Decodable, Sendable {
        var content: String?
        var tokens: [Int]?
        var stop: Bool?
        var stopType: String?
        var tokensPredicted: Int?
        var completionProbabilities: [Probability]?

        enum CodingKeys: String, CodingKey {
            case content, tokens, stop
            case stopType = "stop_type"
            case tokensPredicted = "tokens_predicted"
            case completionProbabilities = "completion_probabilities"
        }
    }

    /// `GET /props` (what tells llama-server apart from vLLM, and each slot's context).
    struct Props: Decodable, Sendable {
        var defaultGenerationSettings: GenerationSettings?

        struct GenerationSettings: Decodable, Sendable {
            var nCtx: Int?
            enum CodingKeys: String, CodingKey { case nCtx = "n_ctx" }
        }

        enum CodingKeys: String, CodingKey { case defaultGenerationSettings = "default_generation_settings" }
    }

    /// The generation request for one choice: the request's sampling mapped to llama.cpp's fields
    /// (every filter sent, so the server's defaults, e.g. `min_p` 0.05, never apply), the seed
    /// offset by the choice. Stop strings are not sent: the node applies them (``ChoiceText``).
    static func generation(
        prompt: [Int], parameters p: SamplingParameters, choice: Int, top: Int
    ) -> CompletionRequest {
        let a = p.adjustments
        var seed = UInt32(truncatingIfNeeded: p.seed &+ UInt64(choice))
        // 0xFFFFFFFF is llama.cpp's "random seed".
        if seed == .max { seed = 0 }
        return CompletionRequest(
            prompt: prompt, nPredict: p.maxTokens, nProbs: max(1, top), stream: true, temperature: p.temperature,
            topK: p.topK, topP: p.topP, minP: p.minP, seed: seed,
            logitBias: a.bias.isEmpty
                ? nil : Dictionary(uniqueKeysWithValues: a.bias.map { ("\($0.token)", $0.value) }),
            presencePenalty: a.presencePenalty, frequencyPenalty: a.frequencyPenalty,
            repeatPenalty: a.repetitionPenalty, repeatLastN: prompt.count + p.maxTokens)
    }

    /// The bias that forces a token: far above any logit, so after it the token is the argmax.
    static let forcingBias: Float = 1e6

    /// One scoring request: the logprobs at the position after `context`, with `forced` sampled
    /// whatever the model prefers (`logit_bias` and a top-1 filter: sampler steps that leave the
    /// reported raw logprobs alone).
    static func forced(context: [Int], forced: Int, top: Int) -> CompletionRequest {
        CompletionRequest(
            prompt: context, nPredict: 1, nProbs: max(1, top), stream: false, topK: 1, seed: 0,
            logitBias: ["\(forced)": forcingBias], samplers: ["top_k"])
    }

    /// The positions and the end a streamed chunk or a final answer carries; a chunk whose ids and
    /// probabilities do not line up is malformed.
    static func chunk(_ answer: Answer) throws(MLNodeError) -> UpstreamChunk {
        let tokens = answer.tokens ?? []
        let probabilities = answer.completionProbabilities ?? []
        guard tokens.count == probabilities.count || (answer.stop == true && probabilities.isEmpty) else {
            throw .badGateway(
                "llama-server sent \(tokens.count) token(s) with \(probabilities.count) logprob entries.")
        }
        var chunk = UpstreamChunk(generatedSoFar: answer.tokensPredicted, text: answer.content.map { Array($0.utf8) })
        for (token, probability) in zip(tokens, probabilities) {
            guard token == probability.id else {
                throw .badGateway("llama-server sent token \(token) with the logprobs of token \(probability.id).")
            }
            chunk.positions.append(position(probability))
        }
        if answer.stop == true {
            chunk.finish = answer.stopType == "limit" ? .length : .stop
        }
        return chunk
    }

    /// Whether llama-server holds back (sends no chunk and no logprobs for) a token whose text makes
    /// the generated text `bytes`: a port of its `validate_utf8` (`tools/server/server-common.cpp`),
    /// which calls the text cut off when one of its last four bytes starts a multi-byte character
    /// that the bytes after it cannot complete.
    static func withheld(_ bytes: [UInt8]) -> Bool {
        for i in 1...min(4, max(1, bytes.count)) where i <= bytes.count {
            let c = bytes[bytes.count - i]
            if c & 0xE0 == 0xC0, i < 2 { return true }
            if c & 0xF0 == 0xE0, i < 3 { return true }
            if c & 0xF8 == 0xF0, i < 4 { return true }
        }
        return false
    }

    static func position(_ p: Probability) -> UpstreamPosition {
        UpstreamPosition(
            token: p.id, logprob: p.logprob, top: p.topLogprobs.map { .init(token: $0.id, logprob: $0.logprob) })
    }
}
