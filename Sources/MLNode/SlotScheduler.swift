import Synchronization

/// Who a request serves, which decides its place in the queue: live generation goes before
/// validation work (PROTOCOL §7.2: validators score "at lower priority than live requests").
public enum MLPriority: Sendable, Hashable {
    /// A client is waiting on it (chat and completions).
    case live
    /// Validation scoring (`/v1/score`): waits behind live requests, and may fill at most half of
    /// the wait queue so it never makes the node refuse live requests.
    case validation
}

/// Admission and slot hand-out for a fixed number of slots and a bounded wait queue.
///
/// `admitted` counts requests in the node (running or waiting); a request beyond
/// `slots + queueLimit` is refused at once, a ``MLPriority/validation`` one already beyond
/// `slots + queueLimit − ⌈queueLimit/2⌉` (the other half of the queue is kept for live requests).
/// A released slot goes to the earliest live waiter, else to the earliest validation waiter; a
/// validation waiter passed over `validationPatience` times by later live waiters goes first, so a
/// steady stream of live requests slows validation down but never stops it. A waiter whose task
/// is cancelled leaves the queue at once (its continuation resumes with `CancellationError`).
final class SlotScheduler: Sendable {
    private struct Waiter {
        let ticket: UInt64
        let priority: MLPriority
        let continuation: CheckedContinuation<Int, any Error>
        /// Later live waiters served before this one (validation waiters only).
        var passedOver = 0
    }

    private struct State {
        var admitted = 0
        var free: [Int]
        /// In arrival order.
        var waiters: [Waiter] = []
        var nextTicket: UInt64 = 0
        /// Tickets cancelled before they joined `waiters` (the cancellation handler ran first).
        var cancelled: Set<UInt64> = []
    }

    let slots: Int
    let queueLimit: Int
    /// Times a validation waiter may be passed over by later live waiters before it goes first.
    let validationPatience: Int
    private let state: Mutex<State>

    init(slots: Int, queueLimit: Int, validationPatience: Int = 8) {
        self.slots = slots
        self.queueLimit = queueLimit
        self.validationPatience = max(0, validationPatience)
        // Popped from the end: slot 0 is handed out first.
        state = Mutex(State(free: Array((0..<slots).reversed())))
    }

    /// Requests admitted and not yet released.
    var admitted: Int { state.withLock { $0.admitted } }

    /// Requests waiting for a slot now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Places a request of `priority` may take: validation work leaves half the queue to live requests.
    func capacity(for priority: MLPriority) -> Int {
        switch priority {
        case .live: slots + queueLimit
        case .validation: slots + queueLimit - (queueLimit + 1) / 2
        }
    }

    /// Takes a place in the node, or returns false when ``capacity(for:)`` places are taken.
    func admit(priority: MLPriority = .live) -> Bool {
        let limit = capacity(for: priority)
        return state.withLock { s in
            guard s.admitted < limit else { return false }
            s.admitted += 1
            return true
        }
    }

    /// Gives back a place taken by ``admit(priority:)``.
    func leave() {
        state.withLock { $0.admitted -= 1 }
    }

    /// Waits for a free slot and returns its index; the caller must ``release(_:)`` it.
    func acquire(priority: MLPriority = .live) async throws -> Int {
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
                    // A free slot with waiters cannot happen (a release hands it to one), so taking it
                    // here never jumps the queue.
                    if s.waiters.isEmpty, let index = s.free.popLast() { return .slot(index) }
                    s.waiters.append(Waiter(ticket: ticket, priority: priority, continuation: continuation))
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

    /// Returns slot `index`: to the next waiter (``next(of:patience:)``), else to the free list.
    func release(_ index: Int) {
        let waiter = state.withLock { s -> Waiter? in
            guard let next = Self.next(of: &s.waiters, patience: validationPatience) else {
                s.free.append(index)
                return nil
            }
            return next
        }
        waiter?.continuation.resume(returning: index)
    }

    /// Removes and returns the waiter a released slot goes to: the earliest validation waiter if it
    /// has been passed over `patience` times, else the earliest live waiter (counting one pass-over
    /// for each validation waiter ahead of it), else the earliest waiter.
    private static func next(of waiters: inout [Waiter], patience: Int) -> Waiter? {
        guard let first = waiters.first else { return nil }
        if first.priority == .validation && first.passedOver >= patience { return waiters.removeFirst() }
        guard let live = waiters.firstIndex(where: { $0.priority == .live }) else { return waiters.removeFirst() }
        for i in 0..<live { waiters[i].passedOver += 1 }
        return waiters.remove(at: live)
    }
}
