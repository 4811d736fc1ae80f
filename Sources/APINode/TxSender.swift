import GonkaClient
import GonkaCore
import GonkaWire
import Logging
import ServiceLifecycle
import SwiftProtobuf
import Synchronization

/// Signs and broadcasts the node's own duty transactions (`MsgStartInference`,
/// `MsgFinishInference`) from its account key, keeping the account sequence locally so many can
/// be in the mempool at once. Queued txs go out in batches (`POST /txs`, up to ``batchLimit``):
/// at hundreds of inferences per second one round trip per tx would not keep up. A refused
/// sequence resynchronises from the node's `next_sequence` (committed plus pending; the
/// committed sequence alone is behind the txs in flight) and the rest of the batch is re-signed.
public actor TxSender {
    private let client: ChainClient
    private let key: SigningKey
    private let chainID: String
    private let logger: Logger
    private var nextSequence: UInt64?
    /// Accepted txs not yet known to be committed, by sequence (ascending). A tx the node accepted
    /// can still leave its mempool uncommitted (re-checked after a block against the new state,
    /// e.g. behind an earlier tx of this account that failed in its block and so left a gap in
    /// the sequence); ``InFlight/lost(nodeNext:committed:)`` finds those at the next resync and
    /// they are sent again.
    private var inFlight = InFlight()
    private var minGasPrice: UInt64?

    /// Transactions the node accepted.
    public private(set) var sent = 0
    /// Refusals and failed broadcasts, counted per transaction and attempt.
    public private(set) var failed = 0
    /// Transactions given up: refused twice, or refused for a reason a retry cannot fix.
    public private(set) var dropped = 0

    /// Transactions per `POST /txs`.
    public static let batchLimit = 200
    /// How long txs the node could not take (unreachable, busy past the client's timeout, or
    /// `mempool_full`) are retried, with ``backoff(strike:)`` between tries, before they are
    /// dropped. A Start is useless once its request leaves the 60 s window (§6.1) and a Finish
    /// once its inference expires; the soak lost answered inferences' Starts and Finishes when one
    /// retry after 200 ms met a node busy with a block of 1,500 PoC txs for 9 s.
    public nonisolated let retryHorizon: Duration

    /// The wait before try `strike` + 1 after `strike` transient failures in a row: 200 ms,
    /// doubling, at most 3.2 s.
    static func backoff(strike: Int) -> Duration {
        .milliseconds(200 << min(max(strike - 1, 0), 4))
    }
    /// Bytes of queued transactions at most (``Job/cost``, `[memory] tx_queue_mb`); past it the
    /// oldest are dropped (logged).
    public nonisolated let queueLimitBytes: Int

    /// A duty tx waiting in the queue.
    struct Job: Sendable {
        var message: Wire.Msg
        var what: String
        /// Pays the minimum fee (the free per-block bound was used up).
        var paid = false
        /// When it was queued (the queue's age in `/metrics`).
        var queued = ContinuousClock.now
        /// What it takes in the queue: the message's encoded size and ~160 bytes of bookkeeping
        /// (its description, the job's fields).
        var cost: Int

        init(message: Wire.Msg, what: String, paid: Bool = false) {
            self.message = message
            self.what = what
            self.paid = paid
            cost = 160 + what.utf8.count + ((try? message.serializedBytes() as [UInt8])?.count ?? 0)
        }
    }
    private struct Queue {
        var jobs: [Job] = []
        var head = 0
        var closed = false
        /// ``Job/cost`` of the jobs from `head` on.
        var bytes = 0
    }
    private nonisolated let queue = Mutex(Queue())
    /// One wake-up per enqueue burst; finished by ``closeQueue()``.
    private nonisolated let wakeUps: AsyncStream<Void>
    private nonisolated let wake: AsyncStream<Void>.Continuation

    public init(
        client: ChainClient, key: SigningKey, chainID: String, logger: Logger, queueLimitBytes: Int = 32 << 20,
        retryHorizon: Duration = .seconds(30)
    ) {
        self.queueLimitBytes = queueLimitBytes
        self.retryHorizon = retryHorizon
        self.client = client
        self.key = key
        self.chainID = chainID
        self.logger = logger
        (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `message` for ``drain()`` (run by ``TxQueueService``) and returns at once: the
    /// request path never waits for the chain node. `paid`: it pays the minimum fee from the start
    /// (a message that is not a fee-free duty tx of PROTOCOL §3.4, such as `MsgUnjail`).
    public nonisolated func enqueue(_ message: Wire.Msg, what: String, paid: Bool = false) {
        let job = Job(message: message, what: what, paid: paid)
        let dropped = queue.withLock { q -> Int in
            q.jobs.append(job)
            q.bytes += job.cost
            var dropped = 0
            // The newest job always stays, whatever its size.
            while q.bytes > queueLimitBytes, q.head < q.jobs.count - 1 {
                q.bytes -= q.jobs[q.head].cost
                q.head += 1
                dropped += 1
            }
            // Dropped jobs must leave memory too, not only the count (a queue that overflows
            // while the node is unreachable never drains).
            if q.head > 1024, q.head * 2 > q.jobs.count {
                q.jobs.removeFirst(q.head)
                q.head = 0
            }
            return dropped
        }
        if dropped > 0 {
            logger.warning(
                "duty tx queue full; oldest dropped", metadata: ["tx.kind": "\(what)", "dropped": "\(dropped)"])
        }
        wake.yield()
    }

    /// Sends the queued txs in order, in batches; one the node could not take is retried for
    /// ``retryHorizon``.
    /// Returns when the queue is closed (``closeQueue()``) and empty, or the task is cancelled.
    public func drain() async {
        for await _ in wakeUps {
            await sendQueued()
        }
        if !Task.isCancelled { await sendQueued() }
    }

    /// Txs waiting to be sent, and how long the oldest of them has waited (zero when none):
    /// `gonka_api_tx_queue_depth` and `gonka_api_tx_queue_oldest_age_seconds`.
    public nonisolated func backlog(now: ContinuousClock.Instant = .now) -> (depth: Int, oldest: Duration) {
        queue.withLock { q in
            guard q.head < q.jobs.count else { return (0, .zero) }
            return (q.jobs.count - q.head, now - q.jobs[q.head].queued)
        }
    }

    /// No more jobs: ``drain()`` sends what is queued and returns (a transient failure is then
    /// retried once, not for ``retryHorizon``: shutdown does not wait for a chain that is gone).
    public nonisolated func closeQueue() {
        queue.withLock { $0.closed = true }
        wake.finish()
    }

    public nonisolated var address: Address { key.publicKey.address }

    private func sendQueued() async {
        while !Task.isCancelled {
            let batch = queue.withLock { q -> [Job] in
                let end = min(q.head + Self.batchLimit, q.jobs.count)
                let batch = Array(q.jobs[q.head..<end])
                q.head = end
                for job in batch { q.bytes -= job.cost }
                if q.head == q.jobs.count {
                    q.jobs.removeAll(keepingCapacity: true)
                    q.head = 0
                }
                return batch
            }
            guard !batch.isEmpty else { return }
            await send(batch)
        }
    }

    /// Broadcasts one message now (sync mode: returns once the node's checkTx accepted it).
    /// Returns the tx hash, or nil when it was refused (logged).
    @discardableResult
    public func send(_ message: Wire.Msg, what: String) async -> String? {
        await send([Job(message: message, what: what)]).first ?? nil
    }

    /// Signs `jobs` at consecutive sequences and submits them with `POST /txs`; returns the hash
    /// of each (nil: given up). The node checks them in order and answers each: accepted ones are
    /// done; the others are re-signed after a resynchronised sequence (refused for their
    /// sequence, e.g. behind a refused one), switched to the fee (past the free per-block bound),
    /// retried with backoff for ``retryHorizon`` (node unreachable or mempool full; once when the
    /// queue is closed), or dropped (refused for themselves).
    @discardableResult
    private func send(_ jobs: [Job]) async -> [String?] {
        var hashes = [String?](repeating: nil, count: jobs.count)
        var remaining = Array(jobs.enumerated())
        var strikes = 0
        var rounds = 0
        var lastRefusal = ""
        let started = ContinuousClock.now
        while !remaining.isEmpty {
            var refused: [(index: Int, job: Job, error: String, log: String)] = []
            do {
                let (sequence, lost) = try await syncedSequence()
                if !lost.isEmpty {
                    logger.notice(
                        "duty txs left the mempool uncommitted; sending them again",
                        metadata: ["count": "\(lost.count)"])
                    remaining = lost.map { (-1, $0) } + remaining
                }
                let txs = try remaining.enumerated().map { i, item in
                    try sign(item.element.message, paid: item.element.paid, sequence: sequence + UInt64(i))
                }
                let results = try await client.broadcast(batch: txs)
                for (i, (item, result)) in zip(remaining, results).enumerated() {
                    if result.code == 0 {
                        if item.offset >= 0 { hashes[item.offset] = result.hash }
                        inFlight.accepted(item.element, sequence: sequence + UInt64(i))
                        sent += 1
                    } else {
                        refused.append((item.offset, item.element, result.error ?? "refused", result.log))
                    }
                }
                nextSequence = refused.isEmpty ? sequence + UInt64(txs.count) : nil
            } catch {
                refused = remaining.map { ($0.offset, $0.element, "unreachable", "\(error)") }
                nextSequence = nil
            }
            remaining = []
            var retryLater = false
            if let last = refused.last { lastRefusal = "\(last.error): \(last.log)" }
            for var item in refused {
                switch item.error {
                case "bad_sequence":
                    break
                case "duty_tx_limit":
                    // Past the free per-block bound (PROTOCOL §3.4) a duty tx pays the minimum fee.
                    item.job.paid = true
                case "unreachable", "mempool_full":
                    failed += 1
                    retryLater = true
                default:
                    // Refused for itself: a retry would be refused again.
                    failed += 1
                    dropped += 1
                    logger.notice(
                        // A resent one (it left the mempool uncommitted) is logged too: its refusal
                        // is the only trace of a Start or Finish that never reached the chain.
                        item.index < 0 ? "duty tx refused when sent again" : "duty tx refused",
                        metadata: [
                            "tx.kind": "\(item.job.what)", "inference.id": "\(item.job.message.inferenceID ?? "-")",
                            "error": "\(item.error): \(item.log)",
                        ])
                    continue
                }
                remaining.append((item.index, item.job))
            }
            if !retryLater {
                // Resynchronising and switching to the fee are not failures: at once, twice. A
                // sequence still refused after that is a node whose pending state moves under the
                // sender (catching up after a restart): waited for like a node that is busy.
                rounds += 1
                if rounds < 3 || remaining.isEmpty { continue }
            }
            strikes += 1
            let delay = Self.backoff(strike: strikes)
            let closing = queue.withLock { $0.closed }
            if closing ? strikes >= 2 : ContinuousClock.now - started + delay > retryHorizon {
                return giveUp(remaining.map(\.element), hashes, after: ContinuousClock.now - started, last: lastRefusal)
            }
            try? await Task.sleep(for: delay)
            if Task.isCancelled {
                return giveUp(remaining.map(\.element), hashes, after: ContinuousClock.now - started, last: lastRefusal)
            }
        }
        return hashes
    }

    private func giveUp(_ jobs: [Job], _ hashes: [String?], after elapsed: Duration, last: String) -> [String?] {
        dropped += jobs.count
        logger.warning(
            "duty txs dropped: the chain node did not take them",
            metadata: [
                "tx.kind": "\(jobs.first?.what ?? "")", "count": "\(jobs.count)",
                "retried_for_s": "\(elapsed.components.seconds)", "last_refusal": "\(last)",
            ])
        return hashes
    }

    /// The sequence to sign with next: kept locally while the node accepts, re-read from its
    /// `next_sequence` (falling back to the committed sequence of an older node) when not.
    /// With the jobs of accepted txs the node no longer holds (to send again first).
    private func syncedSequence() async throws -> (UInt64, [Job]) {
        if minGasPrice == nil { minGasPrice = try await client.params().minGasPrice }
        if let nextSequence { return (nextSequence, []) }
        let account = try await client.account(address)
        let sequence = account.nextSequence ?? account.sequence
        nextSequence = sequence
        let lost = account.nextSequence.map { inFlight.lost(nodeNext: $0, committed: account.sequence) } ?? []
        return (sequence, lost)
    }

    private func sign(_ message: Wire.Msg, paid: Bool, sequence: UInt64) throws -> [UInt8] {
        // A duty tx of an active participant may go without a fee (PROTOCOL §3.4).
        paid
            ? try TxBuilder(chainID: chainID, key: key, minGasPrice: minGasPrice ?? 0).build(
                [message], sequence: sequence
            ).bytes
            : try Self.freeTx(message, chainID: chainID, key: key, sequence: sequence)
    }

    /// A fee-free duty tx of one message (PROTOCOL §3.4), signed at `sequence`.
    public static func freeTx(
        _ message: Wire.Msg, chainID: String, key: SigningKey, sequence: UInt64
    ) throws -> [UInt8] {
        var body = Wire.TxBody()
        body.chainID = chainID
        body.signer = key.publicKey.address.description
        body.sequence = sequence
        body.messages = [message]
        body.fee = 0
        return try Wire.Tx.signed(body: body, by: key).serializedBytes()
    }
}

/// The sender's accepted txs that may still be pending, by sequence: the bookkeeping that lets it
/// notice txs a node dropped from its mempool without committing them.
struct InFlight {
    private(set) var entries: [(sequence: UInt64, job: TxSender.Job)] = []
    /// Entries kept at most (the oldest go first).
    static let limit = 50_000

    mutating func accepted(_ job: TxSender.Job, sequence: UInt64) {
        entries.append((sequence, job))
        if entries.count > Self.limit { entries.removeFirst(entries.count - Self.limit) }
    }

    /// Forgets what the chain committed (sequence below `committed`) and takes out the jobs whose
    /// sequence is at or past the node's next one: neither committed nor pending there, so lost.
    mutating func lost(nodeNext: UInt64, committed: UInt64) -> [TxSender.Job] {
        entries.removeAll { $0.sequence < committed }
        let lost = entries.filter { $0.sequence >= nodeNext }.map(\.job)
        entries.removeAll { $0.sequence >= nodeNext }
        return lost
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
