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
}
