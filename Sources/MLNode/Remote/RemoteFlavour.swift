/// Which engine a ``RemoteBackend`` fronts, and so which requests it sends for generation and for
/// teacher-forced scoring.
public enum RemoteFlavour: String, Sendable, Hashable, CaseIterable {
    /// llama.cpp's `llama-server`: generation on its native `/completion` (token ids in, `n_probs`
    /// raw logprobs out, streamed); scoring one request per completion position, the position's
    /// token forced by `logit_bias` (a sampler step: the reported logprobs stay the model's own)
    /// with the prompt cached between positions.
    case llamacpp
    /// vLLM's OpenAI server: generation on `/v1/completions` (token ids in, `logprobs`,
    /// `return_tokens_as_token_ids`); scoring in one request with `prompt_logprobs`.
    case vllm
}

/// One position as an upstream answer reported it, before it is checked: the token, its logprob
/// and the alternatives in the order the upstream gave them.
struct UpstreamPosition: Sendable, Equatable {
    var token: Int
    var logprob: Double
    var top: [Alternative]

    struct Alternative: Sendable, Equatable {
        var token: Int
        var logprob: Double
    }
}

/// Why an upstream generation ended, as it said.
enum UpstreamFinish: Sendable, Equatable {
    /// End of turn (or a stop the upstream applied).
    case stop
    /// Its token limit.
    case length
}

/// What one streamed chunk of an upstream generation carried.
struct UpstreamChunk: Sendable, Equatable {
    /// New tokens, in order.
    var positions: [UpstreamPosition] = []
    /// Set on the chunk that ends the generation.
    var finish: UpstreamFinish?
    /// Tokens the upstream says it generated so far (llama.cpp's `tokens_predicted`, vLLM's usage),
    /// when the chunk says: checked against the tokens received, so a token the upstream skipped
    /// is an error, not a silent gap in the bill.
    var generatedSoFar: Int?
    /// The text bytes the chunk adds (llama.cpp's `content`): they hold the bytes of tokens the
    /// upstream generated but did not report (``RemoteAdmission`` recovers those).
    var text: [UInt8]?
}
