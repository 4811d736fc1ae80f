import Consensus
import Foundation
import GonkaWire
import P2P
import SwiftProtobuf

/// Block-sync progress (CometBFT's block-sync reactor): the heights peers announce, the blocks
/// asked of whom, and the answers held until they are next. Pure: the driver passes the tip and
/// the time, sends the requests it plans, and verifies and applies the blocks it takes.
struct BlockSync: Sendable {
    /// A peer's answer to a block request, its commit not verified yet.
    struct Received: Sendable {
        var peer: PeerID
        var block: [UInt8]
        var commit: Consensus.Commit
    }

    private(set) var peerHeights: [PeerID: UInt64] = [:]
    /// The lowest height each peer still stores, when above 1 (it prunes, `[storage] keep_blocks`):
    /// lower heights are never asked of it.
    private(set) var peerBases: [PeerID: UInt64] = [:]
    private var requested: [UInt64: (peer: PeerID, at: ContinuousClock.Instant)] = [:]
    private var received: [UInt64: Received] = [:]
    private var requestRotation = 0

    /// Whether a peer is more than one block ahead of `tip` (one behind is normal: a peer committed first).
    func catchingUp(tip: UInt64) -> Bool {
        (peerHeights.values.max() ?? 0) > tip + 1
    }

    /// A peer's announced height and the lowest it serves (`base`, 0 or 1 for an archive node).
    mutating func peer(_ peer: PeerID, isAt height: UInt64, base: UInt64 = 1) {
        peerHeights[peer] = height
        peerBases[peer] = base > 1 ? base : nil
    }

    /// Forgets a disconnected peer and what was asked of it.
    mutating func disconnected(_ peer: PeerID) {
        peerHeights[peer] = nil
        peerBases[peer] = nil
        for (h, r) in requested where r.peer == peer { requested[h] = nil }
    }

    /// Drops requests unanswered for longer than `timeout`, so they are asked again.
    mutating func expireRequests(now: ContinuousClock.Instant, timeout: Duration) {
        for (h, r) in requested where now - r.at > timeout { requested[h] = nil }
    }

    /// Takes a block response if it answers a request to that peer (clearing the request).
    mutating func answered(height: UInt64, by peer: PeerID) -> Bool {
        guard let asked = requested[height], asked.peer == peer else { return false }
        requested[height] = nil
        return true
    }

    /// Holds an answered block until it is next.
    mutating func hold(_ answer: Received, height: UInt64) {
        received[height] = answer
    }

    /// The held block at `height`, if any, no longer held.
    mutating func take(height: UInt64) -> Received? {
        received.removeValue(forKey: height)
    }

    /// Drops held blocks at or below the tip.
    mutating func dropHeld(upTo tip: UInt64) {
        received = received.filter { $0.key > tip }
    }

    /// A peer answered that it lacks `height`: its request is cleared. Below its `base` the block
    /// was pruned there: its base is raised, so it is not asked again for older blocks (its height
    /// stands). Otherwise, if it had announced that height, its announcement is lowered (believe the
    /// answer, so it is not asked again and does not keep this node "catching up"). Whether the
    /// announced heights changed.
    mutating func noBlock(height: UInt64, base: UInt64 = 0, from peer: PeerID) -> Bool {
        if requested[height]?.peer == peer { requested[height] = nil }
        if base > height {
            peerBases[peer] = max(peerBases[peer] ?? 0, base)
            return false
        }
        guard let announced = peerHeights[peer], height > 0, height <= announced else { return false }
        peerHeights[peer] = height - 1
        return true
    }

    /// The blocks to ask for now, each of a peer that has it (rotating among them): up to `window`
    /// past `tip`, skipping those asked or held. None while only one block behind for less than
    /// `stuckBeforeSync` (`atHeightFor`: how long the node has been at this height).
    mutating func plan(
        tip: UInt64, window: Int, atHeightFor: Duration, stuckBeforeSync: Duration
    ) -> [(height: UInt64, peer: PeerID)] {
        guard let best = peerHeights.values.max(), best > tip else { return [] }
        if best == tip + 1, atHeightFor < stuckBeforeSync { return [] }
        let last = min(best, tip + UInt64(window))
        var out: [(height: UInt64, peer: PeerID)] = []
        for h in (tip + 1)...last where requested[h] == nil && received[h] == nil {
            let candidates = peerHeights.filter { $0.value >= h && (peerBases[$0.key] ?? 0) <= h }.keys.sorted {
                $0.description < $1.description
            }
            guard !candidates.isEmpty else { continue }
            requestRotation += 1
            out.append((h, candidates[requestRotation % candidates.count]))
        }
        return out
    }

    /// Notes a request sent.
    mutating func requested(_ height: UInt64, of peer: PeerID, at time: ContinuousClock.Instant) {
        requested[height] = (peer, time)
    }

    // MARK: Messages

    /// This node's announcement: the heights it serves, `base` through `height` (`base` above 1
    /// once old blocks were pruned).
    static func statusPayload(height: UInt64, base: UInt64 = 1) -> [UInt8] {
        (try? Wire.BlockSyncEnvelope.with {
            $0.status = Wire.SyncStatus.with {
                $0.height = height
                $0.base = height > 0 ? max(base, 1) : 0
            }
        }.serializedBytes()) ?? []
    }

    static func requestPayload(height: UInt64) -> [UInt8]? {
        try? Wire.BlockSyncEnvelope.with { $0.blockRequest = Wire.BlockRequest.with { $0.height = height } }
            .serializedBytes()
    }

    /// The answer to a request for `height`: the stored block and its commit, or "no block".
    static func responsePayload(
        height: UInt64, stored: (block: [UInt8], commit: [UInt8])?, base: UInt64 = 1
    ) -> [UInt8]? {
        if let stored, let commit = try? Wire.Commit(serializedBytes: stored.commit) {
            let response = Wire.BlockSyncEnvelope.with {
                $0.blockResponse = Wire.BlockResponse.with {
                    $0.height = height
                    $0.block = Data(stored.block)
                    $0.commit = commit
                }
            }
            if let payload = try? response.serializedBytes() as [UInt8] { return payload }
        }
        let none = Wire.BlockSyncEnvelope.with {
            $0.noBlock = Wire.NoBlock.with {
                $0.height = height
                $0.base = base
            }
        }
        return try? none.serializedBytes()
    }
}
