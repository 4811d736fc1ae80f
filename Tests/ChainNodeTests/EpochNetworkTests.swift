import ChainRPCTypes
import Consensus
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf
import Testing

@testable import ChainNode

/// Consensus handover (PROTOCOL §3.1, §5.6) on real nodes: four in-process validators run a sprint
/// whose PoC transactions the test signs by hand; the new weights become the voting powers at the
/// switch height, blocks keep committing, and a validator that was down syncs across the switch
/// (each commit verified against the set that signed its height).
@Suite(.serialized, .hangGuard) struct EpochNetworkTests {
    /// 20-block epochs: P = 20, batches over [21, 27), validations over [28, 34), weights at 34
    /// (handed to consensus at once: switch − 2 = 34), switch at 36.
    /// The power cap is 40% here: at 25% four participants always come out equal (the cap of
    /// [10,20,30,40] is 10), and the test wants to see powers move.
    static let epochs = EpochParams(
        epochLength: 20, generationEnd: 5, exchangeEnd: 7, validationStart: 8, validationEnd: 14, weightsOffset: 14,
        switchOffset: 16, claimOffset: 17, maxIndividualPowerPpm: 400_000)

    @Test(.timeLimit(.minutes(3))) func powersFollowTheSprintAndBlocksKeepCommitting() async throws {
        var params = ChainParams.devnet
        params.epochs = Self.epochs
        let net = try TestNetwork(validators: 4, seed: 11, params: params)
        defer { net.cleanup() }
        var running: [RunningNode] = []
        var ports: [(Int, Int)] = []
        do {
            for i in 0..<3 {
                try net.writeConfig(i, peers: ports)
                let node = try await RunningNode(home: net.homes[i], name: "node\(i)")
                running.append(node)
                ports.append((i, node.p2pPort))
            }
            let first = running[0]
            let p: UInt64 = 20
            #expect(await eventually(.seconds(60)) { first.height > p }, "the chain reaches the sprint")
            // Batches: participant i submits (4 − i) × 10 nonces (node 3's key signs although its
            // node is down: its txs go through node 0's mempool).
            var sequences = [UInt64](repeating: 0, count: 4)
            func submit(_ msg: Wire.Msg, from i: Int) async throws {
                var body = Wire.TxBody()
                body.chainID = TestChain.chainID
                body.signer = net.accountKeys[i].publicKey.address.description
                body.sequence = sequences[i]
                body.messages = [msg]
                sequences[i] += 1
                let tx = try Array(Wire.Tx.signed(body: body, by: net.accountKeys[i]).serializedData())
                let result = await first.node.driver.submit(tx)
                guard case .added = result else {
                    Issue.record("tx from \(i) not accepted: \(result)")
                    return
                }
            }
            var nonces: [[UInt64]] = []
            for i in 0..<4 {
                let mine = (0..<UInt64((4 - i) * 10)).map { $0 * 7 + UInt64(i) }
                nonces.append(mine)
                var batch = Wire.MsgSubmitPocBatch()
                batch.participant = net.accountKeys[i].publicKey.address.description
                batch.pocStartHeight = p
                batch.mlNodeID = "ml\(i)"
                batch.nodeIndex = 0
                batch.nodeCount = 1
                batch.nonces = mine
                batch.distancesNano = mine.map { _ in 400_000_000 }
                try await submit(Wire.Msg(batch), from: i)
            }
            #expect(await eventually(.seconds(60)) { first.height >= p + 7 }, "past the exchange")
            let blockP = try #require(try first.node.driver.blocks.block(at: p)).hash
            for v in 0..<4 {
                for x in 0..<4 where x != v {
                    let sample = PocSampling.sample(
                        nonces: nonces[x], validatorKeyHex: net.consensusKeys[v].publicKey.hex,
                        blockHashHex: blockP.hex,
                        count: 200)
                    var m = Wire.MsgSubmitPocValidation()
                    m.validator = net.accountKeys[v].publicKey.address.description
                    m.participant = net.accountKeys[x].publicKey.address.description
                    m.pocStartHeight = p
                    m.sampledNonces = sample
                    m.recomputedNano = sample.map { _ in 400_000_000 }
                    m.fraud = false
                    try await submit(Wire.Msg(m), from: v)
                }
            }
            // Raw 40, 30, 20, 10 under a 40% cap: 40 ≤ 0.4·100, nothing is capped.
            let switchHeight = p + Self.epochs.switchOffset
            #expect(await eventually(.seconds(60)) { first.height >= switchHeight + 3 }, "blocks after the switch")
            let participants = try await first.node.driver.query(.participants, height: nil)
            guard case .array(let list) = participants.value else {
                Issue.record("participants is not a list")
                return
            }
            var powers: [String: String] = [:]
            for entry in list {
                guard case .object(let fields) = entry else { continue }
                let dict = Dictionary(fields) { $1 }
                if case .string(let address) = dict["address"], let power = dict["validator_power"] {
                    powers[address] = power.rendered
                }
            }
            #expect(
                (0..<4).map { powers[net.accountKeys[$0].publicKey.address.description] } == ["40", "30", "20", "10"])
            // The headers follow the set: block S−1 announces it as next, block S carries it.
            let before = try Wire.Block(
                serializedBytes: #require(try first.node.driver.blocks.block(at: switchHeight - 1)).block)
            let at = try Wire.Block(
                serializedBytes: #require(try first.node.driver.blocks.block(at: switchHeight)).block)
            #expect(before.header.validatorsHash != before.header.nextValidatorsHash)
            #expect(before.header.nextValidatorsHash == at.header.validatorsHash)
            // The commit of block S is signed under the new powers (the +2/3 there is of 100).
            let commitS = try Consensus.Commit(
                wire: Wire.Commit(
                    serializedBytes: #require(try first.node.driver.blocks.block(at: switchHeight)).commit))
            // Nodes 0 and 1 alone carry 70 of 100, so two precommits can be the whole commit.
            // A precommit names the consensus key's address; the powers are by account.
            let powerOfValidator = Dictionary(
                uniqueKeysWithValues: (0..<4).map { i in
                    (
                        net.consensusKeys[i].publicKey.address,
                        powers[net.accountKeys[i].publicKey.address.description].flatMap { Int($0) } ?? 0
                    )
                })
            let signedPower = commitS.precommits.reduce(0) { $0 + (powerOfValidator[$1.vote.validator] ?? 0) }
            #expect(signedPower * 3 > 100 * 2, "commit of block S signs \(signedPower) of 100")

            // Node 3 was down the whole time: it syncs from genesis across the switch and follows.
            try net.writeConfig(3, peers: ports)
            let late = try await RunningNode(home: net.homes[3], name: "node3")
            running.append(late)
            let target = first.height + 3
            #expect(await eventually(.seconds(60)) { late.height >= target }, "the late node syncs across the switch")
            #expect(
                try late.node.driver.blocks.block(at: switchHeight)?.hash
                    == first.node.driver.blocks.block(at: switchHeight)?.hash)
            #expect(await late.node.driver.stateRoot(at: switchHeight) == first.node.driver.stateRoot(at: switchHeight))

            // A restart after the switch: node 1 (power 30 of 100) stops; the other 70 keep
            // committing; reopened from its home, it takes the validator history from its state,
            // catches up and signs again under the new powers.
            await running[1].stop()
            let stoppedAt = first.height
            #expect(await eventually(.seconds(60)) { first.height >= stoppedAt + 3 }, "70 of 100 commit")
            try net.writeConfig(1, peers: ports.filter { $0.0 != 1 })
            let restarted = try await RunningNode(home: net.homes[1], name: "node1-again")
            running[1] = restarted
            let goal = first.height + 3
            #expect(await eventually(.seconds(60)) { restarted.height >= goal }, "the restarted node follows")
            let signedAgain = await eventually(.seconds(60)) {
                let h = first.height
                guard h > goal, let stored = try? first.node.driver.blocks.block(at: h),
                    let commit = try? Consensus.Commit(wire: Wire.Commit(serializedBytes: stored.commit))
                else { return false }
                return commit.precommits.contains { $0.vote.validator == net.consensusKeys[1].publicKey.address }
            }
            #expect(signedAgain, "the restarted validator's precommits are in commits again")
        } catch {
            for node in running { await node.stop() }
            throw error
        }
        for node in running { await node.stop() }
    }
}
