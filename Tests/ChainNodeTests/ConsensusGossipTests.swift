import GonkaCore
import P2P
import Testing

@testable import ChainNode

/// ``ConsensusGossip`` without sockets: what is admitted, buffered and re-gossiped.
@Suite struct ConsensusGossipTests {
    let peer = PeerID(SigningKey().publicKey)

    @Test func laterHeightsAreBufferedOnceAndHandedOutWhenDue() {
        var gossip = ConsensusGossip(maxFutureMessages: 2)
        func admit(_ height: UInt64, _ payload: [UInt8], round: Int = 0) -> Bool {
            gossip.admit(height: height, round: round, payload: payload, from: peer, machineHeight: 5, machineRound: 0)
        }
        #expect(admit(5, [1]))
        #expect(!admit(4, [2]))
        #expect(!admit(5, [3], round: 101))
        #expect(!admit(6, [4]))
        #expect(!admit(6, [4]))  // a repeat is not buffered twice
        #expect(!admit(8, [5]))  // too far ahead
        #expect(!admit(7, [6]))
        #expect(!admit(7, [7]))  // over the bound
        let six = gossip.takeBuffered(for: 6)
        let seven = gossip.takeBuffered(for: 7)
        let sevenAgain = gossip.takeBuffered(for: 7)
        #expect(six.map(\.payload) == [[4]])
        #expect(seven.map(\.payload) == [[6]])
        #expect(sevenAgain.isEmpty)
    }

    @Test func regossipsRecentProposalsAndEveryVoteOfTheHeight() {
        var gossip = ConsensusGossip(maxFutureMessages: 10)
        for round in 0..<3 { gossip.keepProposal([UInt8(round)], round: round) }
        gossip.keepVote([9])
        #expect(gossip.regossip(round: 2) == [[1], [2], [9]])
        let first = gossip.markSeen([1, 2])
        let repeated = gossip.markSeen([1, 2])
        gossip.forget([1, 2])
        let afterForget = gossip.markSeen([1, 2])
        gossip.startHeight()
        let nextHeight = gossip.markSeen([1, 2])
        #expect(first && !repeated && afterForget && nextHeight)
        #expect(gossip.regossip(round: 0).isEmpty)
    }
}
