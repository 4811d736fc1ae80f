import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaWire
import Logging
import Testing

@testable import APINode

/// The API node's duty-tx sender against a real chain: batches, sequence resynchronisation, and
/// the chain's `next_sequence` it relies on.
@Suite(.timeLimit(.minutes(5)), .hangGuard)
struct TxSenderTests {
    /// A Finish for an inference not started yet: a valid duty tx (recorded as AWAITING_START).
    static func finish(_ i: Int, executor: Address, requester: Address) -> Wire.Msg {
        var finish = Wire.MsgFinishInference()
        finish.inferenceID = Hash.sha256("tx sender test \(i)").hex
        finish.executor = executor.description
        finish.requester = requester.description
        finish.model = Model.id
        finish.promptTokens = 3
        finish.completionTokens = 1
        finish.responseCommitment = Data(Hash.sha256("payload \(i)").bytes)
        return Wire.Msg(finish)
    }

    /// A sender of its own for participant 1 (its API node's sender stays idle), and a requester.
    static func sender(in net: TestNet) throws -> (SigningKey, ChainClient, Address, TxSender) {
        let key = net.accountKeys[1]
        let client = try net.chain(1)
        let sender = TxSender(client: client, key: key, chainID: TestChain.chainID, logger: TestNet.logger("sender"))
        return (key, client, net.wallet[0].publicKey.address, sender)
    }

    /// `[memory] tx_queue_mb`: the queue holds at most its bytes; past them the oldest jobs go.
    @Test func theQueueIsBoundedInBytes() throws {
        let key = SigningKey()
        let message = Self.finish(0, executor: key.publicKey.address, requester: key.publicKey.address)
        let cost = TxSender.Job(message: message, what: "finish").cost
        #expect(cost > 160 && cost < 1_000)
        // Nothing listens there; the queue is never drained.
        let sender = TxSender(
            client: try ChainClient(baseURL: "http://127.0.0.1:9"), key: key, chainID: TestChain.chainID,
            logger: TestNet.logger("sender"), queueLimitBytes: 10 * cost)
        for _ in 0..<25 { sender.enqueue(message, what: "finish") }
        #expect(sender.backlog().depth == 10)
        for _ in 0..<3_000 { sender.enqueue(message, what: "finish") }
        #expect(sender.backlog().depth == 10)
    }

