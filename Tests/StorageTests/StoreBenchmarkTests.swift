import Foundation
import Storage
import Testing

@Suite struct StoreBenchmarkTests {
    /// Only proves the benchmark runs end to end; speed is reported, never asserted.
    @Test func runsAtATinySize() throws {
        let report = try StoreBenchmark.run(keys: 300, batch: 100, proofs: 50, updates: 200, durability: .normal)
        #expect(report.allProofsVerified)
        #expect(report.updates == 200 && report.proofs == 50)
        #expect(report.updatesPerSecond > 0 && report.proofsVerifiedPerSecond > 0)
        #expect(report.description.contains("updates/s"))
    }

    /// The full-size run, only when asked for (build in release for meaningful numbers):
    /// `STORAGE_BENCH_KEYS=100000 swift test -c release --filter StoreBenchmarkTests`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STORAGE_BENCH_KEYS"] != nil))
    func fullSize() throws {
        let environment = ProcessInfo.processInfo.environment
        let keys = Int(environment["STORAGE_BENCH_KEYS"] ?? "") ?? 100_000
        let proofs = Int(environment["STORAGE_BENCH_PROOFS"] ?? "") ?? 20_000
        let durability: AuthenticatedStore.Options.Durability =
            environment["STORAGE_BENCH_SYNC"] == "normal" ? .normal : .full
        let report = try StoreBenchmark.run(keys: keys, batch: 1_000, proofs: proofs, durability: durability)
        print(report)
        #expect(report.allProofsVerified)
    }
}
