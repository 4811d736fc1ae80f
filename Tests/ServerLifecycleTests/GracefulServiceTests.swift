import AsyncHTTPClient
import GonkaTestKit
import Hummingbird
import Logging
import NIOCore
import ServerLifecycle
import ServiceLifecycle
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `GracefulService` around a real Hummingbird listener on loopback.
@Suite(.hangGuard)
struct GracefulServiceTests {
    static let logger: Logger = {
        var logger = Logger(label: "graceful-service-test")
        logger.logLevel = .critical
        return logger
    }()

    /// A listener on a free loopback port; `/slow` streams `chunks` chunks 50 ms apart,
    /// `/forever` never ends.
    static func server(port: Int = 0, chunks: Int = 6, ports: AsyncStream<Int>.Continuation) -> some Service {
        let router = Router()
        router.get("/slow") { _, _ in
            Response(
                status: .ok,
                body: .init { writer in
                    for index in 0..<chunks {
                        try await Task.sleep(for: .milliseconds(50))
                        try await writer.write(ByteBuffer(string: "chunk\(index)\n"))
                    }
                    try await writer.finish(nil)
                })
        }
        router.get("/forever") { _, _ in
            Response(
                status: .ok,
                body: .init { writer in
                    while true {
                        try await writer.write(ByteBuffer(string: "tick\n"))
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                })
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { ports.yield($0.localAddress?.port ?? 0) }, logger: logger)
    }

    /// `server()` in a `GracefulService`, running on a task of its own, and its port.
    static func serving(gracePeriod: Duration) async throws -> (task: Task<Void, any Error>, port: Int) {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let service = GracefulService(Self.server(ports: continuation), gracePeriod: gracePeriod, logger: Self.logger)
        let task = Task { try await service.run() }
        var iterator = ports.makeAsyncIterator()
        return (task, try #require(await iterator.next()))
    }

    /// The trap this type exists for (swift-nio#2813): a burst of connections, then cancellation
    /// of the serving task before the accept loop has taken them. Unwrapped, this kills the test
    /// process with "Deinited NIOAsyncWriter without calling finish()" within a few rounds.
    @Test(.timeLimit(.minutes(2))) func cancellingWhileConnectionsArriveDropsNothingOnTheFloor() async throws {
        for _ in 0..<10 {
            let (serving, port) = try await Self.serving(gracePeriod: .seconds(1))
            // Left open: accepted, never used.
            let sockets = try (0..<64).map { _ in try LoopbackSocket.connect(to: port) }
            serving.cancel()
            // It ends (idle connections closed, or cut after the grace period) and the process lives.
            _ = try? await serving.value
            for fd in sockets { close(fd) }
        }
    }

    @Test(.timeLimit(.minutes(2))) func cancellationLetsAnAnswerUnderWayFinish() async throws {
        let (serving, port) = try await Self.serving(gracePeriod: .seconds(10))
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/slow"), timeout: .seconds(30))
        serving.cancel()
        var text = ""
        for try await buffer in response.body { text += String(buffer: buffer) }
        #expect(text == (0..<6).map { "chunk\($0)\n" }.joined())
        try await serving.value
        // The listener is closed: a new connection is refused.
        #expect(throws: LoopbackSocket.Failure.self) { close(try LoopbackSocket.connect(to: port)) }
    }

    @Test(.timeLimit(.minutes(2))) func anAnswerThatNeverEndsIsCutAfterTheGracePeriod() async throws {
        let (serving, port) = try await Self.serving(gracePeriod: .milliseconds(500))
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/forever"), timeout: .seconds(30))
        let cancelled = ContinuousClock.now
        serving.cancel()
        var ticks = 0
        do {
            for try await buffer in response.body { ticks += String(buffer: buffer).count / 5 }
        } catch {}  // cut mid-body: an error or a short end, both fine
        let cut = ContinuousClock.now - cancelled
        _ = try? await serving.value
        #expect(ticks > 0)
        #expect(cut >= .milliseconds(400), "cut \(cut) after cancellation, before the grace period")
        #expect(cut < .seconds(30), "cut \(cut) after cancellation")
    }

    @Test(.timeLimit(.minutes(2))) func theGroupsGracefulShutdownIsPassedOn() async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let service = GracefulService(Self.server(ports: continuation), gracePeriod: .seconds(10), logger: Self.logger)
        let group = ServiceGroup(configuration: .init(services: [service], logger: Self.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/slow"), timeout: .seconds(30))
            await group.triggerGracefulShutdown()
            var text = ""
            for try await buffer in response.body { text += String(buffer: buffer) }
            #expect(text.hasSuffix("chunk5\n"))
            try await tasks.waitForAll()
        }
    }

    @Test(.timeLimit(.minutes(2))) func aPortInUseIsThrown() async throws {
        let taken = try LoopbackSocket(listening: 4)
        defer { taken.close() }
        let (_, continuation) = AsyncStream.makeStream(of: Int.self)
        let service = GracefulService(
            Self.server(port: taken.port, ports: continuation), gracePeriod: .seconds(1), logger: Self.logger)
        await #expect(throws: (any Error).self) { try await service.run() }
    }
}
