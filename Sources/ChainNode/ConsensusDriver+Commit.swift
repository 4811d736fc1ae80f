import Consensus
import GonkaCore
import GonkaWire
import Ledger
import Logging
import Storage
import SwiftProtobuf

/// The commit path: a decided (or synced) block goes to the block store first (durable), then the
/// ledger (whose `finalize` writes the tx index before the state commit), then the mempool,
/// events and status; then the next height starts.
extension ConsensusDriver {
    func commitDecision(_ decision: Consensus.Machine.Decision) {
        guard decision.height == app.tip.height + 1 else { return }
        guard let block = try? Wire.Block(serializedBytes: decision.block) else {
            return halt("the decided block \(decision.height) does not decode")
        }
        apply(
            height: decision.height, blockID: decision.blockID, bytes: decision.block, block: block,
            commit: decision.commit, round: decision.round, synced: false)
    }

    /// Block store first (durable), then the ledger, then the mempool, events and status; then
    /// the next height (after the commit timeout, or at once for a synced block).
    func apply(
        height: UInt64, blockID: Hash, bytes: [UInt8], block: Wire.Block, commit: Consensus.Commit, round: Int,
        synced: Bool
    ) {
        // The set that signed this height, read before the block may switch it (an epoch switch).
        let signingSet = app.validatorSet(forHeight: height)
        let processingStarted = ContinuousClock.now
        let applied: LedgerApplication.Applied
        do {
            applied = try app.execute(
                height: height, blockID: blockID, block: block, commit: commit, save: true, bytes: bytes)
        } catch {
            if error.isUpgradeRequired { return haltForUpgrade(error.detail) }
            return halt("\(error)")
        }
        let dropped = mempool.update(committed: applied.results.map(\.hash)) { tx in app.checkTx(tx).isSuccess }
        let processing = ContinuousClock.now - processingStarted
        let interval = pacing.committed(at: .now)
        let (out, failed) = Self.commitEvents(of: applied, height: height, blockID: blockID)
        events.publish(out)
        let size = mempool.count
        let power = signer.flatMap { app.validators.validator($0.address)?.power }
        status.update {
            $0.validatorPower = power
            $0.height = height
            $0.blockHash = blockID
            $0.appHash = applied.appHash
            $0.blockTimeMs = applied.header.timeMs
            $0.mempoolSize = size
            $0.txsCommitted += UInt64(applied.txs.count)
            if let interval {
                $0.lastIntervalMs =
                    interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000
            }
        }
        status.metrics.committed(
            txs: applied.txs.count, failed: failed, round: round, interval: interval, processing: processing)
        status.metrics.caches(cacheUse)
        let signed = Set(commit.precommits.filter { $0.vote.blockID == blockID }.map(\.vote.validator))
        status.metrics.signers(
            signingSet.validators.map {
                (address: $0.address.description, power: $0.power, signed: signed.contains($0.address))
            })
        logger.info(
            "committed block",
            metadata: [
                "height": "\(height)", "round": "\(round)", "block": "\(blockID.hex.prefix(12))",
                "txs": "\(applied.txs.count)", "txs.failed": "\(failed)",
                "app_hash": "\(applied.appHash.hex.prefix(12))",
                "synced": "\(synced)", "mempool.dropped": "\(dropped)",
            ])
        if synced {
            advance()
        } else {
            let wait = pacing.pauseAfterCommit(
                now: .now, commitTimeout: .milliseconds(configuration.timeouts.commit),
                blockInterval: configuration.blockInterval)
            advanceTask?.cancel()
            advanceTask = Task { [weak self] in
                try? await Task.sleep(for: wait)
                guard !Task.isCancelled else { return }
                await self?.advance()
            }
        }
    }

    /// What the node's bounded caches hold now, each with its budget (`[memory]`, `[mempool]`).
    var cacheUse: [ChainMetrics.CacheUse] {
        let store = app.state.memory
        let options = configuration.stateOptions
        var uses = [
            ChainMetrics.CacheUse(name: "state_node", bytes: store.nodeCacheBytes, budget: options.nodeCacheBytes),
            ChainMetrics.CacheUse(name: "state_value", bytes: store.valueCacheBytes, budget: options.valueCacheBytes),
            ChainMetrics.CacheUse(name: "state_page", bytes: store.pageCacheBytes, budget: options.pageCacheBytes),
            ChainMetrics.CacheUse(name: "mempool", bytes: mempool.bytes, budget: mempool.maxBytes),
        ]
        if let signatures = app.ledger.signatureCache {
            uses.append(
                ChainMetrics.CacheUse(
                    name: "signatures", bytes: signatures.bytes,
                    budget: signatures.capacity * SignatureCache.bytesPerEntry))
        }
        return uses
    }

    /// The events of a committed block: the block, then each tx with the ledger events it raised,
    /// then the end-of-block events (epoch stages, weights, validator sets); and how many txs failed.
    static func commitEvents(
        of applied: LedgerApplication.Applied, height: UInt64, blockID: Hash
    ) -> (events: [NodeEvent], failed: Int) {
        var out: [NodeEvent] = [
            .newBlock(
                NodeEvent.NewBlock(
                    height: height, hash: blockID, numTxs: applied.txs.count, appHash: applied.appHash,
                    timeMs: applied.header.timeMs))
        ]
        var failed = 0
        for (i, r) in applied.results.enumerated() {
            if !r.isSuccess { failed += 1 }
            out.append(
                .tx(
                    NodeEvent.TxCommitted(
                        hash: r.hash, height: height, index: i, code: r.isSuccess ? 0 : 1,
                        log: r.error.map { "\($0.shortDescription): \($0)" } ?? "")))
            for e in r.events {
                var attributes: [String: String] = [:]
                for (k, v) in e.attributes { attributes[k] = v }
                out.append(.ledger(NodeEvent.Ledger(height: height, type: e.kind, attributes: attributes)))
            }
        }
        // End-of-block events after the txs'.
        for e in applied.events {
            out.append(
                .ledger(NodeEvent.Ledger(height: height, type: e.kind, attributes: Dictionary(e.attributes) { $1 })))
        }
        return (out, failed)
    }

    /// Starts the height after the tip: carries the precommits gathered since the decision into
    /// the next `last_commit`, marks the WAL, and hands in messages buffered for the new height.
    func advance() {
        guard halted == nil, machine.height <= app.tip.height else { return }
        if let gathered = machine.decidedCommit { app.extendTipCommit(gathered) }
        for task in timers.values { task.cancel() }
        timers = [:]
        // The WAL only ever matters for the current height: the committed one is in the block store.
        do {
            try walFile.truncate(to: 0)
            try wal.append(.endHeight(app.tip.height))
        } catch {
            return halt("wal: \(error)")
        }
        gossip.startHeight()
        let actions = machine.advance(
            height: app.tip.height + 1, validators: app.consensusValidators(forHeight: app.tip.height + 1),
            lastBlockTime: app.tip.time)
        pacing.heightStarted(at: .now)
        perform(actions)
        let height = machine.height
        for message in gossip.takeBuffered(for: height) where machine.height == height {
            receiveConsensus(message.payload, from: message.peer)
        }
        maybeSync()
    }
}
