import APINode
import ArgumentParser
import Foundation
import GonkaCore
import Logging
import ServerLifecycle
import ServiceLifecycle
import Storage
import UnixSignals

/// `gonka proxy`: a local keyless OpenAI-compatible endpoint that signs with a local key.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Serve a local OpenAI-compatible endpoint that signs requests with a local key.",
        discussion: """
            Point any OpenAI client at http://127.0.0.1:PORT/v1 (any api_key). Each request is signed with the key --key (from --home's keys/) for a random healthy API node of --node and relayed, streamed or not. The key's account pays for the inferences.
            """)

    @OptionGroup var home: HomeOptions
    @Option(help: "Name of the signing key under HOME/keys/.") var key: String
    @Option(help: "API node URL(s), comma-separated: http://host:port[,http://…].") var node: String
    @Option(help: "Local port (0: any free one).") var port = 8080
    @Option(help: "Local address to listen on.") var host = "127.0.0.1"
    @Option(
        help: ArgumentHelp(
            "Seconds without a byte from an API node before a request is given up (502).",
            discussion:
                "Streams carry keepalives every 5 s; a non-streamed answer sends nothing until it is whole, so this also bounds its generation time."
        )) var upstreamIdleTimeout = 300

    var nodes: [String] {
        node.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535") }
        guard (10...86_400).contains(upstreamIdleTimeout) else {
            throw ValidationError("--upstream-idle-timeout must be 10…86400 seconds")
        }
        guard !nodes.isEmpty, nodes.allSatisfy({ $0.hasPrefix("http://") || $0.hasPrefix("https://") }) else {
            throw ValidationError("--node must be one or more http(s):// URLs, comma-separated")
        }
    }

    func run() async throws {
        let signing: SigningKeyBox
        do {
            signing = SigningKeyBox(key: try KeyStore(home: home.url).load(key))
        } catch {
            throw CLIError("cannot load key \"\(key)\" from \(home.url.path): \(error)")
        }
        var logger = Logger(label: "gonka.proxy")
        logger.logLevel = .info
        let proxy = SigningProxy(
            key: signing.key, nodes: nodes, upstreamIdleTimeout: .seconds(upstreamIdleTimeout), logger: logger)
        let host = self.host
        let address = signing.key.publicKey.address
        let app = proxy.application(host: host, port: port) { bound in
            say("proxy for \(address) listening on http://\(host):\(bound)/v1")
        }
        let services: [any Service] = [app] + (try OwnerWatch.services(logger: logger))
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Keeps the key out of ArgumentParser's reflection-based printing.
struct SigningKeyBox {
    let key: SigningKey
}
