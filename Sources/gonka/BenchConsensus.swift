import ArgumentParser
import Consensus
import Foundation
import GonkaCore
import GonkaTestKit

/// `gonka bench consensus`
struct ConsensusBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consensus",
        abstract: "Simulated heights per second, and commit verification time, for the consensus machine.",
        discussion: """
            Runs the deterministic simulator with no faults (GST at 0, 1–50 ms delays, real Ed25519 signatures, \
            a shared verification cache as in the tests) for each --validators count, on one core, and times \
            `verifyCommit` of a 100-validator commit (100 signature checks, no cache).
            """
    )

    @Option(help: "Comma-separated validator counts.") var validators = "4,100"
    @Option(help: "Heights to simulate per validator count (at least 1).") var heights = 20
    @Option(help: "verifyCommit repetitions.") var verifications = 50

    func validate() throws {
        guard heights > 0, verifications > 0 else {
            throw ValidationError("--heights and --verifications must be positive")
        }
        guard counts.allSatisfy({ $0 >= 1 && $0 <= 1_000 }), !counts.isEmpty else {
            throw ValidationError("--validators: counts between 1 and 1000")
        }
    }

    var counts: [Int] { validators.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        for n in counts {
            var config = ConsensusSimulation.Configuration()
            config.powers = (0..<n).map { UInt64(1 + $0 % 10) }
            config.byzantine = []
            config.heights = UInt64(n >= 50 ? max(heights / 4, 1) : heights)
            config.gst = 0
            config.maxDelayAfterGST = 50
            config.crashes = false
            config.partitions = false
            let clock = ContinuousClock()
            var result: Result<ConsensusSimulation.Report, ConsensusSimulation.Violation>?
            let elapsed = clock.measure { result = ConsensusSimulation(seed: 1, configuration: config).run() }
            guard case .success(let report) = result else {
                throw ValidationError("simulation with \(n) validators failed: \(String(describing: result))")
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(
                String(
                    format:
                        "consensus sim  validators %4d  heights %3d  %8.1f heights/s  (%d messages, %.1f ms per height)",
                    n, report.heights, Double(report.heights) / seconds, report.messages,
                    seconds * 1000 / Double(report.heights)))
        }
        try benchVerifyCommit(validatorCount: 100)
    }

    func benchVerifyCommit(validatorCount: Int) throws {
        let keys = (0..<validatorCount).map { i in
            (try? SigningKey(seed: [UInt8](repeating: UInt8(i % 250 + 1), count: 31) + [UInt8(i / 250)]))
                ?? SigningKey()
        }
        let set = try Consensus.ValidatorSet(keys.map { (publicKey: $0.publicKey, power: 10) })
        let id = Hash.sha256("bench block")
        let precommits = keys.map { key in
            Consensus.SignedVote.sign(
                Consensus.Vote(
                    type: .precommit, height: 7, round: 0, blockID: id, timestamp: 1, validator: key.publicKey.address),
                chainID: "bench", signer: Consensus.Signer(key: key))
        }
        let commit = Consensus.Commit(height: 7, round: 0, blockID: id, precommits: precommits)
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for _ in 0..<verifications {
                try Consensus.verifyCommit(blockID: id, commit: commit, validators: set, chainID: "bench", height: 7)
            }
        }
        let ms =
            (Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15)
            / Double(verifications)
        print(String(format: "verifyCommit   validators %4d  %8.3f ms per commit", validatorCount, ms))
    }
}
