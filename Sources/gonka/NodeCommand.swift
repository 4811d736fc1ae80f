import ArgumentParser
import ChainNode
import Foundation
import Ledger
import Logging
import NodeHost
import ServerLifecycle
import ServiceLifecycle
import Telemetry
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
                Reads HOME/config.toml, HOME/genesis.json and HOME/keys/, keeps state under HOME/data/. SIGTERM or SIGINT shuts down gracefully, as does the exit of the process GONKA_OWNER_PID names (test harnesses set it). Restarting with the same home resumes from disk. With [state_sync] enable and no state yet, the node first restores a snapshot of the state from its peers, verified against a trusted header (PROTOCOL §3.1), and block-syncs from its height. With [api] enabled and ml = "embedded", the in-process ML node serves [api] model with the engine of [ml]: threads (compute threads), parallel (requests decoded together in one batched pass), queue (requests that may wait; more get 429) and kv_cache_mb (KV-cache memory of the parallel slots together; it caps each request's prompt plus max_tokens); see docs/API.md.
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
            // Two arenas: fewer free chunks kept in the arenas of a long-lived node (issue 23,
            // README "Long-lived hosts").
            ProcessMemory.limitHeapArenas(2)
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
                // [state_sync] enable with an empty home: restore a peer's snapshot first.
                if case .restored(let height, let appHash, let chunks) = try await Node.stateSyncIfNeeded(
                    home: home.url, logger: logger)
                {
                    print("state sync: restored the state of height \(height) (\(chunks) chunks, app hash \(appHash))")
                }
            } catch {
                throw CLIError("cannot start the node: \(error)")
            }
            do {
                let upgrades = UpgradeRegistry.compiledIn.adding(Self.testUpgrades())
                node = try Node(home: home.url, logger: logger, tune: { $0.upgrades = upgrades })
            } catch {
                throw CLIError("cannot start the node: \(error)")
            }
            let api = try NodeHost.apiNode(node: node, logger: logger)
            try await node.run(signals: [.sigterm, .sigint], extra: owner + (api?.services ?? []))
            logger.info("node stopped")
        }

        /// Test-only upgrade handlers named in `GONKA_TEST_UPGRADES` (comma-separated): each writes
        /// `test/upgrade/NAME` = its height and changes nothing else, so the devnet tests can halt a
        /// chain at an upgrade and restart it with a binary that "knows" it. Never set in production:
        /// a node that claims an upgrade it does not implement leaves the network at the next
        /// state difference.
        static func testUpgrades() -> [UpgradeHandler] {
            let names = ProcessInfo.processInfo.environment["GONKA_TEST_UPGRADES"] ?? ""
            return names.split(separator: ",").map(String.init).filter { !$0.isEmpty }.map { name in
                UpgradeHandler(name: name) { migration in
                    migration.set(Array("test/upgrade/\(name)".utf8), Array(String(migration.height).utf8))
                }
            }
        }
    }
}
