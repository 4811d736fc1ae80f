import GonkaCore

/// The OpenAI (and vLLM) request and response shapes the ML node speaks. Field names are the wire's
/// snake_case; unknown request fields are ignored, as OpenAI-compatible servers do.
public enum OpenAI {}

extension OpenAI {
    /// `stop`: one string or a list of them.
    struct Stop: Decodable, Sendable {
        let values: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) {
                values = [one]
            } else if let many = try? container.decode([String].self) {
                values = many
            } else {
                throw DecodingError.typeMismatch(
                    [String].self,
                    .init(codingPath: decoder.codingPath, debugDescription: "expected a string or an array of strings"))
            }
        }
    }

    struct StreamOptions: Decodable, Sendable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    /// The sampling fields chat and completions share.
    struct Sampling: Decodable, Sendable {
        var model: String?
        var stream: Bool?
        var streamOptions: StreamOptions?
        var seed: Int64?
        var stop: Stop?
        var maxTokens: Int?
        var maxCompletionTokens: Int?
        var temperature: Double?
        var topP: Double?
        var topK: Int?
        var minP: Double?
        var n: Int?
        /// vLLM's extension: logprob tokens as `token_id:ID` instead of text (what the executor records).
        var returnTokensAsTokenIDs: Bool?
        // Fields SDKs send that this node accepts (type- and range-checked) without changing the
        // output: docs/API.md "Request fields".
        var user: String?
        var metadata: [String: String]?
        var store: Bool?
        var serviceTier: String?
        var presencePenalty: Double?
        var frequencyPenalty: Double?
        var repetitionPenalty: Double?
        var logitBias: [String: Double]?
        /// `{"type": "text" | "json_object" | "json_schema", …}` (``OutputGrammar``).
        var responseFormat: JSONValue?

        enum CodingKeys: String, CodingKey {
            case model, stream, seed, stop, temperature, n, user, metadata, store
            case serviceTier = "service_tier"
            case presencePenalty = "presence_penalty"
            case frequencyPenalty = "frequency_penalty"
            case repetitionPenalty = "repetition_penalty"
            case logitBias = "logit_bias"
            case responseFormat = "response_format"
            case streamOptions = "stream_options"
            case maxTokens = "max_tokens"
            case maxCompletionTokens = "max_completion_tokens"
            case topP = "top_p"
            case topK = "top_k"
            case minP = "min_p"
            case returnTokensAsTokenIDs = "return_tokens_as_token_ids"
        }
    }

    /// `POST /v1/chat/completions` (`tools`, `tool_choice` and `parallel_tool_calls` are read by
    /// ``ChatTools/parse(_:)``).
    struct ChatRequest: Decodable, Sendable {
        /// Read by ``ChatMessages/parse(_:)``, the one reading of messages.
        var messages: JSONValue
        var logprobs: Bool?
        var topLogprobs: Int?

        enum CodingKeys: String, CodingKey {
            case messages, logprobs
            case topLogprobs = "top_logprobs"
        }
    }

    /// `prompt` of a legacy completion: text, token ids, or a list holding one text.
    enum Prompt: Decodable, Sendable {
        case text(String)
        case tokens([Int])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else if let ids = try? container.decode([Int].self) {
                self = .tokens(ids)
            } else if let texts = try? container.decode([String].self) {
                guard texts.count == 1 else {
                    throw DecodingError.dataCorrupted(
                        .init(
                            codingPath: decoder.codingPath, debugDescription: "only one prompt per request is supported"
                        ))
                }
                self = .text(texts[0])
            } else {
                throw DecodingError.typeMismatch(
                    String.self,
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "expected a string, an array of token ids or an array with one string"))
            }
        }
    }

    /// `POST /v1/completions`.
    struct CompletionRequest: Decodable, Sendable {
        var prompt: Prompt
        /// Alternatives per token (the legacy API's `logprobs: k`).
        var logprobs: Int?
        var echo: Bool?
    }

    /// `POST /v1/tokenize`: a text prompt, or (vLLM's chat form) messages rendered by the model's
    /// chat template with the generation prompt, exactly as a chat completion runs them.
    struct TokenizeRequest: Decodable, Sendable {
        var model: String?
        var prompt: String?
        /// Read by ``ChatMessages/parse(_:)``, as a chat completion reads them.
        var messages: JSONValue?
    }

    /// `POST /v1/detokenize`.
    struct DetokenizeRequest: Decodable, Sendable {
        var model: String?
        var tokens: [Int]
    }
}
