import Inference

/// What a backend serves: the model's public id and its limits.
public struct MLModelInfo: Sendable, Equatable {
    /// The id clients name in `model` (`GET /v1/models`).
    public var id: String
    /// Positions one request may use (prompt + completion).
    public var contextLength: Int
    public var vocabularySize: Int

    public init(id: String, contextLength: Int, vocabularySize: Int) {
        self.id = id
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }
}

/// Whether a backend can serve now (`GET /health`).
public enum MLHealth: Sendable, Equatable {
    case ready
    /// Not serving, and why (the health route answers 503 with it).
    case unavailable(String)
}

/// The engine behind the ML node's HTTP routes. The native backend runs ``Inference`` in process;
/// ``RemoteBackend`` fronts llama.cpp's server or vLLM behind the same routes.
///
/// Text ↔ ids is cheap and runs on the caller's task; generation and scoring need a slot and go
/// through an ``MLAdmission``, so capacity is decided (and refused with 429) before any response
/// bytes are sent.
public protocol MLBackend: Sendable {
    var info: MLModelInfo { get }
    /// Ids of `text`, special tokens parsed, no BOS added.
    func tokenize(_ text: String) -> [Int]
    /// The text of `ids`; throws ``InferenceError`` for an id outside the vocabulary.
    func detokenize(_ ids: [Int]) throws -> String
    /// The raw bytes one token stands for (may be part of a UTF-8 character).
    func tokenBytes(_ id: Int) -> [UInt8]
    /// The prompt ids of a chat conversation (the model's chat template, generation prompt added).
    func chatPrompt(_ messages: [ChatMessage]) -> [Int]
    /// Takes one place in the node (a slot or a queue place) for work of `priority`, or throws
    /// ``MLNodeError/overloaded``. The place is given back when the admission is released (after
    /// its job, or when dropped). Validation work waits behind live requests (``MLPriority``).
    func admit(priority: MLPriority) throws(MLNodeError) -> any MLAdmission

    /// How busy the backend is, for `/metrics`; nil where it cannot tell.
    var load: MLLoad? { get }

    /// Refuses (400) sampling the backend cannot honour, before anything is admitted: a remote
    /// engine cannot apply the node's output grammar.
    func checkSupported(_ parameters: SamplingParameters) throws(MLNodeError)

    /// Whether the backend can serve now (`GET /health`: 503 with the reason when not). A remote
    /// backend probes its upstream.
    func health() async -> MLHealth
}

extension MLBackend {
    /// A place for a live request.
    public func admit() throws(MLNodeError) -> any MLAdmission { try admit(priority: .live) }

    /// How busy the backend is, for `/metrics`; nil where it cannot tell.
    public var load: MLLoad? { nil }

    /// Everything is supported.
    public func checkSupported(_ parameters: SamplingParameters) throws(MLNodeError) {}

    /// An in-process backend is ready once it exists.
    public func health() async -> MLHealth { .ready }
}

/// One admitted request: runs one generation or scoring job when a slot is free. Task cancellation
/// while queued leaves the queue; during generation it stops after the current token.
public protocol MLAdmission: Sendable {
    /// Generates `choices` answers to `prompt` (one prefill shared where the engine can);
    /// `onEvent` sees each token and each choice's end as they happen, and returns false to stop.
    func generate(
        prompt: [Int], parameters: SamplingParameters, choices: Int,
        onEvent: @escaping @Sendable (GenerationEvent) -> Bool
    ) async throws -> [Generation]

    /// Teacher-forced logprobs of `completion` after `prompt`, with `top` alternatives per position,
    /// all positions in one batched pass; with `replay`, each position also carries the replayed
    /// draw of the request's sampler (PROTOCOL §7.2 test 3).
    func score(prompt: [Int], completion: [Int], top: Int, replay: SamplerReplay?) async throws -> [ScoredToken]
}

extension MLAdmission {
    /// Generates one answer from `prompt`; `onToken` sees each token as it is produced and returns
    /// false to stop.
    public func generate(
        prompt: [Int], parameters: SamplingParameters, onToken: @escaping @Sendable (GeneratedToken) -> Bool
    ) async throws -> Generation {
        let generations = try await generate(prompt: prompt, parameters: parameters, choices: 1) { event in
            if case .token(_, let token) = event { return onToken(token) }
            return true
        }
        return generations[0]
    }
}
