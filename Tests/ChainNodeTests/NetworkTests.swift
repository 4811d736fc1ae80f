import ChainNode
import Consensus
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Hummingbird
import HummingbirdTesting
import Storage
import SwiftProtobuf
import Testing

/// Four `Node`s in this process over real P2P on loopback, each with its own home.
@Suite(.serialized, .hangGuard) struct NetworkTests {
    /// The addresses of the validators whose precommits are in block `height`'s stored commit or in
    /// the next block's last commit.
    static func signers(_ node: Node, height: UInt64) throws -> Set<Address> {
        var out: Set<Address> = []
        if let stored = try node.driver.blocks.block(at: height) {
            let commit = try Consensus.Commit(wire: Wire.Commit(serializedBytes: stored.commit))
            for v in commit.precommits { out.insert(v.vote.validator) }
        }
        if let next = try node.driver.blocks.block(at: height + 1) {
            let block = try Wire.Block(serializedBytes: next.block)
            let commit = try Consensus.Commit(wire: block.lastCommit)
            for v in commit.precommits { out.insert(v.vote.validator) }
        }
        return out
    }

    static func sameChain(_ nodes: [Node], upTo height: UInt64) async throws {
        let first = nodes[0]
        for h in 1...height {
            let reference = try #require(try first.driver.blocks.block(at: h))
            let root = await first.driver.stateRoot(at: h)
            #expect(root != nil)
            for node in nodes.dropFirst() {
                #expect(try node.driver.blocks.block(at: h)?.hash == reference.hash, "block \(h)")
                #expect(await node.driver.stateRoot(at: h) == root, "app hash after block \(h)")
            }
        }
    }

    @Test(.timeLimit(.minutes(2))) func fourValidatorsCommitSyncAndRecover() async throws {
        let net = try TestNetwork(validators: 4)
        defer { net.cleanup() }
        var running: [RunningNode?] = [nil, nil, nil, nil]
        var ports: [Int: Int] = [:]
        func start(_ i: Int) async throws {
            let peers = ports.filter { $0.key != i }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            try net.writeConfig(i, peers: peers)
            let node = try await RunningNode(home: net.homes[i], name: "node\(i)")
            running[i] = node
            ports[i] = node.p2pPort
        }
        func stop(_ i: Int) async {
            await running[i]?.stop()
            running[i] = nil
            ports[i] = nil
        }
        do {
            // Three of four validators (30 of 40 power) are enough to commit.
            for i in 0..<3 { try await start(i) }
            let live = { running.compactMap { $0 } }
            #expect(await eventually { live().allSatisfy { $0.height >= 3 } }, "three validators commit blocks")

            // A bank send given to one node's mempool is committed on every node.
            let tx = try net.wallet.send(from: 0, to: 1, amount: 1_000)
            let hash = Hash.sha256(tx)
            let added = await running[0]!.node.driver.submit(tx)
            #expect(added == .added(hash))
            #expect(
                await eventually { live().allSatisfy { (try? $0.node.driver.blocks.tx(hash: hash)) != nil } },
                "the tx is committed everywhere")
            let record = try #require(try running[1]!.node.driver.blocks.tx(hash: hash))
            #expect(record.code == 0, "\(record.log)")

            // A validator started late with an empty data directory syncs from height 0.
            try await start(3)
            let late = running[3]!
            #expect(
                await eventually { late.height >= running[0]!.height && late.height >= 4 },
                "the late node catches up by block sync")
            #expect(try late.node.driver.blocks.tx(hash: hash)?.height == record.height)

            // Stop node 0: the other three, including the late one, keep committing; with 10 of 40
            // power gone, that needs the late node's votes, so it signs.
            await stop(0)
            let stoppedAt = running[1]!.height
            #expect(
                await eventually { [1, 2, 3].allSatisfy { running[$0]!.height >= stoppedAt + 3 } },
                "three validators keep committing after one stops")
            let lateAddress = net.consensusKeys[3].publicKey.address
            let signed = try (stoppedAt + 1...stoppedAt + 2).contains { h in
                try Self.signers(running[1]!.node, height: h).contains(lateAddress)
            }
            #expect(signed, "the late node signs commits")

            // Restart node 0 from its home: it resumes from disk, catches up and signs again (stop
            // node 1 so progress needs node 0).
            let resumeFrom = net.homes[0].appendingPathComponent("data/blocks.sqlite").path
            #expect(FileManager.default.fileExists(atPath: resumeFrom))
            try await start(0)
            #expect(
                await eventually { running[0]!.height >= running[2]!.height && running[0]!.height > stoppedAt + 3 },
                "the restarted node catches up")
            await stop(1)
            let before = running[2]!.height
            #expect(
                await eventually { [0, 2, 3].allSatisfy { running[$0]!.height >= before + 3 } },
                "progress with the restarted node's votes")

            // Identical blocks and app hashes on every node that ran throughout.
            let nodes = [0, 2, 3].map { running[$0]!.node }
            let common = nodes.map { $0.status.snapshot.height }.min() ?? 0
            try await Self.sameChain(nodes, upTo: common)
        } catch {
            for i in running.indices { await running[i]?.stop() }
            throw error
        }
        for i in running.indices { await running[i]?.stop() }
    }

    @Test(.timeLimit(.minutes(3))) func isolatedValidatorCatchesUpAfterHealing() async throws {
        let net = try TestNetwork(validators: 4, seed: 9)
        defer { net.cleanup() }
        var nodes: [RunningNode] = []
        var ports: [(Int, Int)] = []
        do {
            for i in 0..<4 {
                try net.writeConfig(i, peers: ports, testHooks: i == 3)
                let node = try await RunningNode(home: net.homes[i], name: "node\(i)")
                nodes.append(node)
                ports.append((i, node.p2pPort))
            }
            #expect(await eventually { nodes.allSatisfy { $0.height >= 2 } })
            // Isolate node 3 through its RPC (test hooks on).
            let app = Application(router: ChainRPC.router(nodes[3].node.rpcDependencies))
            try await app.test(.router) { client in
                try await client.execute(
                    uri: "/debug/isolate", method: .post, body: ByteBuffer(string: "{\"isolated\":true}")
                ) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "{\"isolated\":true}")
                }
            }
            let cutAt = nodes[3].height
            #expect(await eventually { nodes[0].height >= cutAt + 4 }, "the other three keep committing")
            #expect(nodes[3].height <= cutAt + 1, "the isolated node is cut off")
            try await app.test(.router) { client in
                try await client.execute(
                    uri: "/debug/isolate", method: .post, body: ByteBuffer(string: "{\"isolated\":false}")
                ) { response in
                    #expect(response.status == .ok)
                }
            }
            let target = nodes[0].height
            #expect(await eventually { nodes[3].height >= target }, "after healing it catches up")
            let common = nodes.map(\.height).min() ?? 0
            try await Self.sameChain(nodes.map(\.node), upTo: common)
        } catch {
            for node in nodes { await node.stop() }
            throw error
        }
        for node in nodes { await node.stop() }
    }
}
