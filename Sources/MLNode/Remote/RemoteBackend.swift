import Foundation
import GonkaCore
import Inference

/// An ``MLBackend`` over an upstream engine: llama.cpp's `llama-server` or vLLM
/// (``RemoteFlavour``). Text ↔ ids, token bytes and the chat prompt are the model's own, from its
/// GGUF tokenizer (no weights loaded), so token counts and bills are the model's tokens; generation
/// and teacher-forced scoring are the upstream's, every answer checked before it is believed
/// (``RemoteAnswers``). Admission is the node's own ``SlotScheduler``: `parallel` requests at once
/// (the upstream's own parallelism), `queue` waiting, more get 429.
///
/// The upstream's sampler is opaque: `/v1/score` with a sampler replay is refused, structured
/// output (a grammar) too; validators of its inferences run the likelihood test (PROTOCOL §7.2
/// test 4).
public final class RemoteBackend: MLBackend {
    public let info: MLModelInfo
    public let flavour: RemoteFlavour
    public let tokenizer: Tokenizer
    let upstream: Upstream
    let scheduler: SlotScheduler
    /// How long a health probe waits for the upstream.
    let healthTimeout: Duration
    /// A token whose text is one whole ASCII character: what a llama.cpp score forces where the
    /// scored token ends inside a UTF-8 character (``RemoteAdmission``).
    let probeToken: Int
    /// Ordinary tokens by their bytes: which token a run of skipped bytes was (``RemoteAdmission``).
    let tokensByBytes: [[UInt8]: Int]

    /// - Parameters:
    ///   - upstream: the engine's base URL (`http://host:port`).
    ///   - modelID: the id clients send, and the id the upstream must serve.
    ///   - contextLength: positions per request (the upstream's per-slot context).
    ///   - timeout: the most one upstream request (a whole stream) may take.
    public init(
        upstream: String, flavour: RemoteFlavour, modelID: String, tokenizer: Tokenizer, contextLength: Int,
        parallel: Int = 1, queue: Int = 16, timeout: Duration = .seconds(300), healthTimeout: Duration = .seconds(2)
    ) {
        self.upstream = Upstream(baseURL: upstream, timeout: timeout)
        self.flavour = flavour
        self.tokenizer = tokenizer
        info = MLModelInfo(id: modelID, contextLength: max(1, contextLength), vocabularySize: tokenizer.vocabularySize)
        scheduler = SlotScheduler(slots: max(1, parallel), queueLimit: max(0, queue))
        self.healthTimeout = healthTimeout
        probeToken =
            (0..<tokenizer.vocabularySize).first { id in
                let bytes = tokenizer.bytes(of: id)
                return bytes.count == 1 && (0x21...0x7E).contains(bytes[0]) && !tokenizer.isSpecial(id)
            } ?? 0
        var byBytes: [[UInt8]: Int] = [:]
        for id in 0..<tokenizer.vocabularySize where !tokenizer.isSpecial(id) {
            byBytes[tokenizer.bytes(of: id)] = byBytes[tokenizer.bytes(of: id)] ?? id
        }
        tokensByBytes = byBytes
    }

    /// Up to `limit` ways to cut `bytes` into `count` ordinary tokens.
    func segmentations(of bytes: ArraySlice<UInt8>, into count: Int, limit: Int = 2) -> [[Int]] {
        guard count > 0 else { return bytes.isEmpty ? [[]] : [] }
        guard !bytes.isEmpty else { return [] }
        var found: [[Int]] = []
        for cut in (bytes.startIndex + 1)...bytes.endIndex {
            guard let first = tokensByBytes[Array(bytes[bytes.startIndex..<cut])] else { continue }
            for rest in segmentations(of: bytes[cut...], into: count - 1, limit: limit - found.count) {
                found.append([first] + rest)
                if found.count >= limit { return found }
            }
        }
        return found
    }

