import Foundation
import GonkaTestKit
import Testing

/// `gonka mlnode start --backend openai` in front of a real llama-server, and `gonka mlnode check`
/// against it: a pass over the registered weights, a fail over a coarser-quantised copy of them.
@Suite(
    .serialized, .timeLimit(.minutes(5)), .hangGuard,
    .enabled(if: LlamaServerBinary.path != nil, "llama-server is not built: run scripts/llama-server"))
struct MLNodeCheckCLITests {
    static let modelID = "SmolLM2-135M-Instruct.Q4_1"

    /// Cross-engine thresholds (llama.cpp vs this engine differ by more than the devnet genesis
    /// allows; the measured numbers are in docs/HOSTING.md).
    static let crossEngine = [
        "--greedy", "--requests", "3", "--threshold-ppm", "20000", "--sampler-margin-ppm", "100000",
    ]

    /// A child process whose output is read until `pattern`'s first group shows up.
    static func start(_ executable: URL, _ arguments: [String], until pattern: String) throws -> (Process, String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["GONKA_OWNER_PID"] = "\(getpid())"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        var log = ""
        let regex = try NSRegularExpression(pattern: pattern)
        while true {
            let data = pipe.fileHandleForReading.availableData
            if data.isEmpty { break }
            log += String(decoding: data, as: UTF8.self)
            if let match = regex.firstMatch(in: log, range: NSRange(log.startIndex..., in: log)),
                let range = Range(match.range(at: 1), in: log)
            {
                // Keep draining the pipe so the child never blocks on a full one.
                let handle = pipe.fileHandleForReading
                Thread { while !handle.availableData.isEmpty {} }.start()
                return (process, String(log[range]))
            }
        }
        process.waitUntilExit()
        throw CheckFailure(description: "\(arguments.first ?? "") exited before \(pattern): \(log)")
    }

    struct CheckFailure: Error, CustomStringConvertible { let description: String }

    /// llama-server over `model`, the ML node in front of it, `gonka mlnode check` against the node
    /// with the registered weights as the reference.
    static func check(servingModel model: String) async throws -> CLITests.Run {
        let server = try #require(LlamaServerBinary.path)
        let (llama, upstream) = try start(
            URL(fileURLWithPath: server),
            [
                "-m", model, "-t", "1", "--parallel", "2", "-c", "2048", "--host", "127.0.0.1", "--port", "0",
                "--alias", modelID,
            ], until: #"listening on (http://[0-9.:]+)"#)
        defer {
            kill(llama.processIdentifier, SIGKILL)
            llama.waitUntilExit()
        }
        let (node, url) = try start(
            CLITests.binary,
            [
                "mlnode", "start", "--backend", "openai", "--upstream", upstream, "--model-id", modelID, "--port", "0",
                "--parallel", "2",
            ], until: #"listening on (http://[0-9.:]+)"#)
        defer { CLITests.terminate(node) }
        return try await CLITests().gonka(
            ["mlnode", "check", url, "--model", try TestModelFile.path()] + crossEngine)
    }

    @Test func passesOverTheRegisteredModel() async throws {
        let run = try await Self.check(servingModel: try TestModelFile.path())
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("verdict: PASS"), "\(run.output)")
        #expect(run.stdout.contains("PASS  tokenizer"), "\(run.output)")
    }

    @Test func failsOverACoarserQuantisedCopy() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try await CLITests().gonka(
            ["bench", "cheat-model", "q3", "--model", try TestModelFile.path(), "--out", directory.path])
        #expect(written.status == 0, "\(written.output)")
        let copy = written.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let run = try await Self.check(servingModel: copy)
        #expect(run.status == 1, "\(run.output)")
        #expect(run.stdout.contains("verdict: FAIL"), "\(run.output)")
        #expect(run.stdout.contains("reference: distance"), "\(run.output)")
        // The node is consistent with itself; it is the weights that are wrong.
        #expect(!run.stdout.contains("FAIL  completion 1 (greedy, 32 tokens) self"), "\(run.output)")
    }

    @Test(
        arguments: [
            (["mlnode", "start", "--backend", "openai", "--model-id", "m"], "--upstream http://HOST:PORT"),
            (["mlnode", "start", "--backend", "openai", "--upstream", "http://127.0.0.1:9"], "--model-id"),
            (["mlnode", "start", "--backend", "openai", "--upstream", "ftp://x", "--model-id", "m"], "--upstream"),
            (["mlnode", "start", "--upstream", "http://127.0.0.1:9"], "--upstream needs --backend openai"),
            (
                [
                    "mlnode", "start", "--backend", "openai", "--upstream", "http://127.0.0.1:9", "--model-id", "m",
                    "--flavour", "tgi",
                ], "--flavour must be llamacpp or vllm"
            ),
            (
                ["mlnode", "start", "--backend", "openai", "--upstream", "http://127.0.0.1:9", "--model-id", "m"],
                "cannot use http://127.0.0.1:9"
            ),
            (["mlnode", "check", "not-a-url"], "URL must be http://HOST:PORT"),
            (["mlnode", "check", "http://127.0.0.1:9", "--requests", "0"], "--requests"),
            (["mlnode", "check", "http://127.0.0.1:9", "--model", "/nonexistent.gguf"], "does not exist"),
        ] as [([String], String)])
    func badFlagsFailClearly(arguments: [String], expected: String) async throws {
        let run = try await CLITests().gonka(arguments)
        #expect(run.status != 0)
        #expect(run.stderr.contains(expected), "\(run.output)")
    }
}
