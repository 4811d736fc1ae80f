import Consensus
import Foundation
import GonkaCore
import Hummingbird
import Ledger
import Logging
import NIOCore
import P2P
import ServerLifecycle
import ServiceLifecycle
import Storage
import Telemetry
import UnixSignals

/// Where a node keeps its files under its home directory.
public struct NodePaths: Sendable, Hashable {
    public let home: URL

    public init(home: URL) { self.home = home }

    public var config: URL { home.appendingPathComponent("config.toml") }
    public var genesis: URL { home.appendingPathComponent("genesis.json") }
    public var data: URL { home.appendingPathComponent("data", isDirectory: true) }
    public var state: URL { data.appendingPathComponent("state.sqlite") }
    public var blocks: URL { data.appendingPathComponent("blocks.sqlite") }
    public var walDirectory: URL { data.appendingPathComponent("wal", isDirectory: true) }
    public var walFile: URL { walDirectory.appendingPathComponent("consensus.wal") }
    public var signState: URL { data.appendingPathComponent("sign-state.json") }
    /// The PoC seeds this participant committed, one file per epoch (0600).
    public var seeds: URL { data.appendingPathComponent("seeds", isDirectory: true) }
    /// The state snapshots this node offers (PROTOCOL §3.1 *State sync*).
    public var snapshots: URL { data.appendingPathComponent("snapshots", isDirectory: true) }
}

/// A chain node assembled from its home directory: P2P host, consensus driver (with mempool,
/// ledger, block store and block sync) and the chain RPC, run together as one `ServiceGroup`.
public final class Node: Sendable {
    public let config: NodeConfig
    public let paths: NodePaths
    public let host: P2PHost
    public let driver: ConsensusDriver
    public let status: NodeStatusBox
    public let events: EventHub
    public let nodeID: PeerID
    private let rpcAddress: HostPort
    /// The RPC's port once listening; the error `run()` ended with if it ended before that.
    private let rpcListener = ListenerState()
    /// The genesis file as read, for `GET /genesis`.
    private let genesisJSON: Data
    private let logger: Logger

    /// Loads config, genesis and keys from `home` and opens the stores (replaying blocks the state
    /// store lacks). `tune` adjusts the driver's knobs (tests).
    public init(
        home: URL, logger: Logger, tune: (@Sendable (inout ConsensusDriver.Configuration) -> Void)? = nil,
        pocWorker: (any PocWorker)? = nil
    ) throws(NodeError) {
        let paths = NodePaths(home: home)
        self.paths = paths
        self.logger = logger
        let config = try NodeConfig(file: paths.config)
        self.config = config
        let genesis: Genesis
        do {
            let raw = try Data(contentsOf: paths.genesis)
            genesis = try Genesis.decode(json: raw)
            genesisJSON = raw
        } catch {
            throw .genesis("\(paths.genesis.path): \(error)")
        }
        guard genesis.chainID == config.chainID else {
            throw .config("config.toml chain_id \(config.chainID) differs from genesis.json \(genesis.chainID)")
        }
        let keys = KeyStore(home: home)
        let nodeKey: SigningKey
        let consensusKey: SigningKey?
        do {
            nodeKey = try keys.load(config.p2pKey)
        } catch {
            throw .keys("p2p key \"\(config.p2pKey)\": \(error)")
        }
        do {
            consensusKey = try keys.load(config.consensusKey)
        } catch .notFound {
            consensusKey = nil
        } catch {
            throw .keys("consensus key \"\(config.consensusKey)\": \(error)")
        }
        let p2pListen = try HostPort(parsing: config.p2pListen)
        rpcAddress = try HostPort(parsing: config.rpcListen)
        var p2p = P2PConfiguration(nodeKey: nodeKey, chainID: config.chainID)
        p2p.listenHost = p2pListen.host
        p2p.listenPort = p2pListen.port
        do {
            p2p.persistentPeers = try config.persistentPeers.map { text throws(P2PError) in
                try PeerAddress(parsing: text)
            }
        } catch {
            throw .config("p2p.persistent_peers: \(error)")
        }
        guard let timeouts = config.consensusTimeouts else { throw .config("consensus.timeouts") }
        do {
            try FileManager.default.createDirectory(at: paths.walDirectory, withIntermediateDirectories: true)
        } catch {
            throw .storage("cannot create \(paths.walDirectory.path): \(error.localizedDescription)")
        }
        var hostLogger = logger
        hostLogger[metadataKey: "component"] = "p2p"
        host = P2PHost(configuration: p2p, logger: hostLogger)
        nodeID = PeerID(nodeKey.publicKey)
        status = NodeStatusBox()
        events = EventHub()
        var driverConfig = ConsensusDriver.Configuration(chainID: config.chainID, timeouts: timeouts)
        driverConfig.mempoolMaxTxs = config.mempoolMaxTxs
        driverConfig.mempoolMaxBytes = config.mempoolMaxBytes
        driverConfig.limits.keepRecent = config.keepRecent
        driverConfig.limits.keepBlocks = config.keepBlocks
        driverConfig.limits.snapshotInterval = config.snapshotInterval
        driverConfig.snapshotKeepRecent = Int(clamping: config.snapshotKeepRecent)
        driverConfig.blockInterval = config.blockInterval
        driverConfig.txBacklogBytes = MemorySettings.bytes(config.memory.txBacklogMB)
        driverConfig.limits.signatureCacheBytes = MemorySettings.bytes(config.memory.signatureCacheMB)
        driverConfig.stateOptions.pageCacheBytes = MemorySettings.bytes(config.memory.statePageCacheMB)
        driverConfig.stateOptions.nodeCacheBytes = MemorySettings.bytes(config.memory.stateNodeCacheMB)
        driverConfig.stateOptions.valueCacheBytes = MemorySettings.bytes(config.memory.stateValueCacheMB)
        tune?(&driverConfig)
        var driverLogger = logger
        driverLogger[metadataKey: "component"] = "consensus"
        driver = try ConsensusDriver(
            configuration: driverConfig, paths: paths, genesis: genesis, consensusKey: consensusKey, host: host,
            status: status, events: events, logger: driverLogger)
        // The PoC orchestrator signs with the participant's account key (PROTOCOL §5).
        if config.pocEnabled {
            let account: SigningKey
            do {
                account = try keys.load(config.accountKey)
            } catch {
                throw .keys("account key \"\(config.accountKey)\" ([poc] enabled): \(error)")
            }
            var pocLogger = logger
            pocLogger[metadataKey: "component"] = "poc"
            let worker =
                pocWorker
                ?? EnginePocWorker(
                    threads: config.pocThreads,
                    maxNoncesPerSecond: config.pocMaxNoncesPerSecond > 0 ? config.pocMaxNoncesPerSecond : nil)
            poc = PocOrchestrator(
                driver: driver, events: events, account: account, seedsDirectory: paths.seeds, worker: worker,
                chainID: config.chainID, logger: pocLogger)
        } else {
            poc = nil
        }
    }

