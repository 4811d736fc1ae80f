import ArgumentParser
import Foundation
import Ledger
import Storage

/// `gonka bench settlement`
struct SettlementBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settlement",
        abstract: "The settlement block's time (PROTOCOL §8.3): one epoch, many participants and inferences, one core.",
        discussion: """
            Writes an epoch's state through the Rewards module's own hooks (--inferences settled inferences spread over --participants executors, every tenth passed by two validators, the epoch's sampling snapshot), then times the one end-block that settles the epoch, SQLite commit included. Settlement walks participants, not inferences: run it with different --inferences to see that its time does not follow them.
            """
    )

    @Option(help: "Participants with weight in the epoch.") var participants = 1_000
    @Option(help: "Inferences finished in the epoch.") var inferences = 1_000_000
    @Flag(help: "Use an in-memory SQLite store instead of a file in a temporary directory.") var memory = false

    func validate() throws {
        guard participants > 0, inferences >= 0 else {
            throw ValidationError("--participants must be positive and --inferences not negative")
        }
    }

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-bench-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store =
            memory
            ? try AuthenticatedStore(inMemory: "settlement")
            : try AuthenticatedStore(path: directory.appendingPathComponent("state.sqlite").path)
        let clock = ContinuousClock()
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        let setupStart = clock.now
        var prepared = try SettlementBenchmark.prepare(
            participants: participants, inferences: inferences, store: store,
            progress: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) })
        let setup = seconds(clock.now - setupStart)
        let settleStart = clock.now
        let settlements = try SettlementBenchmark.settle(&prepared)
        let settle = seconds(clock.now - settleStart)
        print(
            "settlement: \(participants) participants, \(inferences) inferences in the epoch, "
                + "\(settlements) settlements recorded")
        print(String(format: "  epoch state written in %.1f s (not part of the settlement)", setup))
        print(String(format: "  settlement block (end-block + commit): %.3f s", settle))
    }
}
