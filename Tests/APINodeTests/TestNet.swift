import APINode
import AsyncHTTPClient
import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Inference
import Ledger
import Logging
import MLNode
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Storage
import Synchronization
import Telemetry
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded model, loaded once per test process.
enum Model {
    static let loaded: Result<LlamaModel, any Error> = Result { try LlamaModel(path: TestModelFile.path()) }
    static let id = "SmolLM2-135M-Instruct.Q4_1"
}

/// A port no one listens on now (bound to 0 and released), for URLs that must be in genesis.
func freePort() throws -> Int { try LoopbackSocket.freePort() }

struct TestNetError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// N participants in this process, each a chain node (real consensus over loopback P2P, fast
/// timeouts) with its API node (real sockets) and an embedded ML node over the real model.
/// Developer accounts: `wallet.accounts` (funded, never sent a tx, so no key on chain).
final class TestNet: Sendable {
    let root: URL
    let wallet: [SigningKey]
    let accountKeys: [SigningKey]
    let apiPorts: [Int]
    let chainNodes: [Node]
    let apiNodes: [APINode]
    let services: [APINodeServices]
    let rpcURLs: [String]
    let tasks: [Task<Void, any Error>]

    var apiURLs: [String] { apiPorts.map { "http://127.0.0.1:\($0)" } }

    static func logger(_ name: String) -> Logger {
        var logger = Logger(label: "test.\(name)")
        logger.logLevel = ProcessInfo.processInfo.environment["APINODE_TEST_LOG"] != nil ? .debug : .critical
        return logger
    }

