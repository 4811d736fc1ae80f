import Foundation
import GonkaWire
import SwiftProtobuf

/// The mempool channel's two queues (CometBFT's mempool reactor, less the pool itself, which is
/// ``Mempool``): peers' gossiped transactions waiting for their check, and the transactions this
/// node pooled that are still to be gossiped. Pure: the driver checks what ``takeSlice(limit:)``
/// hands out and broadcasts what ``takeGossip()`` returns.
struct TxIntake: Sendable {
    /// Transactions checked per slice of the backlog (~10–30 ms of work under load).
    static let checkSlice = 32
    /// Bytes of gossiped transactions held for checking at most (``cost(of:)`` each, `[memory]
    /// tx_backlog_mb`); more are dropped (gossip is best effort: the transactions reach this node
    /// in blocks anyway, and their senders' nodes keep them).
    let backlogLimitBytes: Int
    /// A gossip message is cut after the transaction that takes it past this many bytes.
    static let gossipBatchBytes = 1 << 20

    /// Gossiped transactions waiting for their mempool check, oldest from `backlogHead` on.
    /// They are checked in small slices between other work: peers' messages used to be handled
    /// strictly in arrival order, so under a flood of transactions a proposal or vote waited
    /// behind seconds of checks and blocks took 5 s instead of 1 s.
    private var backlog: [[UInt8]] = []
    private var backlogHead = 0
    /// ``cost(of:)`` of the transactions from `backlogHead` on.
    private(set) var backlogBytes = 0
    /// Transactions pooled since the last ``takeGossip()``.
    private var pendingGossip: [[UInt8]] = []

    init(backlogLimitBytes: Int = MemorySettings.bytes(MemorySettings().txBacklogMB)) {
        self.backlogLimitBytes = backlogLimitBytes
    }

    /// What a queued transaction takes in memory: its bytes and its array's header and slot.
    static func cost(of tx: some Collection<UInt8>) -> Int { tx.count + 48 }

    /// Queues a peer's transactions for checking, in order while the backlog has room for them;
    /// how many did not fit (dropped).
    mutating func enqueue(_ txs: [Data]) -> Int {
        var dropped = 0
        for tx in txs {
            let cost = Self.cost(of: tx)
            guard dropped == 0, backlogBytes + cost <= backlogLimitBytes else {
                dropped += 1
                continue
            }
            backlog.append(Array(tx))
            backlogBytes += cost
        }
        return dropped
    }

    /// The next (up to) `limit` queued transactions, and whether the backlog is now empty.
    mutating func takeSlice(limit: Int) -> (txs: [[UInt8]], drained: Bool) {
        let end = min(backlogHead + limit, backlog.count)
        let slice = Array(backlog[backlogHead..<end])
        backlogHead = end
        for tx in slice { backlogBytes -= Self.cost(of: tx) }
        if backlogHead == backlog.count {
            backlog.removeAll(keepingCapacity: true)
            backlogHead = 0
            return (slice, true)
        }
        // Compacted now and then rather than on every slice (`removeFirst` moves the rest).
        if backlogHead > 4_096 {
            backlog.removeFirst(backlogHead)
            backlogHead = 0
        }
        return (slice, false)
    }

    /// Notes a transaction the mempool took in, to gossip on the next flush.
    mutating func gossip(_ tx: [UInt8]) {
        pendingGossip.append(tx)
    }

    /// The pending transactions as mempool-channel payloads (about 1 MiB each), emptying the queue.
    mutating func takeGossip() -> [[UInt8]] {
        guard !pendingGossip.isEmpty else { return [] }
        var payloads: [[UInt8]] = []
        var batch = Wire.MempoolTxs()
        var bytes = 0
        for tx in pendingGossip {
            batch.txs.append(Data(tx))
            bytes += tx.count
            if bytes > Self.gossipBatchBytes {
                if let payload = try? batch.serializedBytes() as [UInt8] { payloads.append(payload) }
                batch = Wire.MempoolTxs()
                bytes = 0
            }
        }
        if !batch.txs.isEmpty, let payload = try? batch.serializedBytes() as [UInt8] {
            payloads.append(payload)
        }
        pendingGossip = []
        return payloads
    }
}
