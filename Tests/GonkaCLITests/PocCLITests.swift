import Foundation
import Testing

/// `gonka poc …` and `gonka bench poc` as a user runs them.
@Suite(.timeLimit(.minutes(5)), .hangGuard) struct PocCLITests {
    let cli = CLITests()

    @Test(arguments: [
        ["poc", "--help"], ["poc", "calibrate", "--help"], ["poc", "mismatch", "--help"], ["bench", "poc", "--help"],
    ])
    func helpExplains(arguments: [String]) async throws {
        let run = try await cli.gonka(arguments)
        #expect(run.status == 0)
        #expect(run.stdout.contains("OVERVIEW:"))
    }

    @Test(arguments: [
        (["poc", "calibrate", "--hit-rate", "2"], "--hit-rate"),
        (["poc", "calibrate", "--hit-rate", "1/0"], "--hit-rate"),
        (["poc", "calibrate", "--nonces", "5"], "--nonces"),
        (["poc", "calibrate", "--preset", "huge"], "--preset"),
        (["poc", "calibrate", "--threads", "0"], "--threads"),
        (["poc", "mismatch", "--r-target", "-1"], "--r-target"),
        (["bench", "poc", "--threads", "1,x"], "--threads"),
        (["bench", "poc", "--seconds", "0"], "--seconds"),
    ])
    func badFlagsFailClearly(arguments: [String], expected: String) async throws {
        let run = try await cli.gonka(arguments)
        #expect(run.status != 0)
        #expect(run.stderr.contains(expected), "\(run.output)")
    }

    @Test func calibrateAndMismatchPrintTheirNumbers() async throws {
        let calibrate = try await cli.gonka([
            "poc", "calibrate", "--hit-rate", "1/16", "--nonces", "320", "--threads", "1",
        ])
        #expect(calibrate.status == 0, "\(calibrate.output)")
        let line = try #require(calibrate.stdout.split(separator: "\n").first { $0.hasPrefix("r_target ") })
        let r = try #require(Double(line.split(separator: " ").last.map(String.init) ?? ""))
        // Unit vectors in 2048 dimensions: the 1/16 quantile sits a little below √2.
        #expect(r > 1.35 && r < 1.414)
        // r_target is printed to 9 decimals, r_target_nano is floor(r × 1e9) of the unrounded value:
        // they agree to within one unit.
        let nanoLine = try #require(calibrate.stdout.split(separator: "\n").first { $0.hasPrefix("r_target_nano ") })
        let nano = try #require(Double(nanoLine.split(separator: " ").last.map(String.init) ?? ""))
        #expect(abs(nano - r * 1e9) <= 1, "\(calibrate.output)")

        let mismatch = try await cli.gonka(["poc", "mismatch", "--nonces", "100", "--threads", "1"])
        #expect(mismatch.status == 0, "\(mismatch.output)")
        #expect(mismatch.stdout.contains("mismatches          0"))
        #expect(mismatch.stdout.contains("|fast - ref| p99"))
    }

    @Test func benchPocPrintsATable() async throws {
        let run = try await cli.gonka(["bench", "poc", "--threads", "1", "--seconds", "0.3"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("| threads |   nonces/s | PoC GFLOP/s"))
        #expect(run.stdout.split(separator: "\n").contains { $0.hasPrefix("|       1 |") })
    }
}