    /// A backend for the engine at `upstream`: its flavour (when not given: llama-server answers
    /// `GET /props`, vLLM does not) and its context (llama-server's per-slot `n_ctx`, vLLM's
    /// `max_model_len`, at most `contextLength` when given) asked of it once, after it has loaded
    /// (503 answers are waited out for up to `startup`).
    public static func connect(
        upstream url: String, flavour: RemoteFlavour?, modelID: String, tokenizer: Tokenizer, contextLength: Int? = nil,
        parallel: Int = 1, queue: Int = 16, timeout: Duration = .seconds(300), startup: Duration = .seconds(120)
    ) async throws(MLNodeError) -> RemoteBackend {
        let upstream = Upstream(baseURL: url, timeout: .seconds(10))
        // llama-server answers 503 while it loads its model: wait for it (up to `startup`).
        let deadline = ContinuousClock.now + startup
        var props = try await upstream.get("/props")
        while props.status == 503, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(250))
            props = try await upstream.get("/props")
        }
        let detected: RemoteFlavour =
            props.status == 200
                && (try? JSONDecoder().decode(LlamaCppWire.Props.self, from: Data(props.body)))?
                    .defaultGenerationSettings != nil
            ? .llamacpp : .vllm
        let flavour = flavour ?? detected
        var context: Int?
        switch flavour {
        case .llamacpp:
            guard props.status == 200 else {
                throw Upstream.refusal(path: "/props", status: props.status, body: props.body)
            }
            context = try Upstream.decode(LlamaCppWire.Props.self, from: props.body, what: "/props")
                .defaultGenerationSettings?.nCtx
        case .vllm:
            let models = try await upstream.get("/v1/models")
            guard models.status == 200 else {
                throw Upstream.refusal(path: "/v1/models", status: models.status, body: models.body)
            }
            let list = try Upstream.decode(VLLMWire.Models.self, from: models.body, what: "/v1/models")
            context = list.data.first { $0.id == modelID }?.maxModelLen
        }
        guard let positions = [context, contextLength].compactMap({ $0 }).min(), positions > 0 else {
            throw .badGateway("The upstream engine did not say its context length; pass it explicitly.")
        }
        return RemoteBackend(
            upstream: url, flavour: flavour, modelID: modelID, tokenizer: tokenizer, contextLength: positions,
            parallel: parallel, queue: queue, timeout: timeout)
    }

    /// The upstream's base URL.
    public var upstreamURL: String { upstream.baseURL }

    public var load: MLLoad? {
        let waiting = scheduler.waiting
        return MLLoad(running: max(0, scheduler.admitted - waiting), waiting: waiting)
    }

    public func tokenize(_ text: String) -> [Int] { tokenizer.encode(text, parseSpecial: true) }

    public func detokenize(_ ids: [Int]) throws -> String {
        let size = tokenizer.vocabularySize
        for (position, id) in ids.enumerated() where id < 0 || id >= size {
            throw InferenceError.tokenOutOfVocabulary(id: id, position: position, vocabularySize: size)
        }
        return try tokenizer.decode(ids)
    }

    public func tokenBytes(_ id: Int) -> [UInt8] {
        guard id >= 0, id < tokenizer.vocabularySize else { return [] }
        return tokenizer.bytes(of: id)
    }

    public func chatPrompt(_ messages: [ChatMessage]) -> [Int] { tokenize(ChatTemplate.render(messages)) }

    public func checkSupported(_ parameters: SamplingParameters) throws(MLNodeError) {
        if parameters.grammar != nil {
            throw .invalidRequest(
                "This ML node fronts \(flavour.rawValue), whose sampler cannot apply the node's output grammar: "
                    + "response_format json_object/json_schema and forced tool calls are not available here.",
                param: "response_format")
        }
    }

    public func admit(priority: MLPriority) throws(MLNodeError) -> any MLAdmission {
        guard scheduler.admit(priority: priority) else {
            throw .overloaded(slots: scheduler.slots, queue: scheduler.queueLimit)
        }
        return RemoteAdmission(backend: self, priority: priority)
    }

    /// Probes the upstream (``healthTimeout`` per request): it must answer its health route and
    /// serve ``MLModelInfo/id`` (llama-server: `--alias`; vLLM: `--served-model-name`) with this
    /// tokenizer's vocabulary where it says its size.
    public func health() async -> MLHealth {
        do {
            let health = try await upstream.get("/health", timeout: healthTimeout)
            guard health.status == 200 else {
                return .unavailable("upstream /health answered HTTP \(health.status): \(Upstream.excerpt(health.body))")
            }
            let models = try await upstream.get("/v1/models", timeout: healthTimeout)
            guard models.status == 200 else {
                return .unavailable("upstream /v1/models answered HTTP \(models.status)")
            }
            let list = try Upstream.decode(ServedModels.self, from: models.body, what: "/v1/models")
            guard let model = list.data.first(where: { $0.id == info.id || ($0.aliases ?? []).contains(info.id) })
            else {
                return .unavailable(
                    "upstream serves \(list.data.map(\.id)), not the registered model '\(info.id)'")
            }
            if let vocabulary = model.meta?.nVocab, vocabulary != info.vocabularySize {
                return .unavailable(
                    "upstream's model has \(vocabulary) tokens; the tokenizer here has \(info.vocabularySize)")
            }
            return .ready
        } catch {
            return .unavailable(error.message)
        }
    }

    /// `/v1/models` as both engines answer it (llama-server adds `aliases` and `meta.n_vocab`).
    struct ServedModels: Decodable {
        var data: [Model]

        struct Model: Decodable {
            var id: String
            var aliases: [String]?
            var meta: Meta?
        }

        struct Meta: Decodable {
            var nVocab: Int?
            enum CodingKeys: String, CodingKey { case nVocab = "n_vocab" }
        }
    }
}
