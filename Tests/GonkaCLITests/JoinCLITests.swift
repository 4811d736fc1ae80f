import Foundation
import Testing

/// `gonka node join` and `gonka devnet join` refusing bad input before they touch any network.
/// (The joins themselves: `ChainNodeTests.JoinNetworkTests`, `DevnetTests.DevnetJoinTests`.)
@Suite(.timeLimit(.minutes(5)), .hangGuard) struct JoinCLITests {
    let cli = CLITests()

    @Test(arguments: [
        (["node", "join"], "--peer"),
        (["node", "join", "--peer", "http://127.0.0.1:1", "--chain-id", "Bad Chain"], "--chain-id"),
        (["node", "join", "--peer", "http://127.0.0.1:1", "--key-name", "../x"], "name"),
        (["node", "join", "--peer", "http://127.0.0.1:1", "--timeouts", "slow"], "--timeouts"),
        (["node", "join", "--peer", "http://127.0.0.1:1", "--poc-threads", "0"], "--poc-threads"),
        (
            ["node", "join", "--peer", "http://127.0.0.1:1", "--poc-max-nonces-per-second=-3"],
            "--poc-max-nonces-per-second"
        ),
        (["node", "join", "--peer", "http://127.0.0.1:1", "--model", "/nonexistent.gguf"], "--model"),
        (["node", "join", "--peer", "http://127.0.0.1:1", "--trust-height", "5"], "--state-sync"),
        (
            [
                "node", "join", "--peer", "http://127.0.0.1:1", "--state-sync", "--trust-height", "5", "--trust-hash",
                "ab",
            ],
            "--trust-hash"
        ),
    ])
    func badFlagsFailClearly(arguments: [String], expected: String) async throws {
        let home = try cli.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let run = try await cli.gonka(arguments + ["--home", home.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains(expected), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("config.toml").path))
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("keys").path))
    }

    @Test func devnetJoinNeedsADevnet() async throws {
        let dir = try cli.temporaryHome()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try await cli.gonka(["devnet", "join", "--dir", dir.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("no devnet"), "\(run.output)")
    }
}
