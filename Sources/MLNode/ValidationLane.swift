import Dispatch
import Foundation
import Inference
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where an in-process backend runs validation scoring (PROTOCOL §7.2: "at lower priority than live
/// requests"): its own ``LlamaSession`` on its own OS thread at the lowest scheduling priority
/// (nice 19 on Linux, where a thread's nice value is its own). A score never holds a slot a live
/// request could wait for, and the scheduler gives it only the CPU that live work leaves idle, on
/// this node and on any other process of the machine (a devnet runs several nodes on one host).
///
/// The session and the thread are made on first use (a node that never validates pays nothing)
/// and end with ``close()``. Jobs run one at a time, in order.
final class ValidationLane: Sendable {
    private struct Pending: Sendable {
        let body: @Sendable (LlamaSession) -> Void
    }

    private struct State {
        var jobs: [Pending] = []
        var started = false
        var closed = false
    }

    private let model: LlamaModel
    private let capacity: Int
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    init(model: LlamaModel, capacity: Int) {
        self.model = model
        self.capacity = capacity
    }

    /// Runs `body` on the lane's session and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable (LlamaSession) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLock { s -> Bool in
                guard !s.closed else { return false }
                s.jobs.append(Pending { session in continuation.resume(with: Result { try body(session) }) })
                if !s.started {
                    s.started = true
                    startThread()
                }
                return true
            }
            if accepted {
                wake.signal()
            } else {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// Ends the thread after the jobs already queued.
    func close() {
        let running = state.withLock { s -> Bool in
            s.closed = true
            return s.started
        }
        if running { wake.signal() }
    }

    private func startThread() {
        let thread = Thread { [self] in
            Self.lowerPriority()
            let session = LlamaSession(model: model, capacity: capacity, threads: 1)
            while true {
                wake.wait()
                let next = state.withLock { s -> Pending? in s.jobs.isEmpty ? nil : s.jobs.removeFirst() }
                if let next {
                    next.body(session)
                } else if state.withLock({ $0.closed }) {
                    return
                }
            }
        }
        thread.name = "gonka.mlnode.validation"
        thread.stackSize = 8 << 20
        thread.start()
    }

    private static func lowerPriority() {
        #if os(Linux)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        #endif
    }
}
