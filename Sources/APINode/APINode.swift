import AsyncHTTPClient
import Explorer
import Foundation
import GonkaClient
import GonkaCore
import HTTPTypes
import Hummingbird
import Inference
import Logging
import MLNode
import NIOCore
import Synchronization
import Telemetry

/// A participant's API node (PROTOCOL §6, §11): the Transfer Agent for requests it receives, the
/// executor for requests drawn to it, the payload store, the ML-node registry and the admin API.
/// Run it with ``APINodeService``.
public final class APINode: Sendable {
    public let configuration: APINodeConfiguration
    public let chain: ChainView
    public let registry: MLNodeRegistry
    public let payloads: PayloadStore
    public let txs: TxSender
    public let metrics = APIMetrics()
    /// The embedded ML node's metrics (vLLM's names under `gonka_mlnode_`), shown in this node's
    /// `/metrics`: an embedded ML node has no port of its own that Prometheus could scrape.
    public let embeddedMLMetrics = MLNodeMetrics()
    /// The phase timings of the last requests this node relayed or executed (``PathTrace``).
    public let traces = PathTraceLog()
    /// Payload writes and Finish txs after answers (``FinishQueueService`` runs it).
    let finishQueue = FinishQueue()
    public let apiKeys: APIKeyStore?
    /// The explorer pages at `GET /` and `/explorer/…`, read from this node's chain node.
    let explorer: Explorer
    let taReplay: ReplayCache
    let executorReplay: ReplayCache
    let http: HTTPClient
    let logger: Logger

    public init(
        configuration: APINodeConfiguration, chainClient: ChainClient, registry: MLNodeRegistry = MLNodeRegistry(),
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.chain = ChainView(
            client: chainClient, chainID: configuration.chainID, fallbackPrice: configuration.fallbackPrice)
        self.registry = registry
        self.payloads = try PayloadStore(
            directory: configuration.payloadDirectory, retention: configuration.payloadRetention)
        self.txs = TxSender(
            client: chainClient, key: configuration.key, chainID: configuration.chainID, logger: logger,
            queueLimitBytes: configuration.txQueueBytes)
        self.taReplay = ReplayCache(capacityBytes: configuration.replayCacheBytes)
        self.executorReplay = ReplayCache(capacityBytes: configuration.replayCacheBytes)
        self.apiKeys = configuration.apiKeysFile.map { APIKeyStore(file: $0) }
        self.explorer = try Explorer(client: chainClient, logger: logger)
        self.http = APINode.sharedHTTPClient
        self.logger = logger
    }

    public var address: Address { configuration.address }

    /// Forwarding and ML-node traffic: many concurrent streams per host, no retry of a refused
    /// connection (a dead executor fails over at once).
    static let sharedHTTPClient = makeHTTPClient(readTimeout: nil)

    /// The TA's client for forwards: the same, with a read timeout of `idle` (no bytes for that
    /// long, head or body, fails the request), one client per distinct timeout in the process.
    static func forwardingClient(idle: Duration) -> HTTPClient {
        forwardingClients.withLock { clients in
            if let client = clients[idle] { return client }
            let client = makeHTTPClient(readTimeout: idle)
            clients[idle] = client
            return client
        }
    }
    private static let forwardingClients = Mutex<[Duration: HTTPClient]>([:])

    private static func makeHTTPClient(readTimeout: Duration?) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        if let readTimeout { configuration.timeout.read = TimeAmount(readTimeout) }
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

/// The API node's metrics behind `GET /metrics` (swift-metrics on this node's own swift-prometheus
/// registry, ``MetricsRegistry``): requests by route and status, refusals by error code, forwards,
/// executor misses, time to first token and end-to-end latency per role (`ta`, `executor`), the
/// validation worker's counts. Label values are bounded: routes are templates, codes are
/// `shortDescription`s, roles and outcomes fixed words.
public final class APIMetrics: Sendable {
    public let registry = MetricsRegistry()

    /// Adds `n` to the counter `name` with `labels`.
    func increment(_ name: String, _ labels: [(String, String)] = [], by n: Int = 1) {
        registry.increment(name, labels, by: n)
    }

    /// Sets a gauge (a value that goes up and down: a queue's length, a lag).
    func set(_ name: String, _ value: Int) { registry.set(name, [], value) }

    /// A sample's value as the exposition writes it (`name` or `name{label="value"}`), 0 if absent.
    public func value(_ sample: String) -> Int { Int(registry.value(sample)) }

    /// Prometheus exposition text.
    public var text: String { registry.exposition }

    /// The exposition after setting the gauges read at scrape time: the duty-tx queue's depth and
    /// the age of its oldest tx (a chain node that stopped taking txs shows as a growing age).
    func exposition(txBacklog: (depth: Int, oldest: Duration)) -> String {
        registry.set("gonka_api_tx_queue_depth", [], txBacklog.depth)
        registry.set("gonka_api_tx_queue_oldest_age_seconds", [], txBacklog.oldest.milliseconds / 1000)
        return registry.exposition
    }

