import Devnet
import Foundation
import GonkaClient
import GonkaCore
import Testing

/// `gonka devnet join` on real processes: a fifth home is written, funded from the faucet,
/// registered through node0 and started; `devnet status` and `devnet down` see it. (That a joined
/// participant mines and becomes a validator is `ChainNodeTests.JoinNetworkTests`, with short
/// epochs; the devnet's are 120 blocks of 1 s.)
@Suite(.serialized, .hangGuard, .enabled(if: DevnetHarness.nodeAvailable, "needs `gonka node start`"))
struct DevnetJoinTests {
    @Test(.timeLimit(.minutes(4))) func aFifthNodeJoinsTheDevnet() async throws {
        try await DevnetHarness.withDevnet(participants: 4) { net in
            try await net.waitForHeight(2, nodes: Array(0..<4))
            let join = try await DevnetHarness.run(["devnet", "join", "--dir", net.dir.path])
            #expect(join.status == 0, "\(join.output)")
            #expect(join.stdout.contains("registered participant"))
            let manifest = try DevnetHarness.loadManifest(net.dir)
            #expect(manifest.nodes.count == 5)
            let joined = try #require(manifest.nodes.last)
            // Registered on chain, seen by every node, with its own config and the devnet's genesis.
            let client = try ChainClient(baseURL: manifest.nodes[0].rpcURL)
            let participants = try await client.participants()
            #expect(participants.contains { $0.address == joined.accountAddress.description })
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: joined.home + "/genesis.json"))
                    == Data(contentsOf: URL(fileURLWithPath: manifest.nodes[0].home + "/genesis.json")))
            // It follows the chain, and `devnet status` reports five agreeing nodes.
            let target = try await client.status().height + 2
            let joinedClient = try ChainClient(baseURL: joined.rpcURL, timeout: .seconds(3))
            let synced = await Self.eventually(.seconds(60)) {
                ((try? await joinedClient.status().height) ?? 0) >= target
            }
            #expect(synced, "the joined node follows the chain")
            let status = try await DevnetHarness.run(["devnet", "status", "--dir", net.dir.path])
            #expect(status.status == 0, "\(status.output)")
            #expect(status.stdout.contains("node4"))
        }
    }

    static func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        // Cancelled (time limit): stop polling rather than spin until the deadline.
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return await condition()
    }
}
