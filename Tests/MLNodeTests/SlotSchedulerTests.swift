import Testing

@testable import MLNode

/// The admission counter and slot hand-out, without sockets or a model.
@Suite(.timeLimit(.minutes(3)), .hangGuard)
struct SlotSchedulerTests {
    @Test func admitsSlotsPlusQueueThenRefuses() {
        let scheduler = SlotScheduler(slots: 2, queueLimit: 1)
        #expect(scheduler.admit() && scheduler.admit() && scheduler.admit())
        #expect(!scheduler.admit())
        scheduler.leave()
        #expect(scheduler.admit())
        #expect(scheduler.admitted == 3)
    }

    /// Waiters get a released slot in arrival order.
    @Test func waitersAreServedInOrder() async throws {
        let scheduler = SlotScheduler(slots: 1, queueLimit: 4)
        let first = try await scheduler.acquire()
        let (order, continuation) = AsyncStream.makeStream(of: Int.self)
        var waiters: [Task<Void, any Error>] = []
        for n in 1...3 {
            waiters.append(
                Task {
                    let slot = try await scheduler.acquire()
                    continuation.yield(n)
                    scheduler.release(slot)
                })
            // Let each waiter join the queue before the next one.
            try await Task.sleep(for: .milliseconds(50))
        }
        scheduler.release(first)
        for waiter in waiters { try await waiter.value }
        continuation.finish()
        var served: [Int] = []
        for await n in order { served.append(n) }
        #expect(served == [1, 2, 3])
    }

    /// A cancelled waiter leaves the queue at once and the slot goes to the next one.
    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let scheduler = SlotScheduler(slots: 1, queueLimit: 4)
        let held = try await scheduler.acquire()
        let cancelled = Task { try await scheduler.acquire() }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        let next = Task { try await scheduler.acquire() }
        try await Task.sleep(for: .milliseconds(50))
        scheduler.release(held)
        #expect(try await next.value == held)
    }
}
