import ArgumentParser
import ChainNode
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `gonka node …`
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a chain node.",
        subcommands: [Start.self]
    )
}

extension NodeCommand {
    /// `gonka node start`
    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the chain node of a home: P2P, consensus, mempool, block sync and the chain RPC.",
            discussion: """
                Reads HOME/config.toml, HOME/genesis.json and HOME/keys/, keeps state under HOME/data/. SIGTERM or SIGINT shuts down gracefully. Restarting with the same home resumes from disk.
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
            let node: Node
            do {
                node = try Node(home: home.url, logger: logger)
            } catch {
                throw CLIError("cannot start the node: \(error)")
            }
            try await node.run(signals: [.sigterm, .sigint])
            logger.info("node stopped")
        }
    }
}
