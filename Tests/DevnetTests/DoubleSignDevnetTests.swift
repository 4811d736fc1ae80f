import Devnet
import Foundation
import GonkaClient
import GonkaCore
import Testing

/// PROTOCOL §9 with real `gonka node start` processes: validator 3's home is copied (its consensus
/// key included, a fresh P2P key and empty data) and started as a fifth process, so one key signs
/// on two nodes at once; the evidence goes into a block and every node slashes 5% of its collateral
/// (deposited with `gonka tx collateral deposit`) and tombstones it.
@Suite(.serialized, .hangGuard, .enabled(if: DevnetHarness.nodeAvailable, "needs `gonka node start`"))
struct DoubleSignDevnetTests {
    @Test(.timeLimit(.minutes(6))) func aKeySigningInTwoProcessesIsSlashedAndTombstonedOnEveryNode() async throws {
        try await DevnetHarness.withDevnet(participants: 4) { net in
            let all = Array(0..<4)
            try await net.waitForHeight(3, nodes: all)
            let victim = net.manifest.nodes[3]
            let account = try await net.depositCollateral(of: 3)

            // The twin: node 3's home with a fresh P2P key, no data, every port chosen by the OS.
            let twin = net.dir.appendingPathComponent("twin", isDirectory: true)
            let files = FileManager.default
            try files.copyItem(at: URL(fileURLWithPath: victim.home), to: twin)
            try? files.removeItem(at: twin.appendingPathComponent("data"))
            try files.createDirectory(at: twin.appendingPathComponent("data"), withIntermediateDirectories: true)
            try files.removeItem(at: twin.appendingPathComponent("keys/p2p.json"))
            let added = try await DevnetHarness.run(["keys", "add", "p2p", "--home", twin.path])
            #expect(added.status == 0, "\(added.output)")
            let configURL = twin.appendingPathComponent("config.toml")
            let config = try String(contentsOf: configURL, encoding: .utf8)
            let rewritten = config.replacingOccurrences(
                of: #"listen = "127\.0\.0\.1:[0-9]+""#, with: #"listen = "127.0.0.1:0""#, options: .regularExpression)
            try rewritten.write(to: configURL, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = DevnetHarness.binary
            process.arguments = ["node", "start", "--home", twin.path]
            var env = ProcessInfo.processInfo.environment
            env["GONKA_OWNER_PID"] = "\(getpid())"
            process.environment = env
            let logURL = net.dir.appendingPathComponent("twin.log")
            _ = files.createFile(atPath: logURL.path, contents: nil)
            let log = try FileHandle(forWritingTo: logURL)
            process.standardOutput = log
            process.standardError = log
            try process.run()
            defer {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }

            // Every node commits the evidence: slashed 5% and tombstoned, once.
            try await net.expectSlashedOnEveryNode(
                account, nodes: all, what: "tombstoned", timeout: .seconds(180), reason: "double_sign",
                burned: Amount(gnk: 5)!, left: Amount(gnk: 95)!
            ) { $0.tombstoned }
            let query = try await DevnetHarness.run(["query", "slashes", "--node", net.manifest.nodes[0].rpcURL])
            #expect(query.status == 0 && query.stdout.contains("double_sign"), "\(query.output)")
            // The chain goes on without it.
            let height = await net.maxHeight([0, 1, 2])
            try await net.waitForHeight(height + 3, nodes: [0, 1, 2])
            process.terminate()
        }
    }
}
