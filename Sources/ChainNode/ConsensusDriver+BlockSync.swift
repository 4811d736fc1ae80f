import Consensus
import Foundation
import GonkaCore
import GonkaWire
import Logging
import P2P
import Storage
import SwiftProtobuf

/// The block-sync channel: the tip is announced to peers, blocks are served to and fetched from
/// them (progress in ``BlockSync``), and a fetched block is applied once its commit verifies
/// against the set that signed it.
extension ConsensusDriver {
    func broadcastStatus() {
        host.broadcast(BlockSync.statusPayload(height: app.tip.height, base: storedBase), on: .blockSync)
    }
    func sendStatus(to peer: PeerID) {
        host.send(BlockSync.statusPayload(height: app.tip.height, base: storedBase), on: .blockSync, to: peer)
    }

    /// The lowest height this node's block store still holds (1 unless `[storage] keep_blocks`
    /// pruned older ones).
    var storedBase: UInt64 { max((try? blocks.oldestHeight()) ?? 1, 1) }

    func receiveSync(_ payload: [UInt8], from peer: PeerID) {
        guard let envelope = try? Wire.BlockSyncEnvelope(serializedBytes: payload) else {
            return punish(peer, "undecodable block-sync message")
        }
        switch envelope.sum {
        case .status(let s):
            sync.peer(peer, isAt: s.height, base: s.base)
            maybeSync()
            publishStatus()
        case .blockRequest(let r):
            serve(height: r.height, to: peer)
        case .blockResponse(let r):
            guard halted == nil else { return }
            guard sync.answered(height: r.height, by: peer) else { return }
            guard r.height > app.tip.height else { return }
            let id = Consensus.blockID(of: Array(r.block))
            guard let commit = try? Consensus.Commit(wire: r.commit), commit.blockID == id, commit.height == r.height
            else {
                return punish(peer, "malformed commit for block \(r.height)")
            }
            // Verified when it is next (``applyReceived``): block h's commit is checked against the
            // set that signed h, known from committed state once the tip is h − 1.
            sync.hold(BlockSync.Received(peer: peer, block: Array(r.block), commit: commit), height: r.height)
            applyReceived()
        case .noBlock(let n):
            if n.base > n.height {
                logger.debug(
                    "peer pruned the block asked of it",
                    metadata: ["peer": "\(peer)", "height": "\(n.height)", "oldest_kept": "\(n.base)"])
            }
            if sync.noBlock(height: n.height, base: n.base, from: peer) { publishStatus() }
        case nil:
            punish(peer, "empty block-sync message")
        }
    }

    private func serve(height: UInt64, to peer: PeerID) {
        let stored = (try? blocks.block(at: height)).map { (block: $0.block, commit: $0.commit) }
        if let payload = BlockSync.responsePayload(height: height, stored: stored, base: storedBase) {
            host.send(payload, on: .blockSync, to: peer)
        }
    }

    /// Applies verified blocks in order while the next one is at hand.
    private func applyReceived() {
        while halted == nil, let next = sync.take(height: app.tip.height + 1) {
            let height = app.tip.height + 1
            do {
                try Consensus.verifyCommit(
                    blockID: Consensus.blockID(of: next.block), commit: next.commit, validators: app.validators,
                    chainID: configuration.chainID, height: height)
            } catch {
                punish(next.peer, "block \(height) with a commit that does not verify: \(error)")
                continue
            }
            guard let block = try? Wire.Block(serializedBytes: next.block) else {
                return halt("block \(height), committed by +2/3, does not decode")
            }
            // Committed by +2/3 of the validators, so canonical: a block that does not extend our
            // chain or our state means this node diverged, and it must stop rather than go on.
            if let last = app.tip.blockID, block.header.lastBlockID.hash != Data(last.bytes) {
                return halt("synced block \(height) does not extend this node's block \(height - 1)")
            }
            if block.header.appHash != Data(app.appHash.bytes) {
                return halt("synced block \(height) carries an app hash this node's state does not have")
            }
            apply(
                height: height, blockID: next.commit.blockID, bytes: next.block, block: block, commit: next.commit,
                round: next.commit.round, synced: true)
        }
        sync.dropHeld(upTo: app.tip.height)
        maybeSync()
    }

    /// Requests the blocks peers have and this node lacks. One block behind is normal (a peer
    /// committed first); fetching starts when that lasts longer than `stuckBeforeSync`.
    func maybeSync() {
        guard halted == nil else { return }
        let plan = sync.plan(
            tip: app.tip.height, window: configuration.syncWindow, atHeightFor: pacing.atHeight(now: .now),
            stuckBeforeSync: configuration.stuckBeforeSync)
        for (height, peer) in plan {
            guard let payload = BlockSync.requestPayload(height: height) else { continue }
            if host.send(payload, on: .blockSync, to: peer) {
                sync.requested(height, of: peer, at: .now)
            }
        }
    }
}