    /// Starts the network and waits until it makes blocks and every API node serves.
    /// `remoteML`: each API node gets its ML node as a remote one (an `MLNodeServer` on its own
    /// loopback port, added to the registry as `[api] ml_nodes` would) instead of in process.
    static func start(
        participants count: Int = 3, firstByteTimeout: Duration = .seconds(20), seed: UInt8 = 11,
        validate: Bool = false, remoteML: Bool = false, otlpEndpoint: String? = nil,
        params adjust: @Sendable (inout ChainParams) -> Void = { _ in },
        node adjustNode: @Sendable (inout NodeConfig) -> Void = { _ in },
        configure: @Sendable (Int, inout APINodeConfiguration) -> Void = { _, _ in }
    ) async throws -> TestNet {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("apinode-\(UUID().uuidString)")
        let chain = try TestChain(accounts: 3, seed: seed)
        let p2pKeys = (0..<count).map { TestChain.key(seed: seed, index: 1000 + $0) }
        let consensusKeys = (0..<count).map { TestChain.key(seed: seed, index: 2000 + $0) }
        let accountKeys = (0..<count).map { TestChain.key(seed: seed, index: 3000 + $0) }
        let apiPorts = try (0..<count).map { _ in try freePort() }
        var validators: [Genesis.Validator] = []
        for i in 0..<count {
            validators.append(
                Genesis.Validator(
                    name: "node\(i)", address: accountKeys[i].publicKey.address, url: "http://127.0.0.1:\(apiPorts[i])",
                    consensusPubkey: consensusKeys[i].publicKey.hex, p2pPubkey: p2pKeys[i].publicKey.hex, power: 10))
        }
        var accounts = chain.genesis.accounts
        for key in accountKeys { accounts.append(.init(address: key.publicKey.address, balance: Amount(gnk: 1000)!)) }
        var params = chain.genesis.params
        adjust(&params)
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z", params: params,
            accounts: accounts, validators: validators, models: [.devnetDefault])
        var homes: [URL] = []
        for i in 0..<count {
            let home = root.appendingPathComponent("node\(i)", isDirectory: true)
            try FileManager.default.createDirectory(
                at: home.appendingPathComponent("data"), withIntermediateDirectories: true)
            let keys = KeyStore(home: home)
            try keys.add(name: "p2p", key: p2pKeys[i])
            try keys.add(name: "consensus", key: consensusKeys[i])
            try keys.add(name: "validator", key: accountKeys[i])
            try genesis.encodedJSON().write(to: home.appendingPathComponent("genesis.json"))
            homes.append(home)
        }
        let p2pPorts = try (0..<count).map { _ in try freePort() }
        for i in 0..<count {
            var config = NodeConfig(moniker: "node\(i)", chainID: TestChain.chainID)
            config.p2pListen = "127.0.0.1:\(p2pPorts[i])"
            config.rpcListen = "127.0.0.1:0"
            config.timeouts = "fast"
            config.testHooks = true  // POST /debug/isolate: a partition of one node
            adjustNode(&config)
            config.persistentPeers = (0..<count).filter { $0 != i }.map {
                "\(p2pKeys[$0].publicKey.hex)@127.0.0.1:\(p2pPorts[$0])"
            }
            try config.toml.write(to: homes[i].appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
        }
        let model = try Model.loaded.get()
        let startFailures = StartFailures()
        var chainNodes: [Node] = []
        var apiNodes: [APINode] = []
        var services: [APINodeServices] = []
        var rpcURLs: [String] = []
        var tasks: [Task<Void, any Error>] = []
        for i in 0..<count {
            let node = try Node(home: homes[i], logger: logger("chain\(i)")) { config in
                config.gossipInterval = .milliseconds(500)
            }
            var api = APINodeConfiguration(
                host: "127.0.0.1", port: apiPorts[i], chainID: TestChain.chainID, key: accountKeys[i],
                payloadDirectory: homes[i].appendingPathComponent("data/payloads"),
                executorFirstByteTimeout: firstByteTimeout,
                apiKeysFile: homes[i].appendingPathComponent("data/apikeys.json"))
            api.adminHost = "127.0.0.1"
            api.adminPort = 0
            let home = homes[i]
            api.keyLoader = { name in try KeyStore(home: home).load(name) }
            // Stopping a node (the end of a test, or a test "killing" an executor) cuts its
            // answers a second after it closes its listeners.
            api.shutdownGracePeriod = .seconds(1)
            if validate { api.validationSeedsDirectory = home.appendingPathComponent("data/seeds") }
            configure(i, &api)
            if let otlpEndpoint {
                // OTLP/JSON, so a test's collector can read the spans; sent within 200 ms.
                api.tracing = try TraceExport.otlp(
                    .init(endpoint: otlpEndpoint, format: .json, exportDelay: .milliseconds(200)),
                    serviceName: "gonka-api", instance: "node\(i)", logger: logger("otel\(i)"))
            }
            // The RPC port is known only once the node runs: the client is built on a fixed URL
            // resolved below, so start the node first.
            let nodeTask = Task {
                do {
                    try await node.run()
                } catch {
                    startFailures.add("node\(i) stopped: \(error)")
                    throw error
                }
            }
            let rpcPort = try await node.rpcPort()
            let rpcURL = "http://127.0.0.1:\(rpcPort)"
            let apiNode = try APINode(
                configuration: api, chainClient: try ChainClient(baseURL: rpcURL), logger: logger("api\(i)"))
            let backend = NativeBackend(
                model: model, id: Model.id, parallel: 1, queue: 8, threads: 1, contextLength: 512)
            let apiServices = APINodeServices(node: apiNode)
            var nodeServices = apiServices.services(embedded: remoteML ? nil : backend)
            if remoteML {
                let registry = apiNode.registry
                nodeServices.append(
                    MLNodeServer.application(backend: backend, port: 0, logger: logger("ml\(i)")) { port in
                        _ = registry.add(url: "http://127.0.0.1:\(port)", model: Model.id)
                    })
            }
            let group = ServiceGroup(
                configuration: .init(
                    services: nodeServices.map { .init(service: $0) }, logger: logger("group\(i)")))
            let apiTask = Task { try await group.run() }
            chainNodes.append(node)
            apiNodes.append(apiNode)
            services.append(apiServices)
            rpcURLs.append(rpcURL)
            tasks.append(nodeTask)
            tasks.append(apiTask)
        }
        let net = TestNet(
            root: root, wallet: chain.accounts, accountKeys: accountKeys, apiPorts: apiPorts, chainNodes: chainNodes,
            apiNodes: apiNodes, services: services, rpcURLs: rpcURLs, tasks: tasks)
        do {
            for s in services { _ = try await s.publicPort() }
            // Alone it starts in ~2 s; a full run starts every suite at once on 2 cores.
            let deadline = ContinuousClock.now + .seconds(180)
            while ContinuousClock.now < deadline {
                // Each TA checks a request's timestamp against the last block it saw (§6.1):
                // until it has seen a block of now (block 1 carries the genesis time, months
                // back), a request stamped now is refused 401 as ahead of it.
                let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
                let ready = apiNodes.allSatisfy {
                    !$0.registry.models.isEmpty && ($0.chain.tip.map { nowMs - $0.timeMs < 10_000 } ?? false)
                }
                if ready, chainNodes.allSatisfy({ $0.status.snapshot.height >= 2 }) { return net }
                try await Task.sleep(for: .milliseconds(100))
            }
            let heights = chainNodes.map { "\($0.status.snapshot.height)" }.joined(separator: ", ")
            let models = apiNodes.map { "\($0.registry.models.count)" }.joined(separator: ", ")
            let tips = apiNodes.map { "\($0.chain.tip.map { "\($0.height)@\($0.timeMs)" } ?? "none")" }
                .joined(separator: ", ")
            let failures = startFailures.all.joined(separator: "; ")
            throw TestNetError(
                "the network did not start within 180 s (heights \(heights); models per API node \(models); API nodes' last blocks \(tips)\(failures.isEmpty ? "" : "; " + failures))"
            )
        } catch {
            await net.stop()
            throw error
        }
    }

