import Foundation
import GonkaClient
import GonkaTestKit
import Hummingbird
import Logging
import Testing

@testable import Explorer

/// The parts of the explorer that talk to more than the chain's queries: the shared relay of the
/// chain's event stream, and the API-node health probe with its bounds.
@Suite(.serialized, .hangGuard) struct ExplorerLiveTests {
    static let logger: Logger = {
        var logger = Logger(label: "test.explorer.live")
        logger.logLevel = .critical
        return logger
    }()

    /// Two pages subscribed at once share one upstream connection and both get the chain's
    /// events; when both leave the upstream closes, and the next page opens a new one.
    @Test(.timeLimit(.minutes(2))) func pagesShareOneUpstream() async throws {
        let chain = try await ExplorerChain()
        do {
            let relay = ExplorerEventRelay(client: chain.client, logger: Self.logger)
            let first = relay.subscribe()
            let second = relay.subscribe()
            var a = first.events.makeAsyncIterator()
            var b = second.events.makeAsyncIterator()
            let fromA = try #require(await Self.nextBlock(&a))
            let fromB = try #require(await Self.nextBlock(&b))
            #expect(fromA.hasPrefix("event: new_block\ndata: {"))
            #expect(fromB.hasPrefix("event: new_block\ndata: {"))
            #expect(relay.upstreamsOpened == 1)
            #expect(relay.subscriberCount == 2)
            relay.unsubscribe(first.id)
            #expect(relay.subscriberCount == 1)
            // The one left still gets events from the same upstream.
            #expect(await Self.nextBlock(&b) != nil)
            relay.unsubscribe(second.id)
            #expect(relay.subscriberCount == 0)
            // Its stream ends (after what was already buffered for it).
            while await b.next() != nil {}
            let third = relay.subscribe()
            var c = third.events.makeAsyncIterator()
            #expect(await Self.nextBlock(&c) != nil)
            #expect(relay.upstreamsOpened == 2)
            relay.unsubscribe(third.id)
        } catch {
            await chain.stop()
            throw error
        }
        await chain.stop()
    }

    /// The next `new_block` text of a subscription (ledger events are skipped).
    static func nextBlock(_ iterator: inout AsyncStream<String>.Iterator) async -> String? {
        while let text = await iterator.next() {
            if text.hasPrefix("event: new_block") { return text }
        }
        return nil
    }

    /// Runs `body` with HTTP servers on loopback ports: one whose `/health` answers, one whose
    /// `/health` does not answer for 3 s.
    static func withServers<T: Sendable>(_ body: @Sendable (Int, Int) async throws -> T) async throws -> T {
        let healthy = Router()
        healthy.get("/health") { _, _ in "{\"status\":\"ok\"}" }
        let stuck = Router()
        stuck.get("/health") { _, _ in
            try? await Task.sleep(for: .seconds(3))
            return "late"
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let apps = [healthy, stuck].map { router in
            Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await apps[0].run() }
            var iterator = ports.makeAsyncIterator()
            let healthyPort = try #require(await iterator.next())
            group.addTask { try await apps[1].run() }
            let stuckPort = try #require(await iterator.next())
            defer { group.cancelAll() }
            return try await body(healthyPort, stuckPort)
        }
    }

    /// An answering node reads "ok" with its latency, a stuck one "no answer" within the budget, a
    /// closed port "down", and a URL that is not a plain `http://host:port` is never probed. A
    /// second round within a few seconds is answered from the cache.
    @Test(.timeLimit(.minutes(1))) func healthIsBoundedAndCached() async throws {
        let closed = try LoopbackSocket.freePort()
        try await Self.withServers { healthyPort, stuckPort in
            let ok = "http://127.0.0.1:\(healthyPort)"
            let stuck = "http://127.0.0.1:\(stuckPort)"
            let down = "http://127.0.0.1:\(closed)"
            let hostile = "http://127.0.0.1:\(healthyPort)/\"><script>x</script>"
            let health = ExplorerHealth()
            let clock = ContinuousClock()
            var answers: [String: ExplorerHealth.Answer] = [:]
            let elapsed = await clock.measure { answers = await health.check([ok, stuck, down, hostile]) }
            #expect(elapsed < .milliseconds(1_500), "\(elapsed)")
            #expect(answers[ok]?.ok == true)
            #expect(answers[ok]?.text.hasPrefix("ok, ") == true)
            #expect(answers[ok]?.text.hasSuffix(" ms") == true)
            #expect(answers[stuck] == ExplorerHealth.Answer(text: "no answer", ok: false))
            #expect(answers[down] == ExplorerHealth.Answer(text: "down", ok: false))
            #expect(answers[hostile] == ExplorerHealth.Answer.notProbed)
            var again: [String: ExplorerHealth.Answer] = [:]
            let cached = await clock.measure { again = await health.check([ok, stuck, down, hostile]) }
            #expect(cached < .milliseconds(100), "\(cached)")
            #expect(again == answers)
        }
    }
}
