import Inference

/// vLLM's OpenAI server on the wire: `/v1/completions` with token-id prompts, `logprobs` (tokens as
/// `token_id:ID` with `return_tokens_as_token_ids`) for generation and `prompt_logprobs` for
/// scoring, and `/v1/models`. Shapes from vLLM's documentation (`vllm.entrypoints.openai.protocol`,
/// `vllm.logprobs`); the contract tests decode recorded examples.
enum VLLMWire {
    struct CompletionRequest: Encodable, Sendable {
        var model: String
        var prompt: [Int]
        var maxTokens: Int
        var temperature: Float
        var topK: Int?
        var topP: Float?
        var minP: Float?
        var seed: Int64?
        var logprobs: Int?
        var promptLogprobs: Int?
        var stream: Bool
        var streamOptions: StreamOptions?
        var returnTokensAsTokenIDs: Bool?
        var logitBias: [String: Float]?
        var presencePenalty: Float?
        var frequencyPenalty: Float?
        var repetitionPenalty: Float?

        struct StreamOptions: Encodable, Sendable {
            var includeUsage = true
            enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
        }

        enum CodingKeys: String, CodingKey {
            case model, prompt, temperature, seed, logprobs, stream
            case maxTokens = "max_tokens"
            case topK = "top_k"
            case topP = "top_p"
            case minP = "min_p"
            case promptLogprobs = "prompt_logprobs"
            case streamOptions = "stream_options"
            case returnTokensAsTokenIDs = "return_tokens_as_token_ids"
            case logitBias = "logit_bias"
            case presencePenalty = "presence_penalty"
            case frequencyPenalty = "frequency_penalty"
            case repetitionPenalty = "repetition_penalty"
        }
    }

    /// A completion answer or one streamed chunk of it.
    struct Completion: Decodable, Sendable {
        var model: String?
        var choices: [Choice]
        var usage: Usage?

        struct Choice: Decodable, Sendable {
            var index: Int?
            var logprobs: Logprobs?
            var finishReason: String?
            /// Per prompt position: nil for the first, else token id (decimal) → entry; holds the
            /// prompt's own token and the `prompt_logprobs` best.
            var promptLogprobs: [[String: PromptLogprob]?]?

            enum CodingKeys: String, CodingKey {
                case index, logprobs
                case finishReason = "finish_reason"
                case promptLogprobs = "prompt_logprobs"
            }
        }

        struct Logprobs: Decodable, Sendable {
            var tokens: [String]
            var tokenLogprobs: [Double?]
            var topLogprobs: [[String: Double]?]

            enum CodingKeys: String, CodingKey {
                case tokens
                case tokenLogprobs = "token_logprobs"
                case topLogprobs = "top_logprobs"
            }
        }

        struct PromptLogprob: Decodable, Sendable {
            var logprob: Double
            var rank: Int?
        }

        struct Usage: Decodable, Sendable {
            var completionTokens: Int?
            enum CodingKeys: String, CodingKey { case completionTokens = "completion_tokens" }
        }
    }

    /// `GET /v1/models`.
    struct Models: Decodable, Sendable {
        var data: [Model]

        struct Model: Decodable, Sendable {
            var id: String
            var maxModelLen: Int?
            enum CodingKeys: String, CodingKey {
                case id
                case maxModelLen = "max_model_len"
            }
        }
    }

    /// The generation request for one choice (seed offset by the choice); stop strings stay with
    /// the node (``ChoiceText``).
    static func generation(
        model: String, prompt: [Int], parameters p: SamplingParameters, choice: Int, top: Int
    ) -> CompletionRequest {
        let a = p.adjustments
        return CompletionRequest(
            model: model, prompt: prompt, maxTokens: p.maxTokens, temperature: p.temperature,
            topK: p.topK == 0 ? -1 : p.topK, topP: p.topP, minP: p.minP,
            seed: Int64(bitPattern: p.seed &+ UInt64(choice)), logprobs: max(1, top), stream: true,
            streamOptions: .init(), returnTokensAsTokenIDs: true,
            logitBias: a.bias.isEmpty
                ? nil : Dictionary(uniqueKeysWithValues: a.bias.map { ("\($0.token)", $0.value) }),
            presencePenalty: a.presencePenalty, frequencyPenalty: a.frequencyPenalty,
            repetitionPenalty: a.repetitionPenalty)
    }

