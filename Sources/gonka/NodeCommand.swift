import APINode
import ArgumentParser
import ChainNode
import Foundation
import GonkaClient
import Inference
import Logging
import MLNode
import ServiceLifecycle
import Storage
import UnixSignals

/// `gonka node …`
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a chain node, or join a running network with a new one.",
        subcommands: [Start.self, Join.self]
    )
}

extension NodeCommand {
    /// `gonka node start`
    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the chain node of a home: P2P, consensus, mempool, block sync and the chain RPC.",
            discussion: """
                Reads HOME/config.toml, HOME/genesis.json and HOME/keys/, keeps state under HOME/data/. SIGTERM or SIGINT shuts down gracefully, as does the exit of the process GONKA_OWNER_PID names (test harnesses set it). Restarting with the same home resumes from disk.
                """
        )

        @OptionGroup var home: HomeOptions
        @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

        func validate() throws {
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical")
            }
        }

        func run() async throws {
            let level = Logger.Level(rawValue: logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardOutput(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "gonka.node")
            let owner = try OwnerWatch.services(logger: logger)
            let node: Node
            do {
                node = try Node(home: home.url, logger: logger)
            } catch {
                throw CLIError("cannot start the node: \(error)")
            }
            let api = try Self.apiNode(node: node, logger: logger)
            try await node.run(signals: [.sigterm, .sigint], extra: owner + (api?.services ?? []))
            logger.info("node stopped")
        }

        /// The API node of `[api] enabled = true`: its listeners, the embedded ML node (`ml =
        /// "embedded"`), the remote ML nodes of `ml_nodes`, gateway keys in `HOME/data/apikeys.json`.
        static func apiNode(node: Node, logger: Logger) throws -> (node: APINode, services: [any Service])? {
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
            api.keyLoader = { name in try KeyStore(home: node.paths.home).load(name) }
            if !config.apiAdminListen.isEmpty {
                let admin = try HostPort(parsing: config.apiAdminListen)
                api.adminHost = admin.host
                api.adminPort = admin.port
            }
            var apiLogger = logger
            apiLogger[metadataKey: "component"] = "api"
            let client = try ChainClient(baseURL: "http://\(rpcHost):\(rpc.port)")
            let apiNode = try APINode(configuration: api, chainClient: client, logger: apiLogger)
            var embedded: (any MLBackend)?
            if config.apiML == "embedded" {
                let path = config.apiModel
                guard FileManager.default.fileExists(atPath: path) else {
                    throw CLIError("api.model \(path) does not exist (run `make model`)")
                }
                let llama = try LlamaModel(file: try GGUFFile(path: path))
                let id = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                embedded = NativeBackend(model: llama, id: id, parallel: 1, queue: 16, threads: 1)
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
}
