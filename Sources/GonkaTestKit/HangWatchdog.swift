import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ends the test process when a test outlives its time limit by a grace period.
///
/// Swift Testing's `.timeLimit` records a failure and cancels the test, then waits for the test to
/// return. A test stuck in a wait that ignores cancellation (a shutdown that never ends, a blocking
/// call on the cooperative pool) therefore stalls the whole run with no failure printed. Tests that
/// start networks, nodes, servers or processes arm this watchdog (each test target's `HangGuard`
/// trait does it); past the deadline it prints which tests are still running, runs the registered
/// cleanups (stop child processes), flushes the output and exits with status 124, so the run fails
/// and ends. With `GONKA_TEST_HANG_GDB=1` it first prints every thread's stack (gdb attached to the
/// process), for hangs that need looking into.
///
/// The watchdog is a plain thread, not a task: it must fire when the cooperative pool is blocked.
public final class HangWatchdog: Sendable {
    /// The process's watchdog.
    public static let shared = HangWatchdog()

    /// Exit status when the watchdog ends the process (what `timeout(1)` uses).
    public static let exitStatus: Int32 = 124

    private struct Armed {
        var name: String
        var started: ContinuousClock.Instant
        var deadline: ContinuousClock.Instant
    }

    private struct State {
        var next: UInt64 = 0
        var armed: [UInt64: Armed] = [:]
        var cleanups: [UInt64: @Sendable () -> Void] = [:]
        var threadStarted = false
    }

    private let state = Mutex(State())

    /// Called with the report instead of ending the process (tests of the watchdog itself).
    private let onExpiry: (@Sendable (String) -> Void)?
    private let tick: Duration

    /// A private watchdog whose expiry calls `onExpiry` with the report instead of ending the
    /// process (for testing the watchdog itself).
    public init(tick: Duration = .seconds(1), onExpiry: (@Sendable (String) -> Void)? = nil) {
        self.tick = tick
        self.onExpiry = onExpiry
    }

    /// Watches `name` from now: if it is still armed `limit` from now, the process ends. Returns
    /// the token for ``disarm(_:)``.
    public func arm(_ name: String, limit: Duration) -> UInt64 {
        let now = ContinuousClock.now
        let (token, startThread) = state.withLock { state in
            state.next += 1
            state.armed[state.next] = Armed(name: name, started: now, deadline: now + limit)
            defer { state.threadStarted = true }
            return (state.next, !state.threadStarted)
        }
        if startThread { startWatching() }
        return token
    }

    /// Stops watching the test `token` was given for.
    public func disarm(_ token: UInt64) {
        _ = state.withLock { $0.armed.removeValue(forKey: token) }
    }

    /// Runs `body` once if the watchdog ends the process while registered (to kill child processes
    /// that would otherwise outlive it). Returns the token for ``removeCleanup(_:)``.
    public func addCleanup(_ body: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { state in
            state.next += 1
            state.cleanups[state.next] = body
            return state.next
        }
    }

    public func removeCleanup(_ token: UInt64) {
        _ = state.withLock { $0.cleanups.removeValue(forKey: token) }
    }

    /// What is armed now, for reports: (name, seconds running).
    public var running: [(name: String, seconds: Int)] {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.armed.sorted { $0.key < $1.key }.map {
                ($0.value.name, Int((now - $0.value.started).components.seconds))
            }
        }
    }

    private func startWatching() {
        let tick = self.tick
        // Weak: a private watchdog (tests of the watchdog) stops its thread once it is released.
        let thread = Thread { [weak self] in
            let seconds = Double(tick.components.seconds) + Double(tick.components.attoseconds) * 1e-18
            while true {
                Thread.sleep(forTimeInterval: seconds)
                guard let watchdog = self else { return }
                if let report = watchdog.expired() {
                    watchdog.fire(report)
                    if watchdog.onExpiry == nil { return }
                }
            }
        }
        thread.name = "gonka.test.hang-watchdog"
        thread.start()
    }

    /// The report if some armed test is past its deadline (it is disarmed so it fires once).
    private func expired() -> String? {
        let now = ContinuousClock.now
        return state.withLock { state -> String? in
            let late = state.armed.filter { $0.value.deadline <= now }
            guard !late.isEmpty else { return nil }
            var lines = ["HangWatchdog: a test outlived its time limit and did not return; ending the test process."]
            for (token, armed) in state.armed.sorted(by: { $0.key < $1.key }) {
                let seconds = (now - armed.started).components.seconds
                let mark = late[token] != nil ? "past its deadline" : "still running"
                lines.append("  \(armed.name): \(mark), started \(seconds) s ago")
            }
            for token in late.keys { state.armed[token] = nil }
            return lines.joined(separator: "\n")
        }
    }

    private func fire(_ report: String) {
        if let onExpiry {
            onExpiry(report)
            return
        }
        FileHandle.standardError.write(Data((report + "\n").utf8))
        if ProcessInfo.processInfo.environment["GONKA_TEST_HANG_GDB"] == "1" { Self.dumpThreads() }
        let cleanups = state.withLock { state in
            defer { state.cleanups = [:] }
            return Array(state.cleanups.values)
        }
        for cleanup in cleanups { cleanup() }
        fflush(nil)
        // `_exit`, not `exit`: a stuck process may hold locks that exit handlers would wait on.
        _exit(Self.exitStatus)
    }

    /// Every thread's stack on stderr, by gdb attached to this process (when gdb is installed).
    private static func dumpThreads() {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") else { return }
        let gdb = Process()
        gdb.executableURL = URL(fileURLWithPath: "/usr/bin/gdb")
        gdb.arguments = ["-q", "-batch", "-iex", "set complaints 0", "-p", "\(getpid())", "-ex", "thread apply all bt"]
        gdb.standardOutput = FileHandle.standardError
        gdb.standardError = FileHandle.nullDevice
        gdb.standardInput = FileHandle.nullDevice
        do {
            try gdb.run()
        } catch {
            return
        }
        gdb.waitUntilExit()
    }
}
