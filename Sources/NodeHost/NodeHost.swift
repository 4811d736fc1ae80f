import APINode
import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import Inference
import Logging
import MLNode
import ServiceLifecycle
import Storage
import Telemetry

/// What a host runs beside its chain node when its config asks for it: the API node with its ML
/// backends. `gonka node start` runs it; `gonka bench api` runs a few in one process.
public enum NodeHost {
    /// The API node of `[api] enabled = true`: its listeners, the embedded ML node (`ml =
    /// "embedded"`, serving `model` under `model_id`), the remote ML nodes of `ml_nodes`, gateway keys in `HOME/data/apikeys.json`.
    public static func apiNode(node: Node, logger: Logger) throws -> (node: APINode, services: [any Service])? {
        let config = node.config
        guard config.apiEnabled else { return nil }
        let listen = try HostPort(parsing: config.apiListen)
        let rpc = try HostPort(parsing: config.rpcListen)
        let rpcHost = ["0.0.0.0", "::", ""].contains(rpc.host) ? "127.0.0.1" : rpc.host
        let keys = KeyStore(home: node.paths.home)
        let key = try keys.load(config.accountKey)
        var api = APINodeConfiguration(
            host: listen.host, port: listen.port, chainID: config.chainID, key: key,
            payloadDirectory: node.paths.data.appendingPathComponent("payloads", isDirectory: true),
            payloadRetention: .seconds(config.apiPayloadRetentionSeconds),
            executorFirstByteTimeout: .milliseconds(config.apiFirstByteTimeoutMs),
            apiKeysFile: node.paths.data.appendingPathComponent("apikeys.json"))
        api.executorIdleTimeout = .milliseconds(config.apiExecutorIdleTimeoutMs)
        api.replayCacheBytes = MemorySettings.bytes(config.memory.replayCacheMB)
        api.txQueueBytes = MemorySettings.bytes(config.memory.txQueueMB)
        api.validationQueueBytes = MemorySettings.bytes(config.memory.validationQueueMB)
        api.keyLoader = { name in try KeyStore(home: node.paths.home).load(name) }
        if config.apiValidate { api.validationSeedsDirectory = node.paths.seeds }
        api.claimSeedsDirectory = node.paths.seeds
        api.autoUnjail = config.apiAutoUnjail
        if !config.apiAdminListen.isEmpty {
            let admin = try HostPort(parsing: config.apiAdminListen)
            api.adminHost = admin.host
            api.adminPort = admin.port
        }
        var apiLogger = logger
        apiLogger[metadataKey: "component"] = "api"
        if !config.otlpEndpoint.isEmpty {
            api.tracing = try TraceExport.otlp(
                .init(
                    endpoint: config.otlpEndpoint,
                    format: TraceExport.WireFormat(rawValue: config.otlpProtocol) ?? .protobuf),
                serviceName: "gonka-api", instance: key.publicKey.address.description, logger: apiLogger)
            apiLogger.info("exporting request spans", metadata: ["otlp.endpoint": "\(config.otlpEndpoint)"])
        }
        let client = try ChainClient(baseURL: "http://\(rpcHost):\(rpc.port)")
        let apiNode = try APINode(configuration: api, chainClient: client, logger: apiLogger)
        var embedded: (any MLBackend)?
        if config.apiML == "embedded" {
            let path = config.apiModel
            guard FileManager.default.fileExists(atPath: path) else {
                throw NodeHostError("api.model \(path) does not exist (run `make model`)")
            }
            let llama = try LlamaModel(file: try GGUFFile(path: path))
            // `[api] model_id`: any GGUF may be served under any id (the chain knows only the id).
            embedded = try embeddedBackend(model: llama, id: config.servedModelID, settings: config.ml)
        }
        let services = APINodeServices(node: apiNode)
        return (
            apiNode,
            services.services(embedded: embedded) + [
                RemoteMLNodeDiscovery(registry: apiNode.registry, urls: config.apiMLNodes, logger: apiLogger)
            ]
        )
    }
}

extension NodeHost {
    /// Positions per request below which `[ml] kv_cache_mb` is refused: a chat prompt and a short answer.
    public static let minimumContext = 256

    /// The embedded ML node of `[ml]`: `parallel` slots decoded in one batch on `threads` threads, a
    /// wait queue of `queue`, and `kv_cache_mb` split among the slots. Refuses a budget that leaves a
    /// slot fewer than ``minimumContext`` positions.
    public static func embeddedBackend(
        model: LlamaModel, id: String, settings: MLEngineSettings
    ) throws -> NativeBackend {
        let context = NativeBackend.contextLength(
            model: model, parallel: settings.parallel, kvCacheBytes: settings.kvCacheBytes)
        guard context >= minimumContext else {
            let perPosition = KVCache.bytesPerPosition(model.config)
            let need = (minimumContext * perPosition * settings.parallel + (1 << 20) - 1) >> 20
            throw NodeHostError(
                "ml.kv_cache_mb = \(settings.kvCacheMB) leaves each of the \(settings.parallel) parallel requests "
                    + "\(context) positions (\(perPosition) bytes each); at least \(minimumContext) are needed: "
                    + "raise ml.kv_cache_mb to \(need) or lower ml.parallel")
        }
        return NativeBackend(
            model: model, id: id, parallel: settings.parallel, queue: settings.queue, threads: settings.threads,
            kvCacheBytes: settings.kvCacheBytes, prefixCacheBytes: settings.prefixCacheBytes)
    }
}

/// A host setting that cannot be served (a model file that is not there).
public struct NodeHostError: Error, CustomStringConvertible, Sendable {
    /// The sentence the user reads.
    public let description: String

    /// An error that says `description`.
    public init(_ description: String) { self.description = description }
}
