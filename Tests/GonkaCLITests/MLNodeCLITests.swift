import Foundation
import GonkaTestKit
import Testing

/// `gonka mlnode start` and `gonka chat` as a user runs them: real processes talking over loopback.
@Suite(.timeLimit(.minutes(3)), .hangGuard)
struct MLNodeCLITests {
    static let binary = CLITests.binary

    /// The embedded model (``TestModelFile``).
    static func modelPath() throws -> String { try TestModelFile.path() }

    @Test(arguments: [
        ["mlnode", "--help"], ["mlnode", "start", "--help"], ["mlnode", "check", "--help"], ["chat", "--help"],
        ["bench", "serve", "--help"],
    ])
    func helpExplains(arguments: [String]) async throws {
        let run = try await CLITests().gonka(arguments)
        #expect(run.status == 0)
        #expect(run.stdout.contains("OVERVIEW:") && run.stdout.contains("USAGE:"))
    }

    @Test(arguments: [
        (["mlnode", "start", "--port", "70000"], "--port"),
        (["mlnode", "start", "--parallel", "0"], "--parallel"),
        (["mlnode", "start", "--queue", "-1"], "queue"),
        (["mlnode", "start", "--threads", "0"], "--threads"),
        (["mlnode", "start", "--kv-cache-mb", "0"], "--kv-cache-mb must be in 1…1048576"),
        (["mlnode", "start", "--prefix-cache-mb", "-1"], "--prefix-cache-mb"),
        (["mlnode", "start", "--kv-cache-mb", "1", "--parallel", "8"], "leaves each of 8 slots"),
        (["bench", "serve", "--concurrency", "1,x"], "--concurrency must be a comma-separated list"),
        (["bench", "serve", "--concurrency", "0"], "--concurrency must be a comma-separated list"),
        (["bench", "serve", "--compare", "llama.cpp"], "--compare takes NAME=URL"),
        (["bench", "serve", "--max-tokens", "0"], "--max-tokens must be in 1…4096"),
        (["bench", "serve", "--stagger-ms=-5"], "--stagger-ms must be in 0…60000"),
        (["bench", "inference", "--batch", "8,x"], "--batch must be a comma-separated list"),
        (["bench", "inference", "--batch", "0"], "--batch must be a comma-separated list"),
        (["mlnode", "start", "--model", "/nonexistent/model.gguf"], "does not exist"),
        (["chat", "--url", "not a url"], "--url"),
        (["chat", "--url", "http://127.0.0.1:9", "--temperature", "3"], "--temperature"),
        (["chat"], "--url"),
    ])
    func badFlagsFailClearly(arguments: [String], expected: String) async throws {
        let run = try await CLITests().gonka(arguments)
        #expect(run.status != 0)
        #expect(run.stderr.contains(expected), "\(run.output)")
    }

    /// Start a node on a free port, chat with it through a pipe (the conversation is kept: the
    /// second question refers to the first), then SIGTERM it: it stops cleanly.
    @Test func startChatAndStop() async throws {
        let model = try Self.modelPath()
        let server = Process()
        server.executableURL = Self.binary
        server.arguments = [
            "mlnode", "start", "--model", model, "--port", "0", "--threads", "1", "--context", "512",
        ]
        let serverOut = Pipe()
        server.standardOutput = serverOut
        server.standardError = serverOut
        try server.run()
        defer { CLITests.terminate(server) }
        var log = ""
        var url: String?
        while url == nil {
            let data = serverOut.fileHandleForReading.availableData
            if data.isEmpty { break }
            log += String(decoding: data, as: UTF8.self)
            if let range = log.range(of: #"listening on (http://[0-9.:]+)"#, options: .regularExpression) {
                url = String(log[range].dropFirst("listening on ".count))
            }
        }
        let base = try #require(url, "no URL line in: \(log)")
        #expect(log.contains("30 layers") && log.contains("vocab 49152") && log.contains("Q4_1"), "\(log)")

        let chat = try await CLITests().gonka(
            ["chat", "--url", base, "--temperature", "0", "--max-tokens", "24"],
            input: "What is the capital of France?\n\nAnd what is the capital of Germany?\n")
        #expect(chat.status == 0, "\(chat.output)")
        #expect(chat.stdout.contains("Paris"), "\(chat.output)")
        #expect(chat.stdout.contains("Berlin"), "\(chat.output)")

        let refused = try await CLITests().gonka(["chat", "--url", base, "--model", "nope"], input: "hi\n/exit\n")
        #expect(refused.stderr.contains("does not exist"), "\(refused.output)")

        #expect(CLITests.terminate(server), "SIGTERM: graceful shutdown within 20 s")
        log += String(decoding: serverOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(server.terminationStatus == 0, "\(log)")
        #expect(log.contains("stopped"), "\(log)")
    }
}
