import GonkaCore
import P2P
import Testing

@testable import ChainNode

/// ``BlockSync`` without sockets: which blocks it asks for, of whom, and what it believes.
@Suite struct BlockSyncTests {
    let a = PeerID(SigningKey().publicKey)
    let b = PeerID(SigningKey().publicKey)

    @Test func oneBlockBehindWaitsUntilStuck() {
        var sync = BlockSync()
        sync.peer(a, isAt: 11)
        let early = sync.plan(tip: 10, window: 8, atHeightFor: .seconds(1), stuckBeforeSync: .seconds(2))
        #expect(early.isEmpty)
        let plan = sync.plan(tip: 10, window: 8, atHeightFor: .seconds(3), stuckBeforeSync: .seconds(2))
        #expect(plan.map(\.height) == [11])
        #expect(plan.map(\.peer) == [a])
        #expect(!sync.catchingUp(tip: 10))
    }

    @Test func plansAWindowAmongThePeersThatHaveEachBlock() {
        var sync = BlockSync()
        sync.peer(a, isAt: 20)
        sync.peer(b, isAt: 12)
        #expect(sync.catchingUp(tip: 10))
        let plan = sync.plan(tip: 10, window: 4, atHeightFor: .zero, stuckBeforeSync: .seconds(2))
        #expect(plan.map(\.height) == [11, 12, 13, 14])
        // Only `a` has 13 and 14; 11 and 12 rotate between both.
        #expect(plan[2].peer == a && plan[3].peer == a)
        #expect(Set(plan.prefix(2).map(\.peer)) == [a, b])
        for step in plan { sync.requested(step.height, of: step.peer, at: .now) }
        let whileAsked = sync.plan(tip: 10, window: 4, atHeightFor: .zero, stuckBeforeSync: .seconds(2))
        #expect(whileAsked.isEmpty)
        sync.expireRequests(now: .now + .seconds(10), timeout: .seconds(4))
        let afterTimeout = sync.plan(tip: 10, window: 4, atHeightFor: .zero, stuckBeforeSync: .seconds(2))
        #expect(afterTimeout.count == 4)
    }

    @Test func answersCountOnlyFromThePeerAsked() {
        var sync = BlockSync()
        sync.peer(a, isAt: 20)
        sync.requested(11, of: a, at: .now)
        let fromOther = sync.answered(height: 11, by: b)
        let fromAsked = sync.answered(height: 11, by: a)
        let again = sync.answered(height: 11, by: a)
        #expect(!fromOther)
        #expect(fromAsked)
        #expect(!again)
    }

    @Test func noBlockLowersTheAnnouncementAndADisconnectForgetsThePeer() {
        var sync = BlockSync()
        sync.peer(a, isAt: 20)
        let lowered = sync.noBlock(height: 15, from: a)
        #expect(lowered)
        #expect(sync.peerHeights[a] == 14)
        let beyond = sync.noBlock(height: 30, from: a)
        #expect(!beyond)
        sync.disconnected(a)
        #expect(sync.peerHeights[a] == nil)
        let none = sync.plan(tip: 10, window: 8, atHeightFor: .seconds(9), stuckBeforeSync: .seconds(2))
        #expect(none.isEmpty)
    }
}
