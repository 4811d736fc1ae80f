import Consensus
import GonkaCore
import P2P

/// What the consensus channel remembers of the current height (CometBFT's consensus reactor
/// bookkeeping): the payloads it re-gossips, the signatures it has already taken in, and the
/// messages for later heights it holds until the node gets there. Pure: the driver feeds it the
/// machine's height and round and sends what it returns.
struct ConsensusGossip: Sendable {
    /// Consensus payloads of the current height to re-gossip: our own, and every valid one seen.
    private var votes: [[UInt8]] = []
    /// Proposals by round; only recent rounds are re-sent (they carry whole blocks).
    private var proposals: [Int: [[UInt8]]] = [:]
    private var seenSignatures: Set<[UInt8]> = []
    private var future: [(height: UInt64, peer: PeerID, payload: [UInt8])] = []
    /// Digests of `future`'s payloads: peers re-gossip every second, so the same message comes often.
    private var futureDigests: Set<Hash> = []
    /// Messages for later heights kept at most.
    let maxFutureMessages: Int

    init(maxFutureMessages: Int) {
        self.maxFutureMessages = maxFutureMessages
    }

    /// Records a signature as taken in; false if it already was (the message is a repeat).
    @discardableResult
    mutating func markSeen(_ signature: [UInt8]) -> Bool {
        seenSignatures.insert(signature).inserted
    }

    /// Forgets a signature marked by ``markSeen(_:)`` whose message turned out invalid, so a valid
    /// copy of it is not taken for a repeat.
    mutating func forget(_ signature: [UInt8]) {
        seenSignatures.remove(signature)
    }

    /// Keeps a proposal's payload for re-gossip.
    mutating func keepProposal(_ payload: [UInt8], round: Int) {
        proposals[round, default: []].append(payload)
    }

    /// Keeps a vote's payload for re-gossip.
    mutating func keepVote(_ payload: [UInt8]) {
        votes.append(payload)
    }

    /// Whether a message of (height, round) is for now: later heights are buffered (bounded),
    /// earlier ones dropped (a slower peer re-gossiping its height is not at fault), absurd rounds
    /// dropped (computing their proposer would cost time linear in the round).
    mutating func admit(
        height: UInt64, round: Int, payload: [UInt8], from peer: PeerID, machineHeight: UInt64, machineRound: Int
    ) -> Bool {
        if height > machineHeight {
            if height <= machineHeight + 2, future.count < maxFutureMessages,
                futureDigests.insert(Hash.sha256(payload)).inserted
            {
                future.append((height, peer, payload))
            }
            return false
        }
        guard height == machineHeight, round <= machineRound + 100 else { return false }
        return true
    }

    /// What is re-sent: every vote of this height, and the proposals of the current and previous
    /// round (a peer in an older round skips ahead on +1/3 of the votes of a newer one).
    func regossip(round: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for r in [round - 1, round] { out += proposals[r] ?? [] }
        return out + votes
    }

    /// Forgets the finished height's payloads and signatures.
    mutating func startHeight() {
        votes = []
        proposals = [:]
        seenSignatures = []
    }

    /// Hands out the buffered messages of `height` and drops those at or below it.
    mutating func takeBuffered(for height: UInt64) -> [(peer: PeerID, payload: [UInt8])] {
        let ready = future.filter { $0.height == height }
        future.removeAll { $0.height <= height }
        futureDigests = Set(future.map { Hash.sha256($0.payload) })
        return ready.map { ($0.peer, $0.payload) }
    }
}
