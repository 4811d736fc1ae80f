import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Storage
import Testing

@testable import ChainNode

/// The PoC orchestrator end to end: four in-process validators with `[poc] enabled` run a sprint
/// on their own (seeds, the real ProofOfCompute engine searching, batches, validations by
/// recomputation) and every participant comes out accepted with a weight; the voting powers
/// follow at the switch.
@Suite(.serialized) struct PocOrchestratorTests {
    /// 40-block epochs: P = 40, generation over [41, 50), batches until 52, validation over
    /// [54, 70), weights at 70, switch at 72. The cap is 40% so four weights may differ.
    static let epochs = EpochParams(
        epochLength: 40, generationEnd: 10, exchangeEnd: 12, validationStart: 14, validationEnd: 30,
        weightsOffset: 30, switchOffset: 32, claimOffset: 33, maxIndividualPowerPpm: 400_000)

    @Test(.timeLimit(.minutes(4))) func aSprintGivesEveryParticipantAWeight() async throws {
        var params = ChainParams.devnet
        params.epochs = Self.epochs
        let net = try TestNetwork(validators: 4, seed: 13, params: params)
        defer { net.cleanup() }
        var running: [RunningNode] = []
        var ports: [(Int, Int)] = []
        do {
            for i in 0..<4 {
                try net.writeConfig(i, peers: ports, pocThreads: 1)
                let node = try await RunningNode(home: net.homes[i], name: "node\(i)")
                running.append(node)
                ports.append((i, node.p2pPort))
            }
            let first = running[0]
            let p: UInt64 = 40
            let switchHeight = p + Self.epochs.switchOffset
            #expect(await eventually(.seconds(180)) { first.height >= switchHeight + 1 }, "the chain passes the switch")
            let driver = first.node.driver
            let record = try #require(
                try await driver.readLedger { ledger throws(LedgerError) in try ledger.epoch(1) })
            #expect(record.status == "active")
            #expect(record.participants.count == 4)
            for member in record.participants {
                #expect(member.status == "accepted", "\(member.address): \(member.status)")
                #expect(member.weight > 0, "\(member.address) has a weight")
            }
            // Every participant committed a seed, kept 0600 in its home.
            for i in 0..<4 {
                let file = net.homes[i].appendingPathComponent("data/seeds/1")
                let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
                let participant = net.accountKeys[i].publicKey.address
                let sprint = try await driver.readLedger { ledger throws(LedgerError) in
                    try ledger.pocSprint(p, participant: participant)
                }
                #expect(!sprint.summary.seedHash.isEmpty)
                #expect(sprint.validations.count == 3, "three others validated participant \(i)")
                #expect(sprint.validations.allSatisfy { !$0.fraud })
            }
            // Consensus uses the sprint's weights from the switch on.
            let powers = try await driver.readLedger { ledger throws(LedgerError) in
                try ledger.validatorSet(forHeight: switchHeight)?.validators.map { $0.power } ?? []
            }
            #expect(powers.sorted() == record.participants.map(\.weight).sorted())
            #expect(await eventually(.seconds(30)) { first.height >= switchHeight + 4 }, "blocks after the switch")
        } catch {
            for node in running { await node.stop() }
            throw error
        }
        for node in running { await node.stop() }
    }
}
