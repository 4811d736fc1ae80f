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

/// An HTTP server on a free loopback port for the length of `body`: the ML node over any backend,
/// or a stand-in upstream.
enum LiveServer {
    static func with<T: Sendable>(
        router: Router<BasicRequestContext>, _ body: @Sendable (String) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "remote-test")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw Fixture.Unavailable(description: "no server") }
            do {
                let result = try await body("http://127.0.0.1:\(port)")
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

    /// The ML node's routes over `backend`, live.
    static func node<T: Sendable>(
        _ backend: some MLBackend, _ body: @Sendable (TestServerClient) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "remote-node-test")
        logger.logLevel = .warning
        return try await with(router: MLNodeServer.router(backend: backend, logger: logger)) { base in
            try await body(TestServerClient(base: base))
        }
    }
}

/// Requests to a live server, answers as ``HTTPResult``.
struct TestServerClient: Sendable {
    let base: String

    func get(_ path: String) async throws -> HTTPResult {
        try await send(HTTPClientRequest(url: base + path))
    }

    func post(_ path: String, json: [String: any Sendable]) async throws -> HTTPResult {
        try await post(path, raw: Array(try JSONSerialization.data(withJSONObject: json)))
    }

    func post(_ path: String, raw: [UInt8]) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: raw))
        return try await send(request)
    }

    /// A client whose read timeout is the deadline's: on 2 cores shared with the rest of the suite,
    /// a scoring request has waited more than the shared client's 90 s for its first byte (the
    /// test's own time limit still bounds it).
    static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: .init(timeout: .init(connect: .seconds(30), read: .seconds(170))))

    func send(_ request: HTTPClientRequest) async throws -> HTTPResult {
        let response = try await Self.client.execute(request, timeout: .seconds(170))
        let body = try await response.body.collect(upTo: 64 << 20)
        return HTTPResult(
            status: Int(response.status.code), body: Array(body.readableBytesView),
            contentType: response.headers.first(name: "Content-Type") ?? "")
    }
}

/// llama.cpp's server (`scripts/llama-server` builds it into the cache) on a free port.
enum LlamaServer {
    /// `$GONKA_LLAMA_SERVER`, else the cache `scripts/llama-server` fills.
    static var binary: String? { LlamaServerBinary.path }

    /// Whether the llama.cpp tests can run (the binary and the model are there).
    static var available: Bool { binary != nil && (try? TestModelFile.path()) != nil }

    static let skipped = "llama-server is not built: run scripts/llama-server (or set GONKA_LLAMA_SERVER)"

    /// The id the tests register the model under (`--alias`).
    static let modelID = "SmolLM2-135M-Instruct.Q4_1"

    /// `llama-server -m model` with `parallel` slots of `context` positions, ready (`/health` 200),
    /// for the length of `body`; killed afterwards.
    static func with<T: Sendable>(
        model: String? = nil, alias: String = modelID, parallel: Int = 2, context: Int = 1024,
        _ body: @Sendable (_ base: String, _ process: Process) async throws -> T
    ) async throws -> T {
        let binary = try #require(binary, Comment(rawValue: skipped))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "-m", try model ?? TestModelFile.path(), "-t", "1", "--parallel", "\(parallel)", "-c",
            "\(context * parallel)", "--host", "127.0.0.1", "--port", "0", "--alias", alias,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        defer { stop(process) }
        let log = LogReader(output.fileHandleForReading)
        let base = try #require(
            await log.waitFor(#"listening on (http://[0-9.:]+)"#, timeout: .seconds(60)), "no URL in \(log.text)")
        // Ready once /health answers 200 (503 while the model loads).
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: base + "/health"), timeout: .seconds(2)), response.status == .ok
            {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await body(base, process)
    }

    /// SIGKILL: llama-server waits for its clients' idle keep-alive connections on SIGTERM, and a
    /// test's server holds nothing worth a graceful stop.
    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A child's output read as it comes, on a thread of its own.
final class LogReader: @unchecked Sendable {
    // `@unchecked Sendable`: `buffer` is only touched under `lock`.
    private let lock = NSLock()
    private var buffer = ""

    init(_ handle: FileHandle) {
        let thread = Thread { [weak self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { return }
                guard let self else { return }
                self.lock.lock()
                self.buffer += String(decoding: data, as: UTF8.self)
                self.lock.unlock()
            }
        }
        thread.start()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return buffer
    }

    /// The first capture group of `pattern` once the output contains it, or nil after `timeout`.
    func waitFor(_ pattern: String, timeout: Duration) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let match = try? NSRegularExpression(pattern: pattern).firstMatch(
                in: text, range: NSRange(text.startIndex..., in: text)),
                let range = Range(match.range(at: 1), in: text)
            {
                return String(text[range])
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}