    /// The PoC orchestrator (`[poc] enabled`).
    public let poc: PocOrchestrator?

    /// The RPC's bound port, once listening (waits for it). Throws what `run()` failed with if it
    /// ends before the RPC listens (a port in use, a bad address): waiting on would never end.
    public func rpcPort() async throws -> Int { try await rpcListener.port() }

    /// What the chain RPC serves from.
    public var rpcDependencies: RPCDependencies {
        var deps = RPCDependencies(
            chainID: config.chainID, moniker: config.moniker, nodeID: nodeID.description, testHooks: config.testHooks,
            driver: driver, host: host, status: status, events: events, blocks: driver.blocks)
        deps.genesisJSON = genesisJSON
        deps.p2pListenHost = (try? HostPort(parsing: config.p2pListen))?.host ?? ""
        return deps
    }

    /// The P2P host's bound port, once listening.
    public func p2pPort() async throws -> Int { try await host.listeningPort() }

    /// Runs every part until cancelled or, when `signals` are given, until one arrives; then shuts
    /// down gracefully: the `extra` services, PoC, the event streams and the RPC first, then
    /// consensus, then P2P.
    /// `extra`: services that run with the node, such as its API node.
    public func run(signals: [UnixSignal] = [], extra: [any Service] = []) async throws {
        let deps = rpcDependencies
        let rpcHost = rpcAddress.host
        let logger = logger
        var rpcLogger = logger
        rpcLogger[metadataKey: "component"] = "rpc"
        let app = Application(
            router: ChainRPC.router(deps),
            configuration: ApplicationConfiguration(address: .hostname(rpcAddress.host, port: rpcAddress.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                self.rpcListener.listening(port)
                logger.info("rpc listening on http://\(rpcHost):\(port)")
            },
            logger: rpcLogger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: host), .init(service: DriverService(driver: driver)),
                    .init(service: app.stoppingGracefully(logger: rpcLogger)),
                    .init(service: EventStreamsCloser(events: events)), .init(service: HeapTrimmer()),
                ] + (poc.map { [.init(service: PocService(orchestrator: $0))] } ?? [])
                    + extra.map { .init(service: $0) },
                gracefulShutdownSignals: signals, cancellationSignals: [], logger: logger))
        let host = host
        let nodeID = nodeID
        let p2pHost = (try? HostPort(parsing: config.p2pListen))?.host ?? ""
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                tasks.addTask {
                    if let port = try? await host.listeningPort() {
                        logger.info("p2p listening on \(p2pHost):\(port) node_id=\(nodeID)")
                    }
                }
                try await tasks.waitForAll()
            }
        } catch {
            // A halt for an unknown upgrade stops the driver, and whichever service notices first
            // ends the group (the PoC orchestrator's stream ends with the driver's): the node's
            // error is the upgrade's message whatever service that was.
            let reported: any Error =
                if let message = await driver.upgradeHalt { NodeError.upgradeRequired(message) } else { error }
            rpcListener.ended(reported)
            throw reported
        }
        rpcListener.ended(CancellationError())
    }
}

/// Ends the event hub's streams at graceful shutdown, just before the RPC server's turn (services
/// stop in reverse order). The server's graceful shutdown waits for every response to end, and a
/// `GET /events` stream ends only with the hub, which the driver finishes when it stops, after
/// the RPC: without this, one connected event client kept the node from ever exiting on SIGTERM.
struct EventStreamsCloser: Service {
    let events: EventHub

    func run() async throws {
        // Returns at graceful shutdown; throws if the group is cancelled instead (then the hub's
        // streams end with the cancelled responses).
        try? await gracefulShutdown()
        events.finish()
    }
}

/// Every `interval`, gives the free pages the C allocator keeps back to the kernel
/// (``ProcessMemory/releaseFreeHeap()``). Without it a node's RSS grew with the allocator's free
/// chunks while the memory in use stayed flat (issue 23).
struct HeapTrimmer: Service {
    var interval: Duration = .seconds(30)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while (try? await Task.sleep(for: interval)) != nil {
                await ProcessMemory.releaseFreeHeap()
            }
        }
    }
}

/// The driver as a lifecycle service: stops with the group's graceful shutdown.
struct DriverService: Service {
    let driver: ConsensusDriver

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await driver.run()
        }
        // A software upgrade this binary does not know stops the whole node with its message.
        if let message = await driver.upgradeHalt { throw NodeError.upgradeRequired(message) }
    }
}
