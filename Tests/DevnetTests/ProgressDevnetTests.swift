import Devnet
import Foundation
import GonkaTestKit
import Testing

/// Progress on long work as a user who pipes the output sees it (issue 18): `gonka devnet up`
/// reports each node's steps as plain lines, and `gonka query epoch --watch --count N` prints a
/// line per block, then ends by itself.
@Suite(.serialized, .hangGuard, .enabled(if: DevnetHarness.nodeAvailable, "needs `gonka node start`"))
struct ProgressDevnetTests {
    typealias H = DevnetHarness

    @Test(.timeLimit(.minutes(4))) func devnetStartStepsAndEpochWatch() async throws {
        let dir = try H.temporaryDirectory("progress")
        let cleanup = HangWatchdog.shared.addCleanup { H.killLeftovers(dir) }
        defer {
            H.killLeftovers(dir)
            try? FileManager.default.removeItem(at: dir)
            HangWatchdog.shared.removeCleanup(cleanup)
        }
        let up = try await H.run(
            [
                "devnet", "up", "--dir", dir.path, "--participants", "2", "--chain-only", "--binary",
                H.binary.path, "--wait-timeout", "120",
            ], timeout: .seconds(150))
        #expect(up.status == 0, "\(up.output)\n\(H.logs(dir))")
        // Not a terminal: plain lines, no carriage returns or escape sequences.
        #expect(!up.stdout.contains("\r") && !up.stdout.contains("\u{1B}"), "\(up.stdout)")
        let lines = up.stdout.split(separator: "\n").map(String.init)
        for node in ["node0", "node1"] {
            let started = lines.firstIndex { $0.hasPrefix("\(node)  started  pid ") }
            let synced = lines.firstIndex { $0.hasPrefix("\(node)  synced  height ") }
            #expect(started != nil && synced != nil, "\(up.stdout)")
            if let started, let synced { #expect(started < synced) }
        }
        #expect(up.stdout.contains("devnet gonka-devnet is running"), "\(up.stdout)")

        let manifest = try H.loadManifest(dir)
        let watch = try await H.run(
            ["query", "epoch", "--watch", "--count", "3", "--node", manifest.nodes[0].rpcURL], timeout: .seconds(60))
        #expect(watch.status == 0, "\(watch.output)")
        #expect(!watch.stdout.contains("\r") && !watch.stdout.contains("\u{1B}"), "\(watch.stdout)")
        let updates = watch.stdout.split(separator: "\n").filter { $0.hasPrefix("height ") }
        #expect(updates.count == 3, "\(watch.stdout)")
        let heights = updates.compactMap { $0.split(separator: " ").dropFirst().first.flatMap { UInt64($0) } }
        #expect(heights.count == 3 && heights == heights.sorted() && Set(heights).count == 3, "\(watch.stdout)")
        for update in updates {
            #expect(update.contains(" epoch ") && update.contains(" stage ") && update.contains(" block"), "\(update)")
            // Either inside a sprint (its progress) or counting down to the next one.
            #expect(update.contains("sprint"), "\(update)")
        }

        // Flags that do not go together are refused before any request.
        let bad = try await H.run(["query", "epoch", "--count", "3", "--node", manifest.nodes[0].rpcURL])
        #expect(bad.status != 0 && bad.stderr.contains("--count goes with --watch"), "\(bad.output)")

        let down = try await H.run(["devnet", "down", "--dir", dir.path], timeout: .seconds(120))
        #expect(down.status == 0, "\(down.output)")
    }
}