    init(
        root: URL, wallet: [SigningKey], accountKeys: [SigningKey], apiPorts: [Int], chainNodes: [Node],
        apiNodes: [APINode], services: [APINodeServices], rpcURLs: [String], tasks: [Task<Void, any Error>]
    ) {
        self.root = root
        self.wallet = wallet
        self.accountKeys = accountKeys
        self.apiPorts = apiPorts
        self.chainNodes = chainNodes
        self.apiNodes = apiNodes
        self.services = services
        self.rpcURLs = rpcURLs
        self.tasks = tasks
    }

    func stop() async {
        for task in tasks.reversed() { task.cancel() }
        for task in tasks { _ = try? await task.value }
        try? FileManager.default.removeItem(at: root)
    }

    /// One network at a time in this process. Each is 2–3 nodes with real consensus and an
    /// embedded model; started all at once (Swift Testing starts every suite together) they
    /// competed for 2 cores and for ports picked before binding, and one of six sometimes never
    /// made its first blocks.
    static let turn = TestNetTurn()

    /// Runs `body` with a started network, stopping it on every path.
    static func with<T: Sendable>(
        participants: Int = 3, firstByteTimeout: Duration = .seconds(20), validate: Bool = false,
        remoteML: Bool = false, otlpEndpoint: String? = nil,
        params: @Sendable (inout ChainParams) -> Void = { _ in },
        node: @Sendable (inout NodeConfig) -> Void = { _ in },
        configure: @Sendable (Int, inout APINodeConfiguration) -> Void = { _, _ in },
        _ body: @Sendable (TestNet) async throws -> T
    ) async throws -> T {
        await turn.wait()
        defer { turn.signal() }
        let net = try await start(
            participants: participants, firstByteTimeout: firstByteTimeout, validate: validate, remoteML: remoteML,
            otlpEndpoint: otlpEndpoint, params: params, node: node, configure: configure)
        do {
            let value = try await body(net)
            await net.stop()
            return value
        } catch {
            await net.stop()
            throw error
        }
    }

    func chain(_ i: Int) throws -> ChainClient { try ChainClient(baseURL: rpcURLs[i]) }
}

/// Why nodes of a network being started stopped (for the error when it does not start).
final class StartFailures: Sendable {
    private let failures = Mutex<[String]>([])
    func add(_ failure: String) { failures.withLock { $0.append(failure) } }
    var all: [String] { failures.withLock { $0 } }
}

/// A first-come, first-served turn: ``wait()`` returns when no other holder is inside.
final class TestNetTurn: Sendable {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let enter = state.withLock { s -> Bool in
                guard s.busy else {
                    s.busy = true
                    return true
                }
                s.waiters.append(continuation)
                return false
            }
            if enter { continuation.resume() }
        }
    }

    func signal() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.waiters.isEmpty else {
                s.busy = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// An HTTP answer as the tests look at it.
struct HTTPResult: Sendable {
    let status: Int
    let body: [UInt8]
    let headers: [String: String]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var events: [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).compactMap { line in
            line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil
        }
    }
    var chunks: [[String: Any]] {
        events.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
}

let testHTTP: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.retryConnectionEstablishment = false
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
}()

func post(_ url: String, body: [UInt8], headers: [(String, String)]) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    request.body = .bytes(ByteBuffer(bytes: body))
    let response = try await testHTTP.execute(request, timeout: .seconds(120))
    let collected = try await response.body.collect(upTo: 16 << 20)
    var out: [String: String] = [:]
    for header in response.headers { out[header.name.lowercased()] = header.value }
    return HTTPResult(status: Int(response.status.code), body: Array(collected.readableBytesView), headers: out)
}

func delete(_ url: String) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    request.method = .DELETE
    let response = try await testHTTP.execute(request, timeout: .seconds(30))
    let collected = try await response.body.collect(upTo: 16 << 20)
    return HTTPResult(status: Int(response.status.code), body: Array(collected.readableBytesView), headers: [:])
}

func get(_ url: String, headers: [(String, String)] = []) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await testHTTP.execute(request, timeout: .seconds(30))
    let collected = try await response.body.collect(upTo: 16 << 20)
    var out: [String: String] = [:]
    for header in response.headers { out[header.name.lowercased()] = header.value }
    return HTTPResult(status: Int(response.status.code), body: Array(collected.readableBytesView), headers: out)
}

/// A chat request body.
func chatBody(
    _ text: String, maxTokens: Int = 4, stream: Bool = false, model: String = Model.id, extra: String = ""
)
    -> [UInt8]
{
    let escaped = text.replacingOccurrences(of: "\"", with: "\\\"")
    return Array(
        #"{"model":"\#(model)","messages":[{"role":"user","content":"\#(escaped)"}],"max_tokens":\#(maxTokens),"temperature":0,"stream":\#(stream)\#(extra)}"#
            .utf8)
}

func nowNanos() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000_000) }
