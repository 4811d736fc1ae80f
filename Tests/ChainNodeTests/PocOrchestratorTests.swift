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
/// recomputation). Three are honest and come out accepted with a weight; the fourth fabricates its
/// distances (claims nonces it never computed), the others' recomputation finds it out and it is
/// rejected. The voting powers follow at the switch.
@Suite(.serialized, .hangGuard) struct PocOrchestratorTests {
    /// 40-block epochs: P = 40, generation over [41, 50), batches until 52, validation over
    /// [54, 70), weights at 70, switch at 72. The cap is 40% so four weights may differ.
    static let epochs = EpochParams(
        epochLength: 40, generationEnd: 10, exchangeEnd: 12, validationStart: 14, validationEnd: 30,
        weightsOffset: 30, switchOffset: 32, claimOffset: 33, maxIndividualPowerPpm: 400_000)

    /// Nonces per second per node: about what one debug-build thread did before the engine got
    /// faster. Uncapped, four nodes now submit enough hits to slow this 2-core test chain to a crawl.
    static let pocRate = 200

    /// A cheat: claims the first 60 nonces of its lattice, each at half the target distance, without
    /// computing anything. It validates others honestly (the real engine).
    final class FabricatingWorker: PocWorker {
        let honest = EnginePocWorker(threads: 1)

        func generate(_ job: PocJob) throws -> AsyncStream<PocFound> {
            let nonces = (0..<UInt64(60)).map { job.nodeIndex + $0 * job.nodeCount }
            return AsyncStream { continuation in
                continuation.yield(PocFound(nonces: nonces, distancesNano: nonces.map { _ in job.rTargetNano / 2 }))
                continuation.finish()
            }
        }

        func validate(
            blockHashHex: String, model: String, publicKeyHex: String, nonces: [UInt64]
        ) async throws
            -> [UInt64]
        {
            try await honest.validate(
                blockHashHex: blockHashHex, model: model, publicKeyHex: publicKeyHex, nonces: nonces)
        }

        func stop() async {}
    }

    @Test(.timeLimit(.minutes(4))) func honestParticipantsGetWeightsAndACheatIsRejected() async throws {
        var params = ChainParams.devnet
        params.epochs = Self.epochs
        let net = try TestNetwork(validators: 4, seed: 13, params: params)
        defer { net.cleanup() }
        var running: [RunningNode] = []
        var ports: [(Int, Int)] = []
        do {
            for i in 0..<4 {
                try net.writeConfig(i, peers: ports, pocThreads: 1, pocMaxNoncesPerSecond: Self.pocRate)
                let node = try await RunningNode(
                    home: net.homes[i], name: "node\(i)", pocWorker: i == 3 ? FabricatingWorker() : nil)
                running.append(node)
                ports.append((i, node.p2pPort))
            }
            let first = running[0]
            let p: UInt64 = 40
            let switchHeight = p + Self.epochs.switchOffset
            // Node 2 restarts in the middle of generation: it takes up the sprint where the chain
            // is (its seed is on chain already and stays the one on disk) and still mines.
            #expect(await eventually(.seconds(120)) { first.height >= p + 3 }, "generation is under way")
            let seedFile = net.homes[2].appendingPathComponent("data/seeds/1")
            #expect(await eventually(.seconds(30)) { FileManager.default.fileExists(atPath: seedFile.path) })
            await running[2].stop()
            let seedBefore = try String(contentsOf: seedFile, encoding: .utf8)
            try net.writeConfig(
                2, peers: ports.filter { $0.0 != 2 }, pocThreads: 1, pocMaxNoncesPerSecond: Self.pocRate)
            running[2] = try await RunningNode(home: net.homes[2], name: "node2-again")
            #expect(await eventually(.seconds(180)) { first.height >= switchHeight + 1 }, "the chain passes the switch")
            let driver = first.node.driver
            let record = try #require(
                try await driver.readLedger { ledger throws(LedgerError) in try ledger.epoch(1) })
            #expect(record.status == "active")
            #expect(record.participants.count == 4)
            let cheat = net.accountKeys[3].publicKey.address.description
            for member in record.participants where member.address != cheat {
                #expect(member.status == "accepted", "\(member.address): \(member.status)")
                #expect(member.weight > 0, "\(member.address) has a weight")
            }
            let caught = try #require(record.participants.first { $0.address == cheat })
            #expect(caught.status == "rejected" && caught.weight == 0)
            #expect(try String(contentsOf: seedFile, encoding: .utf8) == seedBefore, "the seed on disk is kept")
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
                // Honest work recomputes clean; the fabricated distances do not.
                #expect(sprint.validations.allSatisfy { $0.fraud == (i == 3) }, "participant \(i)")
            }
            // Consensus uses the sprint's weights from the switch on.
            let powers = try await driver.readLedger { ledger throws(LedgerError) in
                try ledger.validatorSet(forHeight: switchHeight)?.validators.map { $0.power } ?? []
            }
            #expect(powers.count == 3)
            #expect(powers.sorted() == record.participants.map(\.weight).filter { $0 > 0 }.sorted())
            #expect(await eventually(.seconds(30)) { first.height >= switchHeight + 4 }, "blocks after the switch")
        } catch {
            for node in running { await node.stop() }
            throw error
        }
        for node in running { await node.stop() }
    }
}
