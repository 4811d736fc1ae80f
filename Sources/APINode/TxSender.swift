import GonkaClient
import GonkaCore
import GonkaWire
import Logging
import ServiceLifecycle
import SwiftProtobuf

/// Signs and broadcasts the node's own duty transactions (`MsgStartInference`,
/// `MsgFinishInference`) from its account key, keeping the account sequence locally so many can
/// be in the mempool at once. A rejected sequence re-reads the account and retries once.
public actor TxSender {
    private let client: ChainClient
    private let key: SigningKey
    private let chainID: String
    private let logger: Logger
    private var nextSequence: UInt64?
    private var minGasPrice: UInt64?

    public private(set) var sent = 0
    public private(set) var failed = 0
    /// Broadcasts that were refused twice (``drain()`` retries once).
    public private(set) var dropped = 0

    /// A duty tx waiting in the queue.
    struct Job: Sendable {
        var message: Wire.Msg
        var what: String
    }
    private nonisolated let queue: AsyncStream<Job>
    private nonisolated let queueInput: AsyncStream<Job>.Continuation

    public init(client: ChainClient, key: SigningKey, chainID: String, logger: Logger) {
        self.client = client
        self.key = key
        self.chainID = chainID
        self.logger = logger
        let (stream, input) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingNewest(100_000))
        queue = stream
        queueInput = input
    }

    /// Queues `message` for ``drain()`` (run by ``TxQueueService``) and returns at once: the
    /// request path never waits for the chain node.
    public nonisolated func enqueue(_ message: Wire.Msg, what: String) {
        if case .dropped = queueInput.yield(Job(message: message, what: what)) {
            logger.warning("duty tx queue full; oldest dropped", metadata: ["tx.kind": "\(what)"])
        }
    }

    /// Sends the queued txs one at a time, in order (so the locally kept sequence numbers reach
    /// the node in order); a refused one is retried once after 200 ms. Returns when the queue is
    /// closed (``closeQueue()``) and empty, or the task is cancelled.
    public func drain() async {
        for await job in queue {
            if await send(job.message, what: job.what) != nil { continue }
            try? await Task.sleep(for: .milliseconds(200))
            if await send(job.message, what: job.what) == nil {
                dropped += 1
                logger.warning("duty tx dropped after a retry", metadata: ["tx.kind": "\(job.what)"])
            }
        }
    }

    /// No more jobs: ``drain()`` sends what is queued and returns.
    public nonisolated func closeQueue() { queueInput.finish() }

    public nonisolated var address: Address { key.publicKey.address }

    /// Broadcasts `message` (sync mode: returns once the node's checkTx accepted it). Returns the
    /// tx hash, or nil when it was refused (logged).
    @discardableResult
    public func send(_ message: Wire.Msg, what: String) async -> String? {
        var free = true
        for round in 0..<3 {
            do {
                if nextSequence == nil || minGasPrice == nil {
                    nextSequence = try await client.account(address).sequence
                    minGasPrice = try await client.params().minGasPrice
                }
                let sequence = nextSequence ?? 0
                // A duty tx of an active participant may go without a fee (PROTOCOL §3.4); past the
                // per-block bound it pays the minimum fee.
                let bytes =
                    free
                    ? try Self.freeTx(message, chainID: chainID, key: key, sequence: sequence)
                    : try TxBuilder(chainID: chainID, key: key, minGasPrice: minGasPrice ?? 0).build(
                        [message], sequence: sequence
                    ).bytes
                nextSequence = sequence + 1
                let result = try await client.broadcast(bytes, mode: .sync)
                sent += 1
                return result.hash
            } catch let error as ChainClientError where error.serverCode == "bad_sequence" && round == 0 {
                nextSequence = nil
                continue
            } catch let error as ChainClientError where error.serverCode == "duty_tx_limit" && free {
                nextSequence = nil
                free = false
                continue
            } catch {
                // A refused tx did not use its sequence number.
                nextSequence = nil
                failed += 1
                logger.notice(
                    "duty tx refused", metadata: ["tx.kind": "\(what)", "error": "\(error)"])
                return nil
            }
        }
        return nil
    }

    static func freeTx(_ message: Wire.Msg, chainID: String, key: SigningKey, sequence: UInt64) throws -> [UInt8] {
        var body = Wire.TxBody()
        body.chainID = chainID
        body.signer = key.publicKey.address.description
        body.sequence = sequence
        body.messages = [message]
        body.fee = 0
        return try Wire.Tx.signed(body: body, by: key).serializedBytes()
    }
}

/// Runs the API node's duty-tx queue (``TxSender/drain()``). At graceful shutdown the queue is
/// closed and what is in it still goes out (each send is bounded by the chain client's timeout).
struct TxQueueService: Service {
    let sender: TxSender

    func run() async throws {
        await withGracefulShutdownHandler {
            await sender.drain()
        } onGracefulShutdown: {
            sender.closeQueue()
        }
    }
}
