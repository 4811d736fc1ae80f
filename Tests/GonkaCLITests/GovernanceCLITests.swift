import Foundation
import Testing

/// `gonka tx gov …` and `gonka query proposals|proposal|params` (docs/GOVERNANCE.md): every command
/// explains itself, and bad arguments and proposal files fail with a clear message before anything
/// is sent (the node URL points nowhere: a command that got that far would say so instead).
extension CLITests {
    @Test(arguments: [
        ["tx", "gov", "--help"], ["tx", "gov", "submit", "--help"], ["tx", "gov", "deposit", "--help"],
        ["tx", "gov", "vote", "--help"], ["query", "proposals", "--help"], ["query", "proposal", "--help"],
        ["query", "params", "--help"],
    ])
    func governanceCommandsExplainThemselves(arguments: [String]) async throws {
        let run = try await gonka(arguments)
        #expect(run.status == 0)
        #expect(run.stdout.contains("USAGE:") && run.stdout.contains("OVERVIEW:"), "\(run.output)")
    }

    @Test func governanceBadInputFailsClearly() async throws {
        let home = try temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        #expect(try await gonka(["keys", "add", "validator", "--home", home.path]).status == 0)
        func file(_ name: String, _ text: String) throws -> String {
            let url = home.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            return url.path
        }
        let twoKinds = try file(
            "two.json", #"{"title": "t", "deposit": "100gnk", "content": {"text": {}, "retire_model": {"id": "m"}}}"#)
        let noKind = try file("none.json", #"{"title": "t", "deposit": "100gnk", "content": {}}"#)
        let notJSON = try file("bad.json", "title = t")
        let badAmount = try file("amount.json", #"{"title": "t", "deposit": "lots", "content": {"text": {}}}"#)
        let badSpend = try file(
            "spend.json",
            #"{"title": "t", "deposit": "1gnk", "content": {"training_fund_spend": {"recipient": "x", "amount": "1gnk"}}}"#
        )
        let badHash = try file(
            "upgrade.json",
            #"{"title": "t", "deposit": "1gnk", "content": {"software_upgrade": {"name": "v2", "height": 9, "binary_sha256": "xyz"}}}"#
        )
        let common = ["--home", home.path, "--node", "http://127.0.0.1:1"]
        for (arguments, expected) in [
            (
                ["tx", "gov", "vote", "1", "maybe", "--from", "validator"],
                "OPTION must be yes, no, abstain or no_with_veto"
            ),
            (["tx", "gov", "vote", "x", "yes", "--from", "validator"], "id"),
            (["tx", "gov", "vote", "1", "yes", "--from", "validator", "--voter", "nope"], "--voter"),
            (["tx", "gov", "vote", "1", "yes"], "--from"),
            (["tx", "gov", "deposit", "1", "12", "--from", "validator"], "AMOUNT"),
            (["tx", "gov", "deposit", "1", "0gnk", "--from", "validator"], "AMOUNT must be positive"),
            (["tx", "gov", "submit", "/nonexistent/p.json", "--from", "validator"], "cannot read"),
            (["tx", "gov", "submit", notJSON, "--from", "validator"], "is not a proposal file"),
            (["tx", "gov", "submit", badAmount, "--from", "validator"], "is not a proposal file"),
            (["tx", "gov", "submit", twoKinds, "--from", "validator"], "exactly one is allowed"),
            (["tx", "gov", "submit", noKind, "--from", "validator"], "content names no kind"),
            (["tx", "gov", "submit", badSpend, "--from", "validator"], "is not a gonka1… address"),
            (["tx", "gov", "submit", badHash, "--from", "validator"], "binary_sha256 must be 64 hex digits"),
            (["tx", "gov", "submit", twoKinds, "--from", "nobody"], "key \"nobody\""),
            (["query", "proposals", "--status", "open"], "--status must be one of"),
            (["query", "proposal", "-1"], "Error"),
        ] {
            let run = try await gonka(arguments + common)
            #expect(run.status != 0, "\(arguments)")
            #expect(run.output.contains(expected), "\(arguments): \(run.output)")
            #expect(!run.output.contains("cannot connect"), "\(arguments) reached the network: \(run.output)")
        }
    }
}
