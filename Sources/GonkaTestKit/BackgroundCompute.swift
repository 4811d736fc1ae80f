import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Seconds of synchronous computation for a test, run on a thread of its own at the lowest priority.
///
/// Swift Testing runs every suite at once on the cooperative pool, which has one thread per core
/// (two here). A test that computes for seconds without suspending holds one of those threads, and
/// a few of them at once stop every other async test: in a full run the in-process networks missed
/// their timeouts and plain unit tests took a minute to finish. Run heavy bodies through this
/// instead; make `#expect` checks on the result, in the test's task (issues are recorded against
/// the test running in the current task).
public enum BackgroundCompute {
    /// Runs `body` on a new thread (niceness 19 on Linux, so tests that wait on timers and sockets
    /// get the CPU first) and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                lowerPriority()
                continuation.resume(with: Result { try body() })
            }
            // The model and PoC kernels recurse little but keep large frames: the default 512 KiB
            // of a secondary thread is not always enough for debug builds.
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// ``run(_:)`` for a body that cannot throw.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                lowerPriority()
                continuation.resume(returning: body())
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// On Linux a thread's nice value is its own, and `who` 0 names the calling thread: this
    /// lowers only this thread, to the lowest priority (19). Eight simulation shards at +10 still
    /// took most of a core from the network tests' time-bounded waits; at 19 they use what is idle.
    private static func lowerPriority() {
        #if os(Linux)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        #endif
    }
}
