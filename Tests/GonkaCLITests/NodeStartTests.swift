import Foundation
import Synchronization
import Testing

/// `gonka node start` as devnet runs it: a real process on a home made by `gonka init`.
@Suite struct NodeStartTests {
    /// A running `gonka` process whose output is collected as it arrives.
    final class Running: Sendable {
        let process: Process
        private let output = Mutex("")

        init(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = CLITests.binary
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            env.removeValue(forKey: "GONKA_HOME")
            process.environment = env
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            self.process = process
            pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard !data.isEmpty else {
                    handle.readabilityHandler = nil
                    return
                }
                self?.output.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
        }

        var text: String { output.withLock { $0 } }

        /// Waits until the output contains `needle` (true) or `timeout` passes or the process exits.
        func wait(for needle: String, timeout: Duration = .seconds(30)) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if text.contains(needle) { return true }
                if !process.isRunning { return text.contains(needle) }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return false
        }

        /// SIGTERM, then the exit status (SIGKILL after 20 s).
        func terminate() async -> Int32 {
            if process.isRunning { process.terminate() }
            let deadline = ContinuousClock.now + .seconds(20)
            while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    func initHome() throws -> URL {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-node-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let run = try CLITests().gonka(["init", "--chain-id", "node-test", "--home", home.path])
        #expect(run.status == 0, "\(run.output)")
        // Any free ports, so tests never collide.
        let configURL = home.appendingPathComponent("config.toml")
        var config = try String(contentsOf: configURL, encoding: .utf8)
        for port in ["26656", "26657"] {
            config = config.replacingOccurrences(of: "127.0.0.1:\(port)", with: "127.0.0.1:0")
        }
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        return home
    }

    @Test(.timeLimit(.minutes(2))) func startCommitsStopsAndResumes() async throws {
        let home = try initHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let first = try Running(["node", "start", "--home", home.path])
        #expect(await first.wait(for: "rpc listening on http://127.0.0.1:"), "\(first.text)")
        #expect(await first.wait(for: "p2p listening on 127.0.0.1:"), "\(first.text)")
        #expect(await first.wait(for: "height=2"), "a single validator commits blocks: \(first.text)")
        #expect(await first.terminate() == 0, "SIGTERM shuts down cleanly: \(first.text)")
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent("data/blocks.sqlite").path))
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent("data/sign-state.json").path))

        // Restart resumes from disk: consensus starts above height 1.
        let second = try Running(["node", "start", "--home", home.path])
        #expect(await second.wait(for: "consensus started"), "\(second.text)")
        let started = second.text.components(separatedBy: "\n").first { $0.contains("consensus started") } ?? ""
        #expect(!started.contains("height=1 "), "\(started)")
        #expect(await second.terminate() == 0)
    }

    @Test func startWithoutAHomeFailsClearly() async throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-node-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: empty) }
        let run = try CLITests().gonka(["node", "start", "--home", empty.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("config.toml"), "\(run.output)")
    }
}
