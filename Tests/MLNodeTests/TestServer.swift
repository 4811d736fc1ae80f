import AsyncHTTPClient
import Foundation
import GonkaTestKit
import Hummingbird
import Inference
import Logging
import MLNode
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

/// The embedded model, found by ``TestModelFile``.
enum Fixture {
    static let loaded: Result<LlamaModel, any Error> = Result { try LlamaModel(path: TestModelFile.path()) }

    struct Unavailable: Error, CustomStringConvertible { let description: String }
}

/// A response as the tests look at it.
struct HTTPResult: Sendable {
    let status: Int
    let body: [UInt8]
    let contentType: String

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:]
    }

    /// `error` of an OpenAI-style error body.
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }

    /// The `data:` payloads of a server-sent-events body, in order.
    var events: [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).compactMap { line in
            line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil
        }
    }

    /// The JSON objects among ``events`` (`[DONE]` left out).
    var chunks: [[String: Any]] {
        events.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
}

/// A real ML node on a free loopback port, over the embedded model, for the length of `body`.
struct TestServer: Sendable {
    let base: String
    let port: Int
    let backend: NativeBackend

    static func with<T: Sendable>(
        parallel: Int = 1, queue: Int = 4, context: Int = 512, prefixCacheBytes: Int = 0,
        configuration: MLNodeConfiguration = .init(), _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        let model = try Fixture.loaded.get()
        let backend = NativeBackend(
            model: model, id: "test-model", parallel: parallel, queue: queue, threads: 1, contextLength: context,
            prefixCacheBytes: prefixCacheBytes)
        var logger = Logger(label: "mlnode-test")
        logger.logLevel = .warning
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = MLNodeServer.application(
            backend: backend, port: 0, configuration: configuration, logger: logger
        ) { port in portContinuation.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                throw Fixture.Unavailable(description: "server did not start")
            }
            let server = TestServer(base: "http://127.0.0.1:\(port)", port: port, backend: backend)
            do {
                let result = try await body(server)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                tasks.cancelAll()
                throw error
            }
        }
    }

    /// Requests go through ``TestServerClient`` (the remote-backend tests' client of a live server).
    var client: TestServerClient { TestServerClient(base: base) }

    func get(_ path: String) async throws -> HTTPResult { try await client.get(path) }

    func post(_ path: String, json: [String: any Sendable]) async throws -> HTTPResult {
        try await client.post(path, json: json)
    }

    func post(_ path: String, raw: [UInt8]) async throws -> HTTPResult { try await client.post(path, raw: raw) }

    func send(_ request: HTTPClientRequest) async throws -> HTTPResult { try await client.send(request) }
}
