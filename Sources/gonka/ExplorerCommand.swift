import ArgumentParser
import Explorer
import GonkaClient
import Hummingbird
import Logging
import ServerLifecycle
import ServiceLifecycle
import UnixSignals

/// `gonka explorer`: the explorer pages of any chain node, served locally.
struct ExplorerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explorer",
        abstract: "Serve the block explorer locally against any chain node's RPC.",
        discussion: """
            The pages every API node serves at GET / (overview, participants, one participant's history, inferences, blocks, txs, proposals), read from --node at each request, with live updates relayed from its event stream. Open the printed URL in a browser; nothing is loaded from any other host.
            """)

    @Option(help: "Chain RPC URL of the node to read, e.g. http://127.0.0.1:26657.") var node: String
    @Option(help: "Local port (0: any free one).") var port = 8090
    @Option(help: "Local address to listen on.") var host = "127.0.0.1"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535") }
        do {
            _ = try ChainClient(baseURL: node)
        } catch {
            throw ValidationError("--node \"\(node)\" is not a chain RPC URL (expected http://HOST:PORT)")
        }
    }

    func run() async throws {
        var logger = Logger(label: "gonka.explorer")
        logger.logLevel = .info
        let explorer = try Explorer(client: try ChainClient(baseURL: node), logger: logger)
        let router = Router(context: BasicRequestContext.self)
        explorer.addRoutes(to: router)
        let host = self.host
        let port = self.port
        let node = self.node
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "gonka-explorer"),
            onServerRunning: { channel in
                say("explorer of \(node) listening on http://\(host):\(channel.localAddress?.port ?? port)/")
            }, logger: logger
        ).stoppingGracefully(gracePeriod: .seconds(2), logger: logger)
        let services: [any Service] = [app] + (try OwnerWatch.services(logger: logger))
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
