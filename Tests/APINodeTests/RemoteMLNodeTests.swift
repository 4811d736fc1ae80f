import APINode
import Foundation
import Hummingbird
import Logging
import MLNode
import ServiceLifecycle
import Testing

/// `[api] ml_nodes`: a remote ML node (a real `MLNodeServer` on a loopback port) is registered under
/// the model it serves once it answers; one that never answers stays out.
@Suite(.hangGuard)
struct RemoteMLNodeTests {
    @Test(.timeLimit(.minutes(5))) func discoveryRegistersAnsweringNodesOnly() async throws {
        let model = try Model.loaded.get()
        let backend = NativeBackend(
            model: model, id: "remote-model", parallel: 1, queue: 2, threads: 1, contextLength: 256)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = MLNodeServer.application(backend: backend, port: 0, logger: TestNet.logger("remote")) {
            continuation.yield($0)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let registry = MLNodeRegistry()
            let discovery = RemoteMLNodeDiscovery(
                registry: registry, urls: ["http://127.0.0.1:\(port)/", "http://127.0.0.1:1"],
                logger: TestNet.logger("discovery"))
            group.addTask { try await discovery.run() }
            let deadline = ContinuousClock.now + .seconds(20)
            while registry.list().isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let entries = registry.list()
            #expect(entries.count == 1)
            #expect(entries.first?.url == "http://127.0.0.1:\(port)")
            #expect(entries.first?.model == "remote-model")
            #expect(registry.models == ["remote-model"])
            group.cancelAll()
        }
    }
}
