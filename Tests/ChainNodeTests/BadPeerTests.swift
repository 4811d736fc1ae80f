import ChainNode
import Consensus
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Logging
import P2P
import SwiftProtobuf
import Testing

/// Peers that send invalid consensus data are dropped (punished); the node goes on unaffected.
@Suite(.serialized, .hangGuard) struct BadPeerTests {
    /// A P2P host that is not a validator, dialling `port`.
    static func rogue(dialing port: Int, node: PeerID) -> (P2PHost, Task<Void, any Error>) {
        var config = P2PConfiguration(nodeKey: SigningKey(), chainID: TestChain.chainID)
        config.persistentPeers = [PeerAddress(host: "127.0.0.1", port: port, id: node)]
        var logger = Logger(label: "rogue")
        logger.logLevel = .critical
        let host = P2PHost(configuration: config, logger: logger)
        return (host, Task { try await host.run() })
    }

    @Test(.timeLimit(.minutes(3))) func invalidMessagesGetThePeerDropped() async throws {
        // Four validators, one running: it stays at height 1 (10 of 40 power), so the messages
        // below are for its current height whenever they arrive.
        let net = try TestNetwork(validators: 4)
        defer { net.cleanup() }
        let victim = try await RunningNode(home: net.homes[0], name: "victim")
        var others: [RunningNode] = []
        do {
            let forgedVote = Consensus.SignedVote.sign(
                Consensus.Vote(
                    type: .prevote, height: 1, round: 0, blockID: nil, timestamp: 1,
                    validator: net.consensusKeys[1].publicKey.address),
                chainID: TestChain.chainID, signer: Consensus.Signer(key: SigningKey()))
            let strangerVote = Consensus.SignedVote.sign(
                Consensus.Vote(
                    type: .precommit, height: 1, round: 0, blockID: nil, timestamp: 1,
                    validator: SigningKey().publicKey.address),
                chainID: TestChain.chainID, signer: Consensus.Signer(key: SigningKey()))
            let cases: [(String, P2PChannel, [UInt8])] = [
                ("undecodable consensus bytes", .consensus, [0xFF, 0xFF, 0xFF, 0x01]),
                (
                    "vote with a forged signature", .consensus,
                    try Wire.ConsensusEnvelope.with { $0.vote = forgedVote.wire }.serializedBytes()
                ),
                (
                    "vote by a non-validator", .consensus,
                    try Wire.ConsensusEnvelope.with { $0.vote = strangerVote.wire }.serializedBytes()
                ),
                ("undecodable block-sync message", .blockSync, [0x0A, 0xFF]),
                ("undecodable mempool message", .mempool, [0x0A, 0x80]),
            ]
            for (name, channel, payload) in cases {
                let (host, task) = Self.rogue(dialing: victim.p2pPort, node: victim.node.nodeID)
                defer { task.cancel() }
                // Both ends must have the connection before the rogue can send on it.
                let connected = await eventually(.seconds(20)) {
                    victim.node.host.connectedPeers().contains { $0.id == host.id }
                        && host.connectedPeers().contains { $0.id == victim.node.nodeID }
                }
                #expect(connected, "\(name): rogue connects")
                #expect(host.send(payload, on: channel, to: victim.node.nodeID))
                let dropped = await eventually(.seconds(20)) {
                    !victim.node.host.connectedPeers().contains { $0.id == host.id }
                }
                #expect(dropped, "\(name): the peer is dropped")
                // Banned: its redials are refused.
                try await Task.sleep(for: .milliseconds(400))
                #expect(!victim.node.host.connectedPeers().contains { $0.id == host.id }, "\(name): stays banned")
            }
            // A peer that claims a longer chain and answers block requests with a block whose
            // commit does not verify.
            do {
                let (host, task) = Self.rogue(dialing: victim.p2pPort, node: victim.node.nodeID)
                defer { task.cancel() }
                let victimID = victim.node.nodeID
                let claimed = net.consensusKeys[1].publicKey.address
                let answering = Task {
                    for await message in host.inbound where message.channel == .blockSync {
                        guard let envelope = try? Wire.BlockSyncEnvelope(serializedBytes: message.payload),
                            case .blockRequest(let request) = envelope.sum
                        else { continue }
                        let block = Array("not the real block \(request.height)".utf8)
                        let forged = Consensus.SignedVote.sign(
                            Consensus.Vote(
                                type: .precommit, height: request.height, round: 0,
                                blockID: Consensus.blockID(of: block), timestamp: 1,
                                validator: claimed),
                            chainID: TestChain.chainID, signer: Consensus.Signer(key: SigningKey()))
                        let response = Wire.BlockSyncEnvelope.with {
                            $0.blockResponse = Wire.BlockResponse.with {
                                $0.height = request.height
                                $0.block = Data(block)
                                $0.commit =
                                    Consensus.Commit(
                                        height: request.height, round: 0, blockID: Consensus.blockID(of: block),
                                        precommits: [forged]
                                    ).wire
                            }
                        }
                        if let payload = try? response.serializedBytes() as [UInt8] {
                            host.send(payload, on: .blockSync, to: victimID)
                        }
                    }
                }
                defer { answering.cancel() }
                #expect(
                    await eventually(.seconds(20)) {
                        victim.node.host.connectedPeers().contains { $0.id == host.id }
                            && host.connectedPeers().contains { $0.id == victimID }
                    })
                let status =
                    try Wire.BlockSyncEnvelope.with {
                        $0.status = Wire.SyncStatus.with {
                            $0.height = 50
                            $0.base = 1
                        }
                    }.serializedBytes() as [UInt8]
                #expect(host.send(status, on: .blockSync, to: victimID))
                let dropped = await eventually(.seconds(20)) {
                    !victim.node.host.connectedPeers().contains { $0.id == host.id }
                }
                #expect(dropped, "a block with a commit that does not verify gets the peer dropped")
                #expect(victim.height == 0, "nothing of the forged chain was applied")
            }
            // Unaffected: with two more validators the chain commits.
            #expect(victim.height == 0)
            for i in 1...2 {
                try net.writeConfig(i, peers: [(0, victim.p2pPort)])
                others.append(try await RunningNode(home: net.homes[i], name: "node\(i)"))
            }
            #expect(await eventually(.seconds(60)) { victim.height >= 2 }, "the victim commits blocks")
        } catch {
            for node in others { await node.stop() }
            await victim.stop()
            throw error
        }
        for node in others { await node.stop() }
        await victim.stop()
    }
}
