import Consensus
import Foundation
import GonkaCore
import Simulation

/// `gonka bench consensus`: simulated heights per second of the consensus machine (the
/// deterministic simulator with no faults) per validator count, and `verifyCommit` of a
/// 100-validator commit.
public struct ConsensusBenchmark: Sendable {
    /// Validator counts to simulate.
    public var counts: [Int]
    /// Heights per validator count (a quarter of them from 50 validators up).
    public var heights: Int
    /// `verifyCommit` repetitions.
    public var verifications: Int

    /// The benchmark with these settings (the options of its command).
    public init(counts: [Int], heights: Int, verifications: Int) {
        self.counts = counts
        self.heights = heights
        self.verifications = verifications
    }

    /// Measures and reports: every line of the report goes to `output`, in order, as it is measured.
    public func run(output: (String) -> Void) throws {
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
                throw BenchmarkError("simulation with \(n) validators failed: \(String(describing: result))")
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            output(
                String(
                    format:
                        "consensus sim  validators %4d  heights %3d  %8.1f heights/s  (%d messages, %.1f ms per height)",
                    n, report.heights, Double(report.heights) / seconds, report.messages,
                    seconds * 1000 / Double(report.heights)))
        }
        try benchVerifyCommit(validatorCount: 100, output: output)
    }

    func benchVerifyCommit(validatorCount: Int, output: (String) -> Void) throws {
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
        output(String(format: "verifyCommit   validators %4d  %8.3f ms per commit", validatorCount, ms))
    }
}
