extension OpenAI {
    struct Usage: Encodable, Sendable {
        let promptTokens: Int
        let completionTokens: Int
        /// Prompt tokens served from the prefix cache; `prompt_tokens_details` is sent only when
        /// some were (OpenAI's field, omitted rather than zero so the usage object stays flat).
        var cachedTokens = 0
        var totalTokens: Int { promptTokens + completionTokens }

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case totalTokens = "total_tokens"
            case promptTokensDetails = "prompt_tokens_details"
        }

        private struct Details: Encodable {
            let cachedTokens: Int

            enum CodingKeys: String, CodingKey {
                case cachedTokens = "cached_tokens"
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(promptTokens, forKey: .promptTokens)
            try c.encode(completionTokens, forKey: .completionTokens)
            try c.encode(totalTokens, forKey: .totalTokens)
            if cachedTokens > 0 { try c.encode(Details(cachedTokens: cachedTokens), forKey: .promptTokensDetails) }
        }
    }

    // MARK: chat

    struct TopLogprob: Encodable, Sendable {
        let token: String
        let logprob: Float
        let bytes: [UInt8]
    }

    /// One entry of `choices[].logprobs.content`.
    struct TokenLogprob: Encodable, Sendable {
        let token: String
        let logprob: Float
        let bytes: [UInt8]
        let topLogprobs: [TopLogprob]

        enum CodingKeys: String, CodingKey {
            case token, logprob, bytes
            case topLogprobs = "top_logprobs"
        }
    }

    struct ChatLogprobs: Encodable, Sendable {
        let content: [TokenLogprob]
    }

    /// An answer: its text (null when it is only tool calls), and its tool calls when any.
    struct AssistantMessage: Encodable, Sendable {
        var role = "assistant"
        let content: String?
        var toolCalls: [ToolCall]?

        enum CodingKeys: String, CodingKey {
            case role, content
            case toolCalls = "tool_calls"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(role, forKey: .role)
            try c.encode(content, forKey: .content)
            try c.encodeIfPresent(toolCalls, forKey: .toolCalls)
        }
    }

    struct FunctionCall: Encodable, Sendable {
        let name: String
        /// JSON text, as OpenAI sends it.
        let arguments: String
    }

    /// `{"id", "type": "function", "function": {"name", "arguments"}}`.
    struct ToolCall: Encodable, Sendable {
        let id: String
        var type = "function"
        let function: FunctionCall
    }

    /// A streamed tool call: the whole call in one delta (index, id, name and arguments), which
    /// OpenAI's clients accumulate like any split of it.
    struct ToolCallDelta: Encodable, Sendable {
        let index: Int
        let id: String
        var type = "function"
        let function: FunctionCall
    }

    struct ChatChoice: Encodable, Sendable {
        let index: Int
        let message: AssistantMessage
        let logprobs: ChatLogprobs?
        let finishReason: String

        enum CodingKeys: String, CodingKey {
            case index, message, logprobs
            case finishReason = "finish_reason"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(message, forKey: .message)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finishReason, forKey: .finishReason)
        }
    }

    struct ChatCompletion: Encodable, Sendable {
        let id: String
        var object = "chat.completion"
        let created: Int
        let model: String
        let choices: [ChatChoice]
        let usage: Usage
    }

    struct Delta: Encodable, Sendable {
        var role: String?
        var content: String?
        var toolCalls: [ToolCallDelta]?

        enum CodingKeys: String, CodingKey {
            case role, content
            case toolCalls = "tool_calls"
        }
    }

    struct ChatChunkChoice: Encodable, Sendable {
        let index: Int
        let delta: Delta
        let logprobs: ChatLogprobs?
        let finishReason: String?

        enum CodingKeys: String, CodingKey {
            case index, delta, logprobs
            case finishReason = "finish_reason"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(delta, forKey: .delta)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finishReason, forKey: .finishReason)
        }
    }

    struct ChatChunk: Encodable, Sendable {
        let id: String
        var object = "chat.completion.chunk"
        let created: Int
        let model: String
        let choices: [ChatChunkChoice]
        var usage: Usage?
    }

    // MARK: completions

    /// The legacy completions `logprobs` object.
    struct CompletionLogprobs: Encodable, Sendable {
        var tokens: [String] = []
        var tokenLogprobs: [Float] = []
        var topLogprobs: [[String: Float]] = []
        var textOffset: [Int] = []

        enum CodingKeys: String, CodingKey {
            case tokens
            case tokenLogprobs = "token_logprobs"
            case topLogprobs = "top_logprobs"
            case textOffset = "text_offset"
        }
    }

    struct CompletionChoice: Encodable, Sendable {
        let index: Int
        let text: String
        let logprobs: CompletionLogprobs?
        let finishReason: String?

        enum CodingKeys: String, CodingKey {
            case index, text, logprobs
            case finishReason = "finish_reason"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(text, forKey: .text)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finishReason, forKey: .finishReason)
        }
    }

    struct Completion: Encodable, Sendable {
        let id: String
        var object = "text_completion"
        let created: Int
        let model: String
        let choices: [CompletionChoice]
        var usage: Usage?
    }

    // MARK: others

    struct ModelEntry: Encodable, Sendable {
        let id: String
        var object = "model"
        let created: Int
        var ownedBy = "gonka"
        let maxModelLen: Int

        enum CodingKeys: String, CodingKey {
            case id, object, created
            case ownedBy = "owned_by"
            case maxModelLen = "max_model_len"
        }
    }

    struct ModelList: Encodable, Sendable {
        var object = "list"
        let data: [ModelEntry]
    }

    struct TokenizeResponse: Encodable, Sendable {
        let tokens: [Int]
        let count: Int
        let maxModelLen: Int

        enum CodingKeys: String, CodingKey {
            case tokens, count
            case maxModelLen = "max_model_len"
        }
    }

    struct DetokenizeResponse: Encodable, Sendable {
        let prompt: String
    }

    struct ErrorBody: Encodable, Sendable {
        struct Detail: Encodable, Sendable {
            let message: String
            let type: String
            let param: String?
            let code: String

            enum CodingKeys: String, CodingKey { case message, type, param, code }

            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(message, forKey: .message)
                try c.encode(type, forKey: .type)
                try c.encode(param, forKey: .param)
                try c.encode(code, forKey: .code)
            }
        }
        let error: Detail

        init(_ error: MLNodeError) {
            self.error = Detail(
                message: error.message, type: error.type, param: error.param, code: error.shortDescription)
        }
    }

    struct Health: Encodable, Sendable {
        var status = "ok"
        let model: String
        /// Why the node cannot serve (with status `unavailable`).
        var reason: String?
    }
}
