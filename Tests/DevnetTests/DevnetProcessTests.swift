import Foundation
import Testing

@testable import Devnet

/// How a devnet tells its nodes from other processes: `DevnetProcess.isRunning` reads `/proc`, and a
/// node caught inside `execve` shows no arguments for a moment.
@Suite(.timeLimit(.minutes(1))) struct DevnetProcessTests {
    typealias Snapshot = DevnetProcess.ProcessSnapshot
    let home = "/tmp/devnet/node0"
    let node = Snapshot(
        state: "S", isKernelThread: false, arguments: ["gonka", "node", "start", "--home", "/tmp/devnet/node0"])
    let inExec = Snapshot(state: "R", isKernelThread: false, arguments: [])

    /// Answers `sequence` in turn, then its last element for ever; counts the pauses.
    final class Script: @unchecked Sendable {
        var sequence: [Snapshot?]
        var pauses = 0
        init(_ sequence: [Snapshot?]) { self.sequence = sequence }
        func next() -> Snapshot? { sequence.count > 1 ? sequence.removeFirst() : sequence.first ?? nil }
    }

    func decide(_ script: Script) -> Bool {
        DevnetProcess.isProcess(role: "node", home: home, snapshot: script.next, pause: { script.pauses += 1 })
    }

    @Test func aNodeCaughtMidExecIsRunningOnceItsArgumentsShow() {
        let script = Script([inExec, inExec, inExec, node])
        #expect(decide(script))
        #expect(script.pauses == 3)
    }

    @Test func anotherProgramOnTheSamePidIsNotTheNode() {
        #expect(!decide(Script([Snapshot(state: "S", isKernelThread: false, arguments: ["sleep", "30"])])))
        let otherHome = Snapshot(
            state: "S", isKernelThread: false, arguments: ["gonka", "node", "start", "--home", "/x"])
        #expect(!decide(Script([otherHome])))
    }

    @Test func anExitingNodeEndsAsNotRunning() {
        #expect(!decide(Script([inExec, inExec, Snapshot(state: "Z", isKernelThread: false, arguments: [])])))
        #expect(!decide(Script([inExec, nil])))
        #expect(!decide(Script([Snapshot(state: "Z", isKernelThread: false, arguments: node.arguments)])))
    }

    @Test func aKernelThreadIsNeverANodeAndIsNotWaitedOn() {
        let script = Script([Snapshot(state: "S", isKernelThread: true, arguments: [])])
        #expect(!decide(script))
        #expect(script.pauses == 0)
    }

    @Test func aProcessThatNeverShowsArgumentsIsGivenUpOnAfterTheAttempts() {
        let script = Script([inExec])
        #expect(
            !DevnetProcess.isProcess(
                role: "node", home: home, attempts: 5, snapshot: script.next, pause: { script.pauses += 1 }))
        #expect(script.pauses == 4)
    }

    /// The real thing: processes started with `DevnetProcess.start` are running when asked at once,
    /// every time (read once, 1 to 10 of these 60 looked exited on this machine).
    @Test func aProcessJustStartedIsRunningWhenAskedAtOnce() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-spawn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("node.log").path
        var missed = 0
        for _ in 0..<60 {
            // `sh -c 'sleep 30; exit 0' node HOME`: a live process whose arguments name "node" and HOME.
            let pid = try DevnetProcess.start(
                binary: "/bin/sh", home: dir.path, logPath: log,
                arguments: ["-c", "sleep 30; exit 0", "node", dir.path])
            if !DevnetProcess.isRunning(pid, home: dir.path) { missed += 1 }
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        #expect(missed == 0)
    }

    /// A trap for the test above: a process that exited is reported as such.
    @Test func aProcessThatExitedIsNotRunning() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-spawn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pid = try DevnetProcess.start(
            binary: "/bin/sh", home: dir.path, logPath: dir.appendingPathComponent("log").path,
            arguments: ["-c", "exit 0", "node", dir.path])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(!DevnetProcess.isRunning(pid, home: dir.path))
    }
}