    /// The latency histograms of one finished request, from its phase marks: time to first token
    /// (first generated text relayed) and end to end (body read to last byte), per role.
    func observe(_ trace: PathTrace) {
        let role = trace.role
        let ta = role == "ta"
        guard let start = trace.instant(of: ta ? .taReceived : .execReceived) else { return }
        let first = trace.instant(of: ta ? .taFirstToken : .execFirstRelayed)
        let end = trace.instant(of: ta ? .taEnd : .execEnd)
        if let first { registry.observe("gonka_api_time_to_first_token_seconds", [("role", role)], first - start) }
        if let end { registry.observe("gonka_api_e2e_request_latency_seconds", [("role", role)], end - start) }
    }

    /// The route template a request path counts under (a bounded label).
    static func route(_ path: String) -> String {
        let fixed: Set<String> = [
            "/", "/health", "/metrics", "/v1/chat/completions", "/v1/completions", "/v1/executor/chat/completions",
            "/v1/executor/completions", "/v1/models", "/v1/node", "/v1/pricing", "/v1/participants",
            "/v1/epochs/current",
        ]
        if fixed.contains(path) { return path }
        if path.hasPrefix("/v1/inferences/") {
            return path.hasSuffix("/payload") ? "/v1/inferences/{id}/payload" : "/v1/inferences/{id}"
        }
        if path.hasPrefix("/explorer") { return "/explorer" }
        return "other"
    }
}

/// Counts every public request by route and status (`gonka_api_http_requests_total`).
struct RequestCountMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: APIMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let route = APIMetrics.route(request.uri.path)
        do {
            let response = try await next(request, context)
            metrics.increment(
                "gonka_api_http_requests_total", [("route", route), ("status", String(response.status.code))])
            return response
        } catch let error as HTTPError {
            metrics.increment(
                "gonka_api_http_requests_total", [("route", route), ("status", String(error.status.code))])
            throw error
        }
    }
}

/// What kind of OpenAI request: chat or legacy completion.
enum RequestKind: String, Sendable {
    case chat = "chat/completions"
    case completion = "completions"
}

/// The fields of an OpenAI request body the TA and executor need (the rest passes through).
struct RequestSummary: Sendable {
    var model: String
    var stream: Bool
    var maxTokens: Int?
    /// `n`: 1…8 choices.
    var choices = 1
    /// Read by ``ChatMessages/parse(_:)``, as the ML node reads them, with the tools the model is
    /// shown (``ChatTools/prompt(_:)``).
    var messages: [ChatMessage]
    var prompt: String?
    var promptTokenIDs: [Int]?
    /// The parsed body (an object), so the executor's rewrite does not parse it a second time.
    var object: JSONValue

    init(body: [UInt8], kind: RequestKind) throws(APIError) {
        guard let object = try? JSONValue(parsing: body), object.objectValue != nil else {
            throw .invalidRequest("The request body is not a JSON object.")
        }
        self.object = object
        guard let model = object["model"]?.stringValue, !model.isEmpty else {
            throw .invalidRequest("Missing required parameter: 'model'.", param: "model")
        }
        self.model = model
        stream = object["stream"]?.boolValue ?? false
        if let n = object["max_completion_tokens"] ?? object["max_tokens"], !n.isNull {
            guard let value = n.intValue, value >= 1 else {
                throw .invalidRequest("'max_tokens' must be a positive integer.", param: "max_tokens")
            }
            maxTokens = value
        }
        if let n = object["n"], !n.isNull {
            guard let value = n.intValue, (1...SamplingParameters.maxChoices).contains(value) else {
                throw .invalidRequest(
                    "'n' must be an integer between 1 and \(SamplingParameters.maxChoices).", param: "n")
            }
            choices = value
        }
        // What the executor's ML node would refuse with a 400 is refused here, before any escrow:
        // a `response_format` that does not compile, penalties or `logit_bias` out of range (token
        // ids against the vocabulary are the ML node's to check).
        if let format = object["response_format"], !format.isNull {
            do {
                _ = try OutputGrammar.compile(responseFormat: format)
            } catch {
                throw .invalidRequest(error.message, param: error.param)
            }
        }
        do {
            _ = try LogitAdjustments(request: object)
        } catch {
            throw .invalidRequest(error.description, param: error.parameter)
        }
        messages = []
        switch kind {
        case .chat:
            do {
                let tools = try ChatTools.parse(object)
                let parsed = try ChatMessages.parse(object["messages"])
                messages = tools?.prompt(parsed) ?? parsed
            } catch {
                throw .invalidRequest(error.message, param: error.param)
            }
        case .completion:
            let list = object["prompt"]?.arrayValue
            let ids = list?.compactMap(\.intValue)
            if let text = object["prompt"]?.stringValue {
                prompt = text
            } else if let ids, ids.count == list?.count {
                promptTokenIDs = ids
            } else if let text = list?.first?.stringValue, list?.count == 1 {
                prompt = text
            } else {
                throw .invalidRequest("'prompt' must be a string or an array of token ids.", param: "prompt")
            }
        }
    }
}
