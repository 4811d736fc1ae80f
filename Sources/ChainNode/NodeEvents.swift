import Foundation
import GonkaCore
import Synchronization

/// What the node tells subscribers (`GET /events`, `POST /tx?mode=commit`).
public enum NodeEvent: Sendable, Hashable {
    public struct NewBlock: Sendable, Hashable {
        public let height: UInt64
        public let hash: Hash
        public let numTxs: Int
        public let appHash: Hash
        public let timeMs: Int64
    }

    public struct TxCommitted: Sendable, Hashable {
        public let hash: Hash
        public let height: UInt64
        public let index: Int
        public let code: UInt32
        public let log: String
    }

    public struct Ledger: Sendable, Hashable {
        public let height: UInt64
        public let type: String
        public let attributes: [String: String]
    }

    case newBlock(NewBlock)
    case tx(TxCommitted)
    case ledger(Ledger)
}

/// Fans node events out to any number of subscribers. Each subscriber has a bounded buffer: a
/// reader too slow to keep up loses the oldest events rather than holding the node back.
public final class EventHub: Sendable {
    private let subscribers = Mutex<[UInt64: AsyncStream<NodeEvent>.Continuation]>([:])
    /// Waiters for one tx each (`POST /tx?mode=commit`): a lookup per committed tx instead of every
    /// waiter seeing every event.
    private let txWaiters = Mutex<[Hash: [UInt64: AsyncStream<NodeEvent.TxCommitted>.Continuation]]>([:])
    private let nextID = Atomic<UInt64>(0)

    public init() {}

    /// A stream of events from now on; it ends when the caller stops iterating or the hub finishes.
    public func subscribe(buffer: Int = 100_000) -> AsyncStream<NodeEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<NodeEvent>.makeStream(bufferingPolicy: .bufferingNewest(buffer))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    /// A stream that yields the result of tx `hash` once it is committed.
    public func waitForTx(_ hash: Hash) -> AsyncStream<NodeEvent.TxCommitted> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<NodeEvent.TxCommitted>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [weak self] _ in
            self?.txWaiters.withLock { waiters in
                waiters[hash]?[id] = nil
                if waiters[hash]?.isEmpty == true { waiters[hash] = nil }
            }
        }
        txWaiters.withLock { $0[hash, default: [:]][id] = continuation }
        return stream
    }

    public func publish(_ events: [NodeEvent]) {
        guard !events.isEmpty else { return }
        let targets = subscribers.withLock { Array($0.values) }
        for continuation in targets {
            for event in events { continuation.yield(event) }
        }
        var waiting: [(NodeEvent.TxCommitted, [AsyncStream<NodeEvent.TxCommitted>.Continuation])] = []
        txWaiters.withLock { waiters in
            guard !waiters.isEmpty else { return }
            for case .tx(let t) in events {
                if let found = waiters.removeValue(forKey: t.hash) { waiting.append((t, Array(found.values))) }
            }
        }
        for (t, continuations) in waiting {
            for c in continuations {
                c.yield(t)
                c.finish()
            }
        }
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// Ends every stream (shutdown).
    public func finish() {
        let targets = subscribers.withLock { Array($0.values) }
        for continuation in targets { continuation.finish() }
        let waiters = txWaiters.withLock { $0.values.flatMap(\.values) }
        for continuation in waiters { continuation.finish() }
    }
}

/// The node's status as the RPC and metrics read it, updated by the driver; a lock, not an actor
/// hop, so `/status` answers even while the driver is busy with a large block.
public final class NodeStatusBox: Sendable {
    /// The node's metrics, updated where the status is (`GET /metrics`).
    public let metrics = ChainMetrics()

    public struct Snapshot: Sendable, Hashable {
        public var height: UInt64 = 0
        public var blockHash: Hash?
        public var appHash: Hash = .zero
        public var blockTimeMs: Int64 = 0
        public var catchingUp = false
        public var mempoolSize = 0
        public var consensusHeight: UInt64 = 1
        public var round = 0
        public var step = "propose"
        /// Seconds between the last two blocks (block time), in milliseconds.
        public var lastIntervalMs: Int64 = 0
        public var txsCommitted: UInt64 = 0
        /// Set when the driver stopped (storage failure, diverged state).
        public var halted: String?
        /// This node's voting power in the set that signs the next height; nil: not a validator
        /// there (a participant that joined signs once its epoch's set takes over).
        public var validatorPower: UInt64?
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    public func update(_ body: (inout Snapshot) -> Void) {
        state.withLock { body(&$0) }
    }
}