    @Test func batchesResynchroniseAfterAnotherSenderTookTheSequence() async throws {
        try await TestNet.with(participants: 2) { net in
            let (key, client, requester, sender) = try Self.sender(in: net)
            let before = try await client.account(key.publicKey.address)
            #expect(before.nextSequence == before.sequence)
            // The sender learns its sequence with one tx…
            #expect(
                await sender.send(Self.finish(0, executor: key.publicKey.address, requester: requester), what: "finish")
                    != nil)
            // …then someone else with the same key takes the next one behind its back.
            let taken = try await client.account(key.publicKey.address)
            let external = try TxSender.freeTx(
                Self.finish(1, executor: key.publicKey.address, requester: requester), chainID: TestChain.chainID,
                key: key, sequence: try #require(taken.nextSequence))
            _ = try await client.broadcast(external, mode: .sync)
            // The chain counts both, committed or still pending.
            #expect(try await client.account(key.publicKey.address).nextSequence == before.sequence + 2)

            // 450 queued txs: three batches; the first is refused for its sequence, resynchronised
            // from next_sequence and re-signed.
            let drained = Task { await sender.drain() }
            for i in 2..<452 {
                sender.enqueue(Self.finish(i, executor: key.publicKey.address, requester: requester), what: "finish")
            }
            sender.closeQueue()
            await drained.value
            #expect(await sender.dropped == 0)
            #expect(await sender.sent == 451)
            #expect(try await client.account(key.publicKey.address).nextSequence == before.sequence + 452)
            // All of them reach a block.
            let deadline = ContinuousClock.now + .seconds(60)
            var committed = try await client.account(key.publicKey.address).sequence
            while committed < before.sequence + 452, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                committed = try await client.account(key.publicKey.address).sequence
            }
            #expect(committed == before.sequence + 452)
            let last = try await client.inference(Hash.sha256("tx sender test 451").hex)
            #expect(last?.status == "AWAITING_START")
        }
    }

    /// A node whose mempool is full (a sprint's PoC batches filled it in the soak) takes a few
    /// txs per block: the rest are retried with backoff until it has room, none dropped (one
    /// retry after 200 ms dropped them, and their inferences went unrecorded).
    @Test func txsAMempoolHasNoRoomForAreRetriedUntilItHas() async throws {
        try await TestNet.with(participants: 2, node: { $0.mempoolMaxTxs = 4 }) { net in
            let (key, client, requester, sender) = try Self.sender(in: net)
            let drained = Task { await sender.drain() }
            for i in 0..<40 {
                sender.enqueue(Self.finish(i, executor: key.publicKey.address, requester: requester), what: "finish")
            }
            let deadline = ContinuousClock.now + .seconds(120)
            while await sender.sent < 40, await sender.dropped == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            sender.closeQueue()
            await drained.value
            #expect(await sender.dropped == 0)
            #expect(await sender.sent == 40)
            #expect(await sender.failed > 0, "the mempool never refused: the test did not fill it")
            var last = try await client.inference(Hash.sha256("tx sender test 39").hex)
            while last == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                last = try await client.inference(Hash.sha256("tx sender test 39").hex)
            }
            #expect(last?.status == "AWAITING_START")
        }
    }

    @Test func theBackoffDoublesFrom200MillisecondsTo3Point2Seconds() {
        #expect(
            (1...7).map { TxSender.backoff(strike: $0) }
                == [200, 400, 800, 1600, 3200, 3200, 3200].map { .milliseconds($0) })
    }

    @Test func aTxTheNodeRefusesIsDroppedAndTheRestStillGoOut() async throws {
        try await TestNet.with(participants: 2) { net in
            let (key, client, requester, sender) = try Self.sender(in: net)
            let drained = Task { await sender.drain() }
            sender.enqueue(Self.finish(0, executor: key.publicKey.address, requester: requester), what: "finish")
            // An unknown model: the ledger refuses it, whatever its sequence.
            var bad = Wire.MsgFinishInference()
            bad.inferenceID = Hash.sha256("refused").hex
            bad.executor = key.publicKey.address.description
            bad.requester = requester.description
            bad.model = "no-such-model"
            bad.responseCommitment = Data(Hash.sha256("x").bytes)
            sender.enqueue(Wire.Msg(bad), what: "finish")
            sender.enqueue(Self.finish(1, executor: key.publicKey.address, requester: requester), what: "finish")
            sender.closeQueue()
            await drained.value
            #expect(await sender.sent == 2)
            #expect(await sender.dropped == 1)
            let deadline = ContinuousClock.now + .seconds(60)
            var recorded = try await client.inference(Hash.sha256("tx sender test 1").hex)
            while recorded == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                recorded = try await client.inference(Hash.sha256("tx sender test 1").hex)
            }
            #expect(recorded?.status == "AWAITING_START")
        }
    }
}

/// The pure bookkeeping behind resending txs a node dropped uncommitted.
@Suite struct InFlightTests {
    @Test func jobsPastTheNodesNextSequenceAreLostAndCommittedOnesForgotten() {
        var inFlight = InFlight()
        for sequence in UInt64(0)..<10 {
            var finish = Wire.MsgFinishInference()
            finish.inferenceID = "\(sequence)"
            inFlight.accepted(TxSender.Job(message: Wire.Msg(finish), what: "\(sequence)"), sequence: sequence)
        }
        // Committed up to 3, pending 3…6 at the node: 7…9 left its mempool.
        let lost = inFlight.lost(nodeNext: 7, committed: 3)
        #expect(lost.map(\.what) == ["7", "8", "9"])
        #expect(inFlight.entries.map(\.sequence) == [3, 4, 5, 6])
        // Everything committed: nothing lost, nothing kept.
        #expect(inFlight.lost(nodeNext: 7, committed: 7).isEmpty)
        #expect(inFlight.entries.isEmpty)
    }
}
