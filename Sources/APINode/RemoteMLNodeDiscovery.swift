import AsyncHTTPClient
import Foundation
import GonkaCore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import ServiceLifecycle

/// Registers the remote ML nodes of `[api] ml_nodes` once each answers `GET /v1/models` (an ML
/// node may start after the API node): tries every 2 s until all are known.
public struct RemoteMLNodeDiscovery: Service {
    let registry: MLNodeRegistry
    let urls: [String]
    let logger: Logger

    public init(registry: MLNodeRegistry, urls: [String], logger: Logger) {
        self.registry = registry
        self.urls = urls
        self.logger = logger
    }

    public func run() async throws {
        let urls = self.urls
        await cancelWhenGracefulShutdown {
            var pending = urls
            while !pending.isEmpty, !Task.isCancelled {
                var left: [String] = []
                for url in pending {
                    if let model = await Self.model(at: url) {
                        registry.add(url: url, model: model)
                        logger.info("ml node registered", metadata: ["ml.url": "\(url)", "ml.model": "\(model)"])
                    } else {
                        left.append(url)
                    }
                }
                pending = left
                if !pending.isEmpty { try? await Task.sleep(for: .seconds(2)) }
            }
            // Stay up with the group (a finished service would end it).
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
    }

    /// The first model `url` serves, or nil when it does not answer.
    static func model(at url: String) async -> String? {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        do {
            let response = try await APINode.sharedHTTPClient.execute(
                HTTPClientRequest(url: base + "/v1/models"), timeout: .seconds(3))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok,
                let object = try? JSONValue(parsing: body.readableBytesView),
                let id = object["data"]?.arrayValue?.first?["id"]?.stringValue
            else { return nil }
            return id
        } catch {
            return nil
        }
    }
}
