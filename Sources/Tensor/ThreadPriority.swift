import CSystemShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The scheduling priority of the calling OS thread, for batch compute that must yield to a node's
/// latency-bound work. On Linux a thread's nice value is its own (`setpriority` on its thread id),
/// so a PoC search at nice 10 takes the CPU the chain and the API leave, not theirs: four devnet
/// nodes sharing two cores stalled consensus for minutes during a sprint when their searches ran at
/// the same priority as everything else (issue 22's 30-minute soak).
public enum ThreadPriority {
    /// The nice value of background proof-of-compute work (the sprint's search and its helpers).
    public static let batchCompute: Int32 = 10

    /// Lowers the calling thread's priority to `niceness` (0…19; higher is lower priority). A
    /// no-op where threads have no nice value of their own (not Linux) or for 0.
    public static func lowerCurrentThread(to niceness: Int32) {
        guard niceness > 0 else { return }
        #if os(Linux)
            let tid = id_t(gonka_thread_id())
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, min(niceness, 19))
        #endif
    }

    /// The calling thread's nice value (0 where it has none of its own).
    public static func currentNiceness() -> Int32 {
        #if os(Linux)
            let tid = id_t(gonka_thread_id())
            errno = 0
            return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid)
        #else
            return 0
        #endif
    }
}
