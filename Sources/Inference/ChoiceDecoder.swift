/// One choice's decoding, one logits row at a time: the seeded draw (under the output grammar if
/// any), the end-of-turn and stop-string checks, `max_tokens`, and the text as complete UTF-8.
///
/// The caller owns the forward passes: it feeds the logits after the prompt, then after each token
/// this returns. ``LlamaSession`` drives it for one sequence, the batch engine for many at once, so
/// a choice decodes the same either way.
public struct ChoiceDecoder {
    /// What one logits row led to.
    public enum Step: Equatable {
        /// A token for the client; `done` is set when the choice ends with it (stop string,
        /// `max_tokens`), else the caller evaluates `token.id` and feeds the next logits.
        case token(GeneratedToken, done: FinishReason?)
        /// The choice ended without a new token (end of turn).
        case end(FinishReason)
    }

    private let tokenizer: Tokenizer
    private let parameters: SamplingParameters
    private let promptTokens: Int
    private var sampler: Sampler
    private let vocabulary: GrammarVocabulary?
    private var grammarState: OutputGrammar.State?
    /// What the penalties look at (nil when the request has no adjustments).
    private var history: LogitAdjustments.History?
    public private(set) var ids: [Int] = []
    private var logprobs: [TokenLogprob] = []
    private var text: ChoiceText

    /// A decoder for one choice of `prompt` (`parameters.choice` seeds its stream).
    public init(model: LlamaModel, prompt: [Int], parameters: SamplingParameters) {
        tokenizer = model.tokenizer
        self.parameters = parameters
        promptTokens = prompt.count
        history = parameters.adjustments.isEmpty ? nil : LogitAdjustments.History(prompt: prompt)
        sampler = Sampler(parameters)
        vocabulary = parameters.grammar == nil ? nil : model.grammarVocabulary
        grammarState = parameters.grammar?.start
        text = ChoiceText(tokenizer: model.tokenizer, stop: parameters.stop)
    }

    /// Draws the next token from `logits` (the model's, for the position after the last token).
    public mutating func accept(_ logits: UnsafeBufferPointer<Float>) -> Step {
        guard ids.count < parameters.maxTokens else { return .end(.length) }
        let id: Int
        if history == nil && parameters.grammar == nil {
            id = sampler.sample(logits)
        } else {
            // Adjustments and the constraint are part of the draw; the reported logprobs stay the
            // model's own (below).
            let shaped = Sampler.shaped(
                logits, parameters: parameters, history: history, vocabulary: vocabulary, state: grammarState)
            id = shaped.withUnsafeBufferPointer { sampler.sample($0) }
            if let grammar = parameters.grammar, let vocabulary, let state = grammarState {
                grammarState = vocabulary.advance(state, by: id, grammar: grammar)
            }
            history?.record(id)
        }
        let entry = Logprobs.entry(logits, token: id, top: parameters.topLogprobs)
        if tokenizer.endsChoice(id) { return .end(.stop) }
        ids.append(id)
        logprobs.append(entry)
        let (piece, stopped) = text.append(id)
        let token = GeneratedToken(id: id, logprob: entry, text: piece)
        if stopped { return .token(token, done: .stop) }
        return .token(token, done: ids.count == parameters.maxTokens ? .length : nil)
    }

    /// The choice as it stands, ended for `reason`.
    public func generation(_ reason: FinishReason) -> Generation {
        Generation(
            promptTokens: promptTokens, tokens: ids, logprobs: logprobs, text: text.text,
            finishReason: reason)
    }
}
