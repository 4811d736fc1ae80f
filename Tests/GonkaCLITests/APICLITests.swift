import Foundation
import Testing

/// `gonka proxy`, `gonka apikey`, `gonka devnet fund`, `gonka chat --via-network` as a user runs them.
@Suite(.timeLimit(.minutes(5)), .hangGuard) struct APICLITests {
    let cli = CLITests()

    @Test(arguments: [
        (["proxy", "--key", "k", "--node", "ftp://x"], "--node"),
        (["proxy", "--key", "k", "--node", ""], "--node"),
        (["proxy", "--key", "k", "--node", "http://127.0.0.1:1", "--port", "70000"], "--port"),
        (["proxy", "--key", "nobody", "--node", "http://127.0.0.1:1"], "cannot load key"),
        (["apikey", "create", "--account", "nobody"], "no account key"),
        (["apikey", "revoke", "nope"], "no API key"),
        (["chat", "--url", "http://127.0.0.1:1", "--via-network"], "--key"),
    ])
    func badInputFailsClearly(arguments: [String], expected: String) async throws {
        let home = try cli.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let run = try await cli.gonka(arguments + ["--home", home.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains(expected), "\(run.output)")
    }

    @Test func devnetFundNeedsADevnet() async throws {
        let dir = try cli.temporaryHome()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try await cli.gonka(["devnet", "fund", "gonka1abc", "1gnk", "--dir", dir.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("no devnet"), "\(run.output)")
    }

    @Test func apiKeyLifecycle() async throws {
        let home = try cli.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        #expect(try await cli.gonka(["keys", "add", "dev", "--home", home.path]).status == 0)
        let created = try await cli.gonka([
            "apikey", "create", "--account", "dev", "--limit", "5000", "--home", home.path,
        ])
        #expect(created.status == 0, "\(created.output)")
        let secret = try #require(
            created.stdout.split(separator: "\n").first { $0.hasPrefix("key ") }?.split(separator: " ").last)
        let id = try #require(
            created.stdout.split(separator: "\n").first { $0.hasPrefix("id ") }?.split(separator: " ").last)
        let file = home.appendingPathComponent("data/apikeys.json").path
        #expect(try cli.mode(file) == 0o600)
        #expect(!(try String(contentsOfFile: file, encoding: .utf8)).contains(String(secret)))
        let listed = try await cli.gonka(["apikey", "list", "--home", home.path])
        #expect(listed.stdout.contains(String(id)) && listed.stdout.contains("limit 5000"))
        #expect(!listed.stdout.contains(String(secret)))
        #expect(try await cli.gonka(["apikey", "revoke", String(id), "--home", home.path]).status == 0)
        #expect(try await cli.gonka(["apikey", "list", "--home", home.path]).stdout.contains("REVOKED"))
    }
}
