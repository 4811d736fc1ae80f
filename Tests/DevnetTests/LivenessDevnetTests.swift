import Devnet
import Foundation
import GonkaClient
import GonkaCore
import Testing

/// PROTOCOL §9 liveness with real `gonka node start` processes: validator 3 is killed and misses
/// more than half of the 100-block liveness window, so every node slashes it 1% of its collateral
/// (deposited with the CLI) and jails it; restarted while jailed it catches up but signs no block
/// (it left the validator set); after `jail_blocks` it sends `gonka tx unjail` and signs again.
@Suite(.serialized, .hangGuard, .enabled(if: DevnetHarness.nodeAvailable, "needs `gonka node start`"))
struct LivenessDevnetTests {
    @Test(.timeLimit(.minutes(8))) func aValidatorDownTooLongIsJailedLeavesTheSetUnjailsAndSignsAgain() async throws {
        try await DevnetHarness.withDevnet(participants: 4) { net in
            let others = [0, 1, 2]
            try await net.waitForHeight(3, nodes: [0, 1, 2, 3])
            let victim = net.manifest.nodes[3]
            let account = try await net.depositCollateral(of: 3)

            // Down: the other three go on; after the window is full it has signed < 50% of it.
            try await net.killNode(3)
            let killedAt = await net.maxHeight(others)
            // 1% of 100 GNK.
            try await net.expectSlashedOnEveryNode(
                account, nodes: others, what: "jailed", timeout: .seconds(300), reason: "liveness",
                burned: Amount(gnk: 1)!, left: Amount(gnk: 99)!
            ) { $0.jailed }
            let info = try await net.client(0).collateral(account)
            // Jailed in block H, out of the set from H + 2 (§9, as the set changes).
            let jailedAt = try #require(try await net.client(0).slashes(of: account).first).height
            #expect(jailedAt > killedAt + 50, "jailed at \(jailedAt), killed at \(killedAt)")

            // Back while jailed: it catches up, but no commit lists it (it is out of the set).
            try await net.restartNode(3)
            let caughtUp = await net.maxHeight(others) + 2
            try await net.waitForHeight(caughtUp, nodes: [0, 1, 2, 3], timeout: .seconds(120))
            // Unjail is refused before `jailed_until`…
            if caughtUp < info.jailedUntil {
                let early = try await DevnetHarness.run([
                    "tx", "unjail", "validator", "--home", victim.home, "--node", victim.rpcURL,
                ])
                #expect(early.status != 0 && early.output.contains("jail"), "\(early.output)")
            }
            try await net.waitForHeight(info.jailedUntil, nodes: [0, 1, 2, 3], timeout: .seconds(120))
            let whileJailed = try await net.signedHeights(by: 3, in: (jailedAt + 2)...caughtUp, via: 0)
            #expect(whileJailed.isEmpty, "signed while jailed: \(whileJailed)")

            // …and accepted after it; then it is in the set again and signs.
            let unjail = try await DevnetHarness.run([
                "tx", "unjail", "validator", "--home", victim.home, "--node", victim.rpcURL,
            ])
            #expect(unjail.status == 0, "\(unjail.output)")
            for node in others {
                #expect(try await net.client(node).collateral(account).jailed == false, "node \(node)")
            }
            let unjailedAt = await net.maxHeight([0, 1, 2, 3])
            try await net.waitUntil("validator 3 signs a block after unjail", timeout: .seconds(120)) {
                let top = await net.maxHeight(others)
                guard top > unjailedAt else { return false }
                return !(try await net.signedHeights(by: 3, in: (unjailedAt + 1)...top, via: 0)).isEmpty
            }
        }
    }
}
