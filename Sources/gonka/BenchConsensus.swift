import ArgumentParser
import Benchmarks
import Foundation

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
        do {
            try ConsensusBenchmark(counts: counts, heights: heights, verifications: verifications).run { print($0) }
        } catch let error as BenchmarkError {
            // A failed simulation was reported as a usage error before the logic moved.
            throw ValidationError(error.description)
        }
    }
}
