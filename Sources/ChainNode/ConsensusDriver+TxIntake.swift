import GonkaCore
import GonkaWire
import Ledger
import Logging
import P2P
import SwiftProtobuf

/// Transaction intake: clients' transactions are checked into the ``Mempool`` at once, peers'
/// are queued (``TxIntake``) and checked in slices between other work; what the mempool takes in
/// is gossiped on the next tick.
extension ConsensusDriver {
    /// Queues a peer's gossiped transactions for ``checkQueuedTxs(limit:)``.
    func queueTxs(_ payload: [UInt8], from peer: PeerID) {
        guard let batch = try? Wire.MempoolTxs(serializedBytes: payload) else {
            return punish(peer, "undecodable mempool message")
        }
        let dropped = intake.enqueue(batch.txs)
        if dropped > 0 {
            logger.debug("tx backlog full: dropping gossiped txs", metadata: ["dropped": "\(dropped)"])
        }
        txBacklogSignal.continuation.yield()
    }

    /// Checks up to `limit` queued transactions into the mempool; whether more are queued.
    func checkQueuedTxs(limit: Int) -> Bool {
        let (txs, drained) = intake.takeSlice(limit: limit)
        for tx in txs {
            if halted == nil, case .added = addTx(tx) { intake.gossip(tx) }
        }
        guard drained else { return true }
        let size = mempool.count
        status.update { $0.mempoolSize = size }
        return false
    }

    /// Broadcasts the transactions pooled since the last flush.
    func flushTxGossip() {
        for payload in intake.takeGossip() { host.broadcast(payload, on: .mempool) }
    }

    private func addTx(_ tx: [UInt8]) -> Mempool.AddResult {
        mempool.add(tx) { tx in
            let r = app.checkTx(tx)
            return r.error.map { ($0.shortDescription, $0.description) }
        }
    }

    /// A transaction from a client: checked, pooled and gossiped.
    public func submit(_ tx: [UInt8]) -> Mempool.AddResult {
        let result = addTx(tx)
        if case .added = result { intake.gossip(tx) }
        let size = mempool.count
        status.update { $0.mempoolSize = size }
        return result
    }

    /// Transactions from a client, checked in order in one turn of the driver (`POST /txs`): a
    /// TA's or executor's burst costs one hop instead of one per tx.
    public func submit(batch: [[UInt8]]) -> [Mempool.AddResult] {
        batch.map { submit($0) }
    }

    /// Signs `messages` with `key` as one fee-free duty tx (PROTOCOL §3.4) carrying the account's
    /// next sequence as this node's mempool sees it, and submits it, in one turn of the driver so
    /// no other submission can take the sequence in between. `nil` (nothing submitted) when the
    /// next block is at or past `validBefore`.
    func submitDuty(_ messages: [Wire.Msg], key: SigningKey, validBefore: UInt64? = nil) -> Mempool.AddResult? {
        if let validBefore, app.tip.height + 1 >= validBefore { return nil }
        guard let sequence = try? app.ledger.nextSequence(of: key.publicKey.address) else { return nil }
        var body = Wire.TxBody()
        body.chainID = configuration.chainID
        body.signer = key.publicKey.address.description
        body.sequence = sequence
        body.messages = messages
        guard let tx = try? Wire.Tx.signed(body: body, by: key), let bytes = try? tx.serializedBytes() as [UInt8] else {
            return nil
        }
        return submit(bytes)
    }
}