    /// The scoring request: one prefill of prompt + completion, `prompt_logprobs` for every position.
    static func score(model: String, prompt: [Int], completion: [Int], top: Int) -> CompletionRequest {
        CompletionRequest(
            model: model, prompt: prompt + completion, maxTokens: 1, temperature: 0, promptLogprobs: max(1, top),
            stream: false)
    }

    /// `token_id:ID` (what `return_tokens_as_token_ids` makes of a token) → ID.
    static func tokenID(_ text: String) -> Int? {
        guard text.hasPrefix("token_id:") else { return nil }
        return Int(text.dropFirst("token_id:".count))
    }

    /// The positions and the end of a streamed chunk (choice 0: the node asks for one per request).
    static func chunk(_ completion: Completion) throws(MLNodeError) -> UpstreamChunk {
        var chunk = UpstreamChunk(generatedSoFar: completion.usage?.completionTokens)
        guard let choice = completion.choices.first else { return chunk }
        if let logprobs = choice.logprobs {
            guard logprobs.tokens.count == logprobs.tokenLogprobs.count,
                logprobs.tokens.count == logprobs.topLogprobs.count
            else {
                throw .badGateway(
                    "vLLM sent \(logprobs.tokens.count) token(s) with \(logprobs.tokenLogprobs.count) logprobs and "
                        + "\(logprobs.topLogprobs.count) top lists.")
            }
            for i in logprobs.tokens.indices {
                guard let token = tokenID(logprobs.tokens[i]) else {
                    throw .badGateway(
                        "vLLM sent the token '\(logprobs.tokens[i].prefix(40))', not token_id:ID: start it with "
                            + "--return-tokens-as-token-ids or a version that honours the request field.")
                }
                guard let logprob = logprobs.tokenLogprobs[i] else {
                    throw .badGateway("vLLM sent no logprob for generated token \(token).")
                }
                var top: [UpstreamPosition.Alternative] = []
                for (key, value) in logprobs.topLogprobs[i] ?? [:] {
                    guard let id = tokenID(key) else {
                        throw .badGateway("vLLM sent the top-logprob key '\(key.prefix(40))', not token_id:ID.")
                    }
                    top.append(.init(token: id, logprob: value))
                }
                chunk.positions.append(UpstreamPosition(token: token, logprob: logprob, top: top))
            }
        } else if choice.finishReason == nil {
            throw .badGateway("vLLM sent a chunk without logprobs.")
        }
        switch choice.finishReason {
        case nil: break
        case "length": chunk.finish = .length
        default: chunk.finish = .stop
        }
        return chunk
    }

    /// The completion positions of a scoring answer: `prompt_logprobs` at prompt.count + i, each of
    /// which must hold the completion's token.
    static func scored(
        _ completion: Completion, promptCount: Int, completion tokens: [Int]
    ) throws(MLNodeError) -> [UpstreamPosition] {
        guard let entries = completion.choices.first?.promptLogprobs else {
            throw .badGateway("vLLM's answer has no prompt_logprobs (is --max-logprobs at least the top asked?).")
        }
        guard entries.count == promptCount + tokens.count else {
            throw .badGateway(
                "vLLM sent prompt_logprobs for \(entries.count) positions; the scored sequence has "
                    + "\(promptCount + tokens.count).")
        }
        var positions: [UpstreamPosition] = []
        for (i, token) in tokens.enumerated() {
            guard let entry = entries[promptCount + i] else {
                throw .badGateway("vLLM sent no prompt_logprobs at completion position \(i).")
            }
            var top: [UpstreamPosition.Alternative] = []
            var own: Double?
            for (key, value) in entry {
                guard let id = Int(key) else {
                    throw .badGateway("vLLM sent the prompt_logprobs key '\(key.prefix(40))'.")
                }
                if id == token { own = value.logprob }
                top.append(.init(token: id, logprob: value.logprob))
            }
            guard let own else {
                throw .badGateway("vLLM's prompt_logprobs at completion position \(i) lack the token \(token).")
            }
            positions.append(UpstreamPosition(token: token, logprob: own, top: top))
        }
        return positions
    }
}
