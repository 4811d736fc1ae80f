import ChainRPCTypes
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaTestTraits
import Testing

@testable import APINode

/// PROTOCOL §9 liveness, from the host's side: a node cut off for more than half the liveness
/// window is jailed (out of the validator set and the executor pool); once reconnected and caught
/// up, its API node sends `MsgUnjail` itself after `jailed_until` (``Unjailer``), so a host that
/// came back does not stay out until someone runs `gonka tx unjail` (the 30-minute soak's node
/// jailed at height 145 stayed out for the rest of the run).
@Suite(.serialized, .hangGuard) struct UnjailTests {
    @Test(.timeLimit(.minutes(5))) func aNodeCutOffIsJailedAndUnjailsItselfOnceBack() async throws {
        try await TestNet.with(
            participants: 4,
            params: { params in
                params.slashing.livenessWindow = 20
                params.slashing.jailBlocks = 5
            }
        ) { net in
            let account = net.accountKeys[3].publicKey.address
            let chain = try net.chain(0)
            // Cut off: the three others (30 of 40) go on; past the window it has signed < 50%.
            #expect(try await net.chain(3).setIsolated(true))
            try await Self.waitUntil("node 3 jailed", timeout: .seconds(120)) {
                try await chain.collateral(account).jailed
            }
            let jailed = try await chain.collateral(account)
            #expect(jailed.jailedUntil > 0 && !jailed.tombstoned)
            #expect(try await net.chain(3).setIsolated(false) == false)
            // Nobody sends an unjail here but node 3's own API node.
            try await Self.waitUntil("node 3 unjailed", timeout: .seconds(120)) {
                try await !chain.collateral(account).jailed
            }
            let unjailedAt = try await chain.status().height
            #expect(unjailedAt >= jailed.jailedUntil)
            // Back in the set (from the unjail's height + 2): its chain node is a validator again.
            try await Self.waitUntil("node 3 a validator again", timeout: .seconds(60)) {
                (try await net.chain(3).status().validator?.power ?? 0) > 0
            }
        }
    }

    @Test func anUnjailIsDueOnlyOnceTheJailIsOverAndTheNodeCaughtUp() throws {
        func info(jailed: Bool = true, until: UInt64 = 100, tombstoned: Bool = false) throws -> CollateralInfo {
            CollateralInfo(
                address: SigningKey().publicKey.address, deposit: .zero, unbonding: [], jailed: jailed,
                jailedUntil: until, tombstoned: tombstoned, blocksCounted: 0, blocksMissed: 0)
        }
        #expect(Unjailer.due(try info(), height: 100, catchingUp: false))
        #expect(!Unjailer.due(try info(), height: 99, catchingUp: false))
        #expect(!Unjailer.due(try info(), height: 120, catchingUp: true))
        #expect(!Unjailer.due(try info(jailed: false, until: 0), height: 120, catchingUp: false))
        #expect(!Unjailer.due(try info(tombstoned: true), height: 120, catchingUp: false))
    }

    static func waitUntil(
        _ what: String, timeout: Duration, _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("timed out after \(timeout): \(what)")
        throw CancellationError()
    }
}
