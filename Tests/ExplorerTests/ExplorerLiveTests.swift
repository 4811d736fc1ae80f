import Foundation
import GonkaClient
import GonkaTestKit
import Logging
import Testing

@testable import Explorer

/// The parts of the explorer that talk to more than the chain's queries: the shared relay of the
/// chain's event stream.
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
}
