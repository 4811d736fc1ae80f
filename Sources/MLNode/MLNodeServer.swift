import Foundation
import GonkaCore
import Hummingbird
import Inference
import Logging
import NIOCore
import ServerLifecycle
import ServiceLifecycle

/// Limits and defaults of the HTTP layer.
public struct MLNodeConfiguration: Sendable {
    /// Largest request body accepted (larger: 413).
    public var maxBodyBytes: Int
    /// `max_tokens` when a request names none (capped by what the context leaves).
    public var defaultMaxTokens: Int

    /// Threads of the PoC engine (`/poc/*`).
    public var pocThreads: Int

    public init(
        maxBodyBytes: Int = 4 << 20, defaultMaxTokens: Int = 512,
        pocThreads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.defaultMaxTokens = defaultMaxTokens
        self.pocThreads = pocThreads
    }
}

/// The ML node's HTTP API (PROTOCOL.md §11): OpenAI-compatible chat and completions (streaming or
/// not), `/v1/score`, `/v1/tokenize`, `/v1/detokenize`, `/v1/models`, `/health`, and Proof of
/// Compute: `POST /poc/generate`, `POST /poc/validate`, `GET /poc/status`, `POST /poc/stop`.
public enum MLNodeServer {
    /// The router over `backend`; `poc` (default: a controller with `configuration.pocThreads`)
    /// runs the PoC routes.
    public static func router(
        backend: some MLBackend, configuration: MLNodeConfiguration = .init(), poc: PocController? = nil,
        metrics: MLNodeMetrics = MLNodeMetrics(), logger: Logger
    ) -> Router<BasicRequestContext> {
        let handlers = Handlers(
            backend: backend, configuration: configuration,
            poc: poc ?? PocController(threads: configuration.pocThreads), metrics: metrics, logger: logger)
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: OpenAIErrorMiddleware())
        router.get("/health") { _, _ in await handlers.health() }
        router.get("/v1/models") { _, _ in handlers.models() }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition(load: backend.load))))
        }
        router.post("/v1/chat/completions") { request, _ in
            await handlers.respond(request) {
                try handlers.refuseWhileMining()
                return try await handlers.chat($0)
            }
        }
        router.post("/v1/messages") { request, _ in
            // Anthropic's Messages API: translated to the chat request, the answer translated back.
            let answer = await handlers.respond(request) {
                try handlers.refuseWhileMining()
                let chat: [UInt8]
                do {
                    chat = try Anthropic.chatRequest($0)
                } catch let error as Anthropic.RequestError {
                    throw MLNodeError.invalidRequest(error.message, param: error.param)
                }
                return try await handlers.chat(chat)
            }
            return await Anthropic.response(answer)
        }
        router.post("/v1/completions") { request, _ in
            await handlers.respond(request) {
                try handlers.refuseWhileMining()
                return try await handlers.completion($0)
            }
        }
        router.post("/v1/score") { request, _ in
            await handlers.respond(request) {
                try handlers.refuseWhileMining()
                return try await handlers.score($0)
            }
        }
        router.post("/poc/generate") { request, _ in
            await handlers.respond(request) { try await handlers.pocGenerate($0) }
        }
        router.post("/poc/validate") { request, _ in
            await handlers.respond(request) { try await handlers.pocValidate($0) }
        }
        router.get("/poc/status") { _, _ in handlers.pocStatus() }
        router.post("/poc/stop") { _, _ in handlers.pocStop() }
        router.post("/v1/tokenize") { request, _ in
            await handlers.respond(request) { try handlers.tokenize($0) }
        }
        router.post("/v1/detokenize") { request, _ in
            await handlers.respond(request) { try handlers.detokenize($0) }
        }
        return router
    }

    /// The ML node's listener serving `backend` on `host:port` (port 0: any free port; the bound
    /// port is passed to `onServerRunning`), as a lifecycle service: run it directly or in a
    /// `ServiceGroup`. Cancelled, it stops gracefully first; answers still streaming after
    /// `gracePeriod` are cut (``GracefulService``). `metrics`: where its requests are counted (an
    /// API node passes its own, to show an embedded ML node's families in its `/metrics`).
    public static func application(
        backend: some MLBackend, host: String = "127.0.0.1", port: Int, configuration: MLNodeConfiguration = .init(),
        poc: PocController? = nil, metrics: MLNodeMetrics = MLNodeMetrics(), gracePeriod: Duration = .seconds(10),
        logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        Application(
            router: router(backend: backend, configuration: configuration, poc: poc, metrics: metrics, logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: "gonka-mlnode"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        ).stoppingGracefully(gracePeriod: gracePeriod, logger: logger)
    }
}

/// JSON and error responses.
enum Replies {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }

    static func error(_ error: MLNodeError) -> Response {
        json(OpenAI.ErrorBody(error), status: .init(code: error.status))
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        do {
            let data = try encoder.encode(value)
            return Response(
                status: status, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            return Response(
                status: .internalServerError, headers: [.contentType: "application/json"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string:
                            #"{"error":{"message":"response encoding failed","type":"server_error","param":null,"code":"internal_error"}}"#
                    )))
        }
    }
}

