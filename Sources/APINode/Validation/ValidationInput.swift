import GonkaCore
import Inference
import Verification

/// What a validator reads from a fetched payload (PROTOCOL §6.3) to re-score it: the prompt as the
/// executor sent it to its ML node, the sampling it asked for, and the output positions. Pure:
/// bytes in, values out; a payload that does not decode is the executor's fault
/// (``ValidationInputError/undecodable``), never a crash.
public struct ValidationInput: Sendable, Hashable {
    /// The prompt of the request as executed.
    public enum Prompt: Sendable, Hashable {
        /// Chat messages (as ``ChatMessages/parse(_:)`` reads them), rendered by the ML node's chat
        /// template.
        case chat([ChatMessage])
        /// A legacy completion's prompt text.
        case text(String)
        /// A legacy completion's prompt ids.
        case tokens([Int])
    }

    /// The request's sampling as the executor's ML node applied it (OpenAI defaults: temperature 1,
    /// top_p 1, no top_k or min_p), with its seed.
    public struct Sampling: Sendable, Hashable {
        public var temperature: Double
        public var topK: Int
        public var topP: Double
        public var minP: Double
        public var seed: UInt64
        /// The choice (of the request's `n`) a replay is for; the validator sets it per choice.
        public var choice: Int
        /// The request's `response_format` when it constrains the output (json_object, json_schema),
        /// or the ``ToolCallFormat`` of a forced tool call: the replay masks with the same grammar.
        public var responseFormat: JSONValue?
        /// The request's `logit_bias` and penalties: the replay adjusts the logits as the sampler did.
        public var adjustments: LogitAdjustments

        public init(
            temperature: Double = 1, topK: Int = 0, topP: Double = 1, minP: Double = 0, seed: UInt64 = 0,
            choice: Int = 0, responseFormat: JSONValue? = nil, adjustments: LogitAdjustments = .none
        ) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
            self.minP = minP
            self.seed = seed
            self.choice = choice
            self.responseFormat = responseFormat
            self.adjustments = adjustments
        }

        /// As ``InferenceCheck`` reads it: a grammar or adjusted logits shaped the draws beyond the
        /// bare model's distribution.
        public var check: InferenceCheck.Sampling {
            InferenceCheck.Sampling(
                temperature: temperature, topK: topK, topP: topP, minP: minP,
                constrained: responseFormat != nil || !adjustments.isEmpty)
        }
    }

    public var payload: InferencePayload
    public var prompt: Prompt
    public var sampling: Sampling

    /// The output token ids, in order (every choice, one after the other).
    public var completion: [Int] { payload.tokens.map { Int($0.token) } }

    /// The output token ids of each choice (one list for `n` = 1).
    public var choices: [[Int]] { payload.choices.map { $0.tokens.map { Int($0.token) } } }

    /// The executor's positions as the check reads them.
    public var positions: [InferenceCheck.ExecutorPosition] {
        payload.tokens.map { token in
            InferenceCheck.ExecutorPosition(
                token: token.token, logprob: Double(token.logprob),
                top: token.top.map { InferenceCheck.TokenLogprob(token: $0.token, logprob: Double($0.logprob)) })
        }
    }

    /// Decodes `bytes` as the payload of `inferenceID` by `executor`; a payload for another
    /// inference or executor, or whose request is not a chat or completion body, is refused.
    public init(bytes: [UInt8], inferenceID: String, executor: Address) throws(ValidationInputError) {
        guard let payload = InferencePayload(decoding: bytes) else { throw .undecodable("not a gonka-payload-v1") }
        guard payload.inferenceID == inferenceID else {
            throw .undecodable("the payload is for inference \(payload.inferenceID.prefix(16))…")
        }
        guard payload.executor == executor.description else {
            throw .undecodable("the payload names executor \(payload.executor)")
        }
        guard let object = try? JSONValue(parsing: payload.request), object.objectValue != nil else {
            throw .undecodable("the executed request is not a JSON object")
        }
        self.payload = payload
        prompt = try Self.prompt(of: object)
        sampling = try Self.sampling(of: object)
    }

    static func prompt(of object: JSONValue) throws(ValidationInputError) -> Prompt {
        if let messages = object["messages"] {
            do {
                // The tools the model was shown are part of the prompt (``ChatTools/prompt(_:)``).
                let parsed = try ChatMessages.parse(messages)
                return .chat(try ChatTools.parse(object)?.prompt(parsed) ?? parsed)
            } catch {
                throw .undecodable("the messages do not read: \(error.message)")
            }
        }
        if let text = object["prompt"]?.stringValue { return .text(text) }
        if let list = object["prompt"]?.arrayValue {
            if list.count == 1, let text = list[0].stringValue { return .text(text) }
            let ids = list.compactMap(\.intValue)
            if ids.count == list.count, !ids.isEmpty, ids.allSatisfy({ $0 >= 0 }) { return .tokens(ids) }
        }
        throw .undecodable("the executed request has neither messages nor a prompt")
    }

    static func sampling(of object: JSONValue) throws(ValidationInputError) -> Sampling {
        func number(_ key: String) -> Double? {
            guard let value = object[key], !value.isNull else { return nil }
            return value.doubleValue ?? value.intValue.map(Double.init)
        }
        var sampling = Sampling()
        if let t = number("temperature") { sampling.temperature = t }
        if let p = number("top_p") { sampling.topP = p }
        if let m = number("min_p") { sampling.minP = m }
        if let k = object["top_k"]?.intValue { sampling.topK = max(0, k) }
        // The executor always sets a seed (§6.3); its bits are the sampler's seed.
        if let seed = object["seed"]?.intValue { sampling.seed = UInt64(bitPattern: Int64(seed)) }
        guard sampling.temperature.isFinite, sampling.temperature >= 0, sampling.topP.isFinite, sampling.topP > 0,
            sampling.topP <= 1, sampling.minP.isFinite, (0...1).contains(sampling.minP)
        else { throw .undecodable("the executed request's sampling is out of range") }
        do {
            // The ML node that scores checks the `logit_bias` ids against its vocabulary.
            sampling.adjustments = try LogitAdjustments(request: object)
        } catch {
            throw .undecodable("the executed request's \(error.parameter ?? "logit adjustments") is out of range")
        }
        if let format = object["response_format"], !format.isNull {
            do {
                if try OutputGrammar.compile(responseFormat: format) != nil { sampling.responseFormat = format }
            } catch {
                throw .undecodable("the executed request's response_format does not compile: \(error.message)")
            }
        }
        if object["messages"] != nil {
            // A forced tool call (tool_choice required or named) is the sampler's constraint too.
            do {
                if let constraint = try ChatTools.parse(object)?.constraint { sampling.responseFormat = constraint }
            } catch {
                throw .undecodable("the executed request's tools do not read: \(error.message)")
            }
        }
        return sampling
    }
}

/// A payload the validator cannot read (the executor's fault: the inference fails `commitment`).
public enum ValidationInputError: Error, Hashable, Sendable, CustomStringConvertible {
    case undecodable(String)

    public var description: String {
        switch self {
        case .undecodable(let why): "the payload does not decode: \(why)"
        }
    }
}
