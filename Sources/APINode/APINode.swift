import AsyncHTTPClient
import Foundation
import GonkaClient
import GonkaCore
import Inference
import Logging
import MLNode
import NIOCore
import Synchronization

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
    /// The phase timings of the last requests this node relayed or executed (``PathTrace``).
    public let traces = PathTraceLog()
    /// Payload writes and Finish txs after answers (``FinishQueueService`` runs it).
    let finishQueue = FinishQueue()
    public let apiKeys: APIKeyStore?
    let taReplay = ReplayCache()
    let executorReplay = ReplayCache()
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
            client: chainClient, key: configuration.key, chainID: configuration.chainID, logger: logger)
        self.apiKeys = configuration.apiKeysFile.map { APIKeyStore(file: $0) }
        self.http = APINode.sharedHTTPClient
        self.logger = logger
    }

    public var address: Address { configuration.address }

    /// Forwarding and ML-node traffic: many concurrent streams per host, no retry of a refused
    /// connection (a dead executor fails over at once).
    static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}

/// Counters behind `GET /metrics` (Prometheus text).
public final class APIMetrics: Sendable {
    private let counters = Mutex<[String: Int]>([:])
    private let gauges = Mutex<[String: Int]>([:])

    func increment(_ name: String, by n: Int = 1) { counters.withLock { $0[name, default: 0] += n } }

    /// Sets a gauge (a value that goes up and down: a queue's length, a lag).
    func set(_ name: String, _ value: Int) { gauges.withLock { $0[name] = value } }

    public func value(_ name: String) -> Int { counters.withLock { $0[name] } ?? gauges.withLock { $0[name] } ?? 0 }

    /// Prometheus exposition text; names are fixed, so label values are bounded.
    public var text: String {
        let snapshot = counters.withLock { $0 }
        var out = ""
        for (name, value) in snapshot.sorted(by: { $0.key < $1.key }) {
            let base = name.split(separator: "{").first.map(String.init) ?? name
            out += "# TYPE \(base) counter\n\(name) \(value)\n"
        }
        for (name, value) in gauges.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            out += "# TYPE \(name) gauge\n\(name) \(value)\n"
        }
        return out
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
    /// Read by ``ChatMessages/parse(_:)``, as the ML node reads them.
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
        messages = []
        switch kind {
        case .chat:
            do {
                messages = try ChatMessages.parse(object["messages"])
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
