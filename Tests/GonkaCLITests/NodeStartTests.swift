import Foundation
import GonkaTestKit
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gonka node start` as devnet runs it: a real process on a home made by `gonka init`.
@Suite(.timeLimit(.minutes(5)), .hangGuard) struct NodeStartTests {
    /// A running `gonka` process whose output is collected as it arrives.
    final class Running: Sendable {
        let process: Process
        private let output = Mutex("")

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            let process = Process()
            process.executableURL = CLITests.binary
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            env.removeValue(forKey: "GONKA_HOME")
            // It stops when this test process ends, even by a crash.
            env["GONKA_OWNER_PID"] = "\(getpid())"
            env.merge(environment) { $1 }
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
        func wait(for needle: String, timeout: Duration = .seconds(90)) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            // Cancelled (time limit): stop polling rather than spin until the deadline.
            while ContinuousClock.now < deadline, !Task.isCancelled {
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
            while process.isRunning, ContinuousClock.now < deadline {
                // A cancelled test's sleep fails at once: nap on the thread rather than spin.
                if (try? await Task.sleep(for: .milliseconds(50))) == nil { usleep(50_000) }
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    func initHome() async throws -> URL {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-node-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let run = try await CLITests().gonka(["init", "--chain-id", "node-test", "--home", home.path])
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
        let home = try await initHome()
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

    /// `GONKA_OWNER_PID`: the node shuts down cleanly once that process has exited, which is how
    /// a crashed test run's nodes stop instead of running on for hours.
    @Test func aNodeStopsWhenItsOwnerProcessExits() async throws {
        let home = try await initHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let owner = Process()
        owner.executableURL = URL(fileURLWithPath: "/bin/sleep")
        owner.arguments = ["600"]
        try owner.run()
        defer { if owner.isRunning { kill(owner.processIdentifier, SIGKILL) } }
        let node = try Running(
            ["node", "start", "--home", home.path], environment: ["GONKA_OWNER_PID": "\(owner.processIdentifier)"])
        #expect(await node.wait(for: "height=2"), "\(node.text)")
        #expect(node.process.isRunning, "the node runs while its owner does: \(node.text.suffix(1_000))")
        kill(owner.processIdentifier, SIGKILL)
        owner.waitUntilExit()
        #expect(await node.wait(for: "node stopped", timeout: .seconds(30)), "\(node.text.suffix(2_000))")
        #expect(node.text.contains("the owner process has exited"))
        #expect(await node.terminate() == 0, "a clean exit: \(node.text.suffix(1_000))")
    }

    @Test func anOwnerThatIsNotAProcessIdIsRefused() async throws {
        let home = try await initHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let node = try Running(["node", "start", "--home", home.path], environment: ["GONKA_OWNER_PID": "abc"])
        #expect(await node.wait(for: "GONKA_OWNER_PID must be the id of a running process"), "\(node.text)")
        #expect(await node.terminate() != 0)
    }

    /// A client following `GET /events` does not keep the node from stopping: at SIGTERM its stream
    /// ends and the node exits cleanly. (The RPC's graceful shutdown waits for every response to
    /// end, and the event stream used to end only with consensus, which stops after the RPC: the
    /// node went on committing blocks until SIGKILL.)
    @Test func sigtermStopsANodeFollowedByAnEventClient() async throws {
        let home = try await initHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let node = try Running(["node", "start", "--home", home.path])
        #expect(await node.wait(for: "height=2"), "\(node.text)")
        let line = try #require(
            node.text.range(of: #"rpc listening on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression))
        let port = try #require(Int(node.text[line].split(separator: ":").last ?? ""))
        let client = try EventClient(port: port)
        defer { client.close() }
        #expect(client.read(until: ": connected"), "the event stream opened")
        let stopping = ContinuousClock.now
        #expect(await node.terminate() == 0, "SIGTERM with an event client connected: \(node.text.suffix(2_000))")
        #expect(ContinuousClock.now - stopping < .seconds(15))
        #expect(node.text.contains("node stopped"), "\(node.text.suffix(2_000))")
    }

    /// `GET /events` over a plain socket, kept open until `close()`.
    final class EventClient {
        private let fd: Int32
        private var received = ""

        init(port: Int) throws {
            fd = try LoopbackSocket.connect(to: port)
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let request = Array("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// Reads until `needle` has arrived (true) or a read times out or the stream ends (false).
        func read(until needle: String) -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !received.contains(needle) {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return false }
                received += String(decoding: buffer[0..<n], as: UTF8.self)
            }
            return true
        }

        func close() { Glibc.close(fd) }
    }

    @Test func startWithoutAHomeFailsClearly() async throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-node-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: empty) }
        let run = try await CLITests().gonka(["node", "start", "--home", empty.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("config.toml"), "\(run.output)")
    }
}
