import Benchmarks
import GonkaTestKit
import Testing

/// `gonka bench validation`'s core on the real model, small: every honest pair passes the check
/// (executor and validator on different thread counts and batch shapes), and every cheat class is
/// caught at least once.
@Suite(.timeLimit(.minutes(10))) struct ValidationBenchmarkTests {
    @Test func honestPairsPassAndEveryCheatClassIsCaught() async throws {
        var settings = ValidationBenchmark.Settings()
        settings.honest = 12
        settings.cheats = 6
        settings.costInferences = 0
        settings.maxTokens = 24
        let path = try TestModelFile.path()
        let fixed = settings
        let report = try await BackgroundCompute.run {
            try ValidationBenchmark(modelPath: path, settings: fixed).run()
        }
        for line in report.lines { print(line) }
        #expect(report.honest.pairs == 12)
        #expect(report.honest.failures == 0, "\(report.honest.failureReasons)")
        #expect(report.honest.impossibleTokens == 0)
        #expect(report.cheats.map(\.cheat) == ValidationBenchmark.CheatClass.allCases)
        for cheat in report.cheats {
            #expect(cheat.inferences == 6)
            #expect(cheat.detected >= 1, "\(cheat.cheat.rawValue) was never caught")
        }
        #expect(report.proposed.validationThresholdPpm >= 1_000)
        #expect(report.proposed.honestFailuresAtProposed == 0)
    }
}
