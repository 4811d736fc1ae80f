import Foundation
import GonkaCore
import Synchronization
import Testing

@testable import ChainNode

@Suite(.timeLimit(.minutes(1))) struct EventsTests {
    @Test func hubFansOutToEverySubscriber() async {
        let hub = EventHub()
        let a = hub.subscribe()
        let b = hub.subscribe()
        #expect(hub.subscriberCount == 2)
        let block = NodeEvent.newBlock(
            .init(height: 3, hash: Hash.sha256("b"), numTxs: 1, appHash: Hash.sha256("a"), timeMs: 1_700_000_000_000))
        let tx = NodeEvent.tx(.init(hash: Hash.sha256("t"), height: 3, index: 0, code: 0, log: ""))
        hub.publish([block, tx])
        hub.finish()
        var seenA: [NodeEvent] = []
        for await e in a { seenA.append(e) }
        var seenB: [NodeEvent] = []
        for await e in b { seenB.append(e) }
        #expect(seenA == [block, tx])
        #expect(seenB == [block, tx])
    }

    @Test func serverSentEventsFollowTheContract() throws {
        let hash = Hash.sha256("b")
        let text = ChainRPC.sse(
            .newBlock(.init(height: 3, hash: hash, numTxs: 2, appHash: hash, timeMs: 5)))
        #expect(text.hasPrefix("event: new_block\ndata: {"))
        #expect(text.hasSuffix("}\n\n"))
        let json = try #require(text.split(separator: "\n")[1].dropFirst("data: ".count).data(using: .utf8))
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["height"] as? Int == 3)
        #expect(object["hash"] as? String == hash.hex)
        #expect(object["num_txs"] as? Int == 2)
        let ledger = ChainRPC.sse(
            .ledger(.init(height: 4, type: "transfer", attributes: ["amount": "5", "from": "x"])))
        #expect(
            ledger == "event: ledger\ndata: {\"height\":4,\"type\":\"transfer\",\"amount\":\"5\",\"from\":\"x\"}\n\n")
        let tx = ChainRPC.sse(.tx(.init(hash: hash, height: 4, index: 1, code: 1, log: "bad \"seq\"")))
        #expect(tx.contains("\"log\":\"bad \\\"seq\\\"\""))
    }

    /// A quiet chain still writes to an `/events` subscriber: a heartbeat comment every interval,
    /// the events between them, and the stream ends with the hub.
    @Test func aQuietEventStreamSendsHeartbeats() async throws {
        let hub = EventHub()
        let stream = hub.subscribe()
        final class Written: Sendable {
            let texts = Mutex<[String]>([])
            func withLock<T>(_ body: (inout [String]) -> T) -> T { texts.withLock { body(&$0) } }
        }
        let written = Written()
        let block = NodeEvent.newBlock(
            .init(height: 7, hash: Hash.sha256("b"), numTxs: 0, appHash: Hash.sha256("a"), timeMs: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await ChainRPC.serveEvents(stream, heartbeat: .milliseconds(50)) { text in
                    written.withLock { $0.append(text) }
                }
            }
            // Three heartbeats with nothing committed, then a block, then the hub closes.
            while written.withLock({ $0.filter { $0 == ": heartbeat\n\n" }.count }) < 3 {
                try await Task.sleep(for: .milliseconds(20))
            }
            hub.publish([block])
            while !written.withLock({ $0.contains(ChainRPC.sse(block)) }) { try await Task.sleep(for: .milliseconds(20)) }
            hub.finish()
            try await group.waitForAll()
        }
        let texts = written.withLock { $0 }
        #expect(texts.first == ": connected\n\n")
        #expect(texts.filter { $0 == ": heartbeat\n\n" }.count >= 3)
        #expect(texts.filter { $0.hasPrefix("event: ") } == [ChainRPC.sse(block)])
    }

    /// A client that has gone (the write throws) ends the stream: no task is left writing.
    @Test func aGoneSubscriberEndsTheStream() async throws {
        let hub = EventHub()
        let stream = hub.subscribe()
        struct Gone: Error {}
        let writes = Mutex(0)
        await #expect(throws: Gone.self) {
            try await ChainRPC.serveEvents(stream, heartbeat: .milliseconds(20)) { _ in
                if writes.withLock({ $0 += 1; return $0 }) > 2 { throw Gone() }
            }
        }
        #expect(writes.withLock { $0 } == 3)
        #expect(hub.subscriberCount == 0, "the gone client's subscription is dropped")
    }

    @Test func txWaiterSeesOnlyItsTx() async {
        let hub = EventHub()
        let mine = Hash.sha256("mine")
        let waiter = hub.waitForTx(mine)
        let other = NodeEvent.TxCommitted(hash: Hash.sha256("other"), height: 2, index: 0, code: 0, log: "")
        let result = NodeEvent.TxCommitted(hash: mine, height: 3, index: 4, code: 1, log: "bad_sequence")
        hub.publish([.tx(other)])
        hub.publish([.tx(result)])
        var seen: [NodeEvent.TxCommitted] = []
        for await t in waiter { seen.append(t) }
        #expect(seen == [result])
    }
}
