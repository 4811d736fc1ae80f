import Synchronization

/// Admission and slot hand-out for a fixed number of slots and a bounded wait queue.
///
/// `admitted` counts requests in the node (running or waiting); a request beyond
/// `slots + queueLimit` is refused at once. A slot goes to waiters in arrival order. A waiter whose
/// task is cancelled leaves the queue at once (its continuation resumes with `CancellationError`).
final class SlotScheduler: Sendable {
    private struct Waiter {
        let ticket: UInt64
        let continuation: CheckedContinuation<Int, any Error>
    }

    private struct State {
        var admitted = 0
        var free: [Int]
        var waiters: [Waiter] = []
        var nextTicket: UInt64 = 0
        /// Tickets cancelled before they joined `waiters` (the cancellation handler ran first).
        var cancelled: Set<UInt64> = []
    }

    let slots: Int
    let queueLimit: Int
    private let state: Mutex<State>

    init(slots: Int, queueLimit: Int) {
        self.slots = slots
        self.queueLimit = queueLimit
        // Popped from the end: slot 0 is handed out first.
        state = Mutex(State(free: Array((0..<slots).reversed())))
    }

    /// Requests admitted and not yet released.
    var admitted: Int { state.withLock { $0.admitted } }

    /// Takes a place in the node, or returns false when `slots + queueLimit` are taken.
    func admit() -> Bool {
        state.withLock { s in
            guard s.admitted < slots + queueLimit else { return false }
            s.admitted += 1
            return true
        }
    }

    /// Gives back a place taken by ``admit()``.
    func leave() {
        state.withLock { $0.admitted -= 1 }
    }

    /// Waits for a free slot and returns its index; the caller must ``release(_:)`` it.
    func acquire() async throws -> Int {
        let ticket = state.withLock { s -> UInt64 in
            s.nextTicket += 1
            return s.nextTicket
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                enum Outcome {
                    case slot(Int)
                    case cancelled
                    case waiting
                }
                let outcome = state.withLock { s -> Outcome in
                    if s.cancelled.remove(ticket) != nil { return .cancelled }
                    if s.waiters.isEmpty, let index = s.free.popLast() { return .slot(index) }
                    s.waiters.append(Waiter(ticket: ticket, continuation: continuation))
                    return .waiting
                }
                switch outcome {
                case .slot(let index): continuation.resume(returning: index)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                if let i = s.waiters.firstIndex(where: { $0.ticket == ticket }) { return s.waiters.remove(at: i) }
                s.cancelled.insert(ticket)
                return nil
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Returns slot `index`: to the first waiter, else to the free list.
    func release(_ index: Int) {
        let waiter = state.withLock { s -> Waiter? in
            if s.waiters.isEmpty {
                s.free.append(index)
                return nil
            }
            return s.waiters.removeFirst()
        }
        waiter?.continuation.resume(returning: index)
    }
}