/// Unmatched routes (wrong path or method) answer with an OpenAI-style 404 body, not an empty one.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return Replies.error(.notFound("\(request.method) \(request.uri.path)"))
        }
    }
}

/// The route handlers over one backend.
struct Handlers<Backend: MLBackend>: Sendable {
    let backend: Backend
    let configuration: MLNodeConfiguration
    let poc: PocController
    let metrics: MLNodeMetrics
    let logger: Logger

    // MARK: plumbing

    /// Reads the body (413 over the limit) and maps every thrown error to an OpenAI-style response.
    func respond(_ request: Request, _ handle: ([UInt8]) async throws -> Response) async -> Response {
        do {
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: configuration.maxBodyBytes)
            } catch is NIOTooManyBytesError {
                throw MLNodeError.bodyTooLarge(limit: configuration.maxBodyBytes)
            }
            return try await handle(Array(buffer.readableBytesView))
        } catch let error as MLNodeError {
            logger.debug("request refused", metadata: ["error": "\(error.shortDescription)"])
            return Self.errorResponse(error)
        } catch let error as InferenceError {
            return Self.errorResponse(.from(error))
        } catch {
            logger.error("request failed", metadata: ["error": "\(error)"])
            return Self.errorResponse(.internalError("The request failed: \(error)"))
        }
    }

    static func errorResponse(_ error: MLNodeError) -> Response { Replies.error(error) }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Replies.json(value, status: status)
    }

    static var encoder: JSONEncoder { Replies.encoder }

    /// Decodes `T` from a JSON body, turning every decoding failure into a 400 naming the field.
    func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws -> T {
        guard String(validating: body, as: UTF8.self) != nil else {
            throw MLNodeError.invalidRequest("The request body is not valid UTF-8.")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch let error as DecodingError {
            throw Self.describe(error)
        }
    }

    static func describe(_ error: DecodingError) -> MLNodeError {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : "." + key.stringValue
                }
            }
            return text
        }
        switch error {
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .invalidRequest("The request body must be a JSON object.") }
            let expected =
                type == String.self
                ? "a string"
                : type == Int.self || type == Int64.self
                    ? "an integer"
                    : type == Double.self ? "a number" : type == Bool.self ? "a boolean" : "\(type)"
            return .invalidRequest("Invalid type for '\(field)': expected \(expected).", param: field)
        case .valueNotFound(_, let context):
            let field = path(context.codingPath)
            return .invalidRequest("'\(field)' must not be null.", param: field)
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return .invalidRequest("Missing required parameter: '\(field)'.", param: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .invalidRequest("The request body is not valid JSON.") }
            return .invalidRequest("Invalid value for '\(field)': \(context.debugDescription)", param: field)
        @unknown default:
            return .invalidRequest("The request body could not be decoded.")
        }
    }

    func checkModel(_ model: String?) throws(MLNodeError) {
        if let model, model != backend.info.id { throw .modelNotFound(model, serving: backend.info.id) }
    }

    // MARK: simple routes

    /// 200 `{"status": "ok", "model"}` when the backend can serve, else 503 with the reason (a
    /// remote backend's upstream is down, slow or serves another model).
    func health() async -> Response {
        switch await backend.health() {
        case .ready: Self.json(OpenAI.Health(model: backend.info.id))
        case .unavailable(let reason):
            Self.json(
                OpenAI.Health(status: "unavailable", model: backend.info.id, reason: reason),
                status: .serviceUnavailable)
        }
    }

    func models() -> Response {
        Self.json(
            OpenAI.ModelList(data: [
                .init(id: backend.info.id, created: Self.now, maxModelLen: backend.info.contextLength)
            ]))
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }

    func tokenize(_ body: [UInt8]) throws -> Response {
        let request = try decode(OpenAI.TokenizeRequest.self, from: body)
        try checkModel(request.model)
        let ids: [Int]
        switch (request.prompt, request.messages) {
        case (let prompt?, nil): ids = backend.tokenize(prompt)
        case (nil, let messages?): ids = backend.chatPrompt(try Self.messages(messages))
        default:
            throw MLNodeError.invalidRequest("Send exactly one of 'prompt' and 'messages'.", param: "prompt")
        }
        return Self.json(
            OpenAI.TokenizeResponse(tokens: ids, count: ids.count, maxModelLen: backend.info.contextLength))
    }

    func detokenize(_ body: [UInt8]) throws -> Response {
        let request = try decode(OpenAI.DetokenizeRequest.self, from: body)
        try checkModel(request.model)
        do {
            return Self.json(OpenAI.DetokenizeResponse(prompt: try backend.detokenize(request.tokens)))
        } catch let error as InferenceError {
            throw MLNodeError.from(error, param: "tokens")
        }
    }

    /// `POST /v1/score`: teacher-forced logprobs of every completion position in one batched pass,
    /// with the sampler replayed when the request names its `sampling` (PROTOCOL §11, §7.2 test 3).
    /// Runs at validation priority: live generation waiting for a slot goes first.
    func score(_ body: [UInt8]) async throws -> Response {
        let request = try decode(ScoreWire.Request.self, from: body)
        try checkModel(request.model)
        let top = request.topLogprobs ?? 0
        guard (0...Logprobs.maxTop).contains(top) else {
            throw MLNodeError.invalidRequest("'top_logprobs' must be in 0…\(Logprobs.maxTop).", param: "top_logprobs")
        }
        guard !request.promptTokens.isEmpty else {
            throw MLNodeError.invalidRequest("'prompt_tokens' must not be empty.", param: "prompt_tokens")
        }
        guard !request.completionTokens.isEmpty else {
            throw MLNodeError.invalidRequest("'completion_tokens' must not be empty.", param: "completion_tokens")
        }
        try checkVocabulary(request.promptTokens, param: "prompt_tokens")
        try checkVocabulary(request.completionTokens, param: "completion_tokens")
        let total = request.promptTokens.count + request.completionTokens.count
        guard total <= backend.info.contextLength else {
            throw MLNodeError.contextLengthExceeded(
                need: total, limit: backend.info.contextLength, param: "completion_tokens")
        }
        let replay = try Self.replay(request, vocabularySize: backend.info.vocabularySize)
        let admission = try backend.admit(priority: .validation)
        let entries = try await admission.score(
            prompt: request.promptTokens, completion: request.completionTokens, top: top, replay: replay)
        return Self.json(
            ScoreWire.Response(
                positions: entries.map { entry in
                    let forced = entry.logprob
                    return ScoreWire.Position(
                        token: forced.token, logprob: Self.finite(forced.logprob),
                        topLogprobs: forced.top.map { .init(token: $0.token, logprob: Self.finite($0.logprob)) },
                        drawn: entry.draw?.drawn, ambiguous: entry.draw?.ambiguous,
                        outsideSupport: entry.draw?.outsideSupport)
                }))
    }

    /// The sampler replay a score request asks for: none without `sampling`; its fields follow the
    /// generation routes' defaults and ranges, the seed is required, `sampler_margin` is in [0, 1].
    static func replay(_ request: ScoreWire.Request, vocabularySize: Int) throws(MLNodeError) -> SamplerReplay? {
        guard let sampling = request.sampling else {
            if request.samplerMargin != nil {
                throw .invalidRequest("'sampler_margin' needs 'sampling'.", param: "sampler_margin")
            }
            return nil
        }
        guard let seed = sampling.seed else {
            throw .invalidRequest("Missing required parameter: 'sampling.seed'.", param: "sampling.seed")
        }
        let filters = try filters(
            temperature: sampling.temperature, topP: sampling.topP, topK: sampling.topK, minP: sampling.minP,
            prefix: "sampling.")
        let margin = request.samplerMargin ?? SamplerReplay.defaultMargin
        guard margin.isFinite, (0...1).contains(margin) else {
            throw .invalidRequest("'sampler_margin' must be in [0, 1].", param: "sampler_margin")
        }
        let choice = sampling.choice ?? 0
        guard (0..<SamplingParameters.maxChoices).contains(choice) else {
            throw .invalidRequest(
                "'sampling.choice' must be in 0…\(SamplingParameters.maxChoices - 1).", param: "sampling.choice")
        }
        var grammar: OutputGrammar?
        if let format = sampling.responseFormat, !format.isNull {
            do {
                grammar = try OutputGrammar.compile(responseFormat: format)
            } catch {
                throw .invalidRequest(error.message, param: "sampling." + error.param)
            }
        }
        let adjustments = try adjustments(
            logitBias: sampling.logitBias, presencePenalty: sampling.presencePenalty,
            frequencyPenalty: sampling.frequencyPenalty, repetitionPenalty: sampling.repetitionPenalty,
            vocabularySize: vocabularySize, prefix: "sampling.")
        let parameters = SamplingParameters(
            temperature: filters.temperature, topK: filters.topK, topP: filters.topP, minP: filters.minP,
            seed: UInt64(bitPattern: seed), choice: choice, grammar: grammar, adjustments: adjustments)
        do {
            return try SamplerReplay(parameters: parameters, margin: margin)
        } catch let error as InferenceError {
            throw .from(error, param: "sampling")
        } catch {
            throw .internalError("The sampler replay could not be set up: \(error)")
        }
    }

    func checkVocabulary(_ ids: [Int], param: String) throws(MLNodeError) {
        let size = backend.info.vocabularySize
        if let (position, id) = ids.enumerated().first(where: { $0.element < 0 || $0.element >= size }) {
            throw .invalidRequest(
                "Token id \(id) at \(param)[\(position)] is outside the vocabulary (0..<\(size)).", param: param)
        }
    }

    /// JSON has no infinities: a token the model rules out entirely gets a very low finite logprob.
    static func finite(_ value: Float) -> Float { value.isFinite ? value : -9999 }
}
