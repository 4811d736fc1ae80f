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

    /// Waits until `count` requests wait for a slot. It sleeps between looks: a loop of
    /// `Task.yield()` kept a cooperative thread busy (two on this machine), and in a full run the
    /// P2P suites' handshakes starved behind it until their time limits.
    static func untilWaiting(_ scheduler: SlotScheduler, _ count: Int) async {
        while scheduler.waiting != count { try? await Task.sleep(for: .milliseconds(2)) }
    }

    /// Acquires with `priority` in a task that reports `label` when it gets the slot, then gives it back.
    static func waiter(
        _ scheduler: SlotScheduler, _ priority: MLPriority, _ label: String,
        _ served: AsyncStream<String>.Continuation
    ) -> Task<Void, any Error> {
        Task {
            let slot = try await scheduler.acquire(priority: priority)
            served.yield(label)
            scheduler.release(slot)
        }
    }

    static func order(
        _ scheduler: SlotScheduler, holding held: Int, _ arrivals: [(MLPriority, String)]
    ) async throws -> [String] {
        let (order, continuation) = AsyncStream.makeStream(of: String.self)
        var tasks: [Task<Void, any Error>] = []
        for (n, arrival) in arrivals.enumerated() {
            tasks.append(Self.waiter(scheduler, arrival.0, arrival.1, continuation))
            await Self.untilWaiting(scheduler, n + 1)
        }
        scheduler.release(held)
        for task in tasks { try await task.value }
        continuation.finish()
        var served: [String] = []
        for await label in order { served.append(label) }
        return served
    }

    /// A waiting score does not take the slot before a generation that arrived after it.
    @Test func liveRequestsGoBeforeWaitingValidation() async throws {
        let scheduler = SlotScheduler(slots: 1, queueLimit: 8)
        let held = try await scheduler.acquire()
        let served = try await Self.order(
            scheduler, holding: held,
            [(.validation, "score1"), (.validation, "score2"), (.live, "chat1"), (.live, "chat2")])
        #expect(served == ["chat1", "chat2", "score1", "score2"])
    }

    /// With no live request waiting, validation gets the slot (and a free slot at once).
    @Test func validationRunsWhenNoLiveRequestWaits() async throws {
        let scheduler = SlotScheduler(slots: 1, queueLimit: 8)
        let free = try await scheduler.acquire(priority: .validation)
        let served = try await Self.order(scheduler, holding: free, [(.validation, "score1"), (.validation, "score2")])
        #expect(served == ["score1", "score2"])
    }

    /// A validation waiter passed over `validationPatience` times goes next: live load slows
    /// validation down but does not starve it.
    @Test func validationIsNotStarvedForever() async throws {
        let scheduler = SlotScheduler(slots: 1, queueLimit: 8, validationPatience: 2)
        let held = try await scheduler.acquire()
        let served = try await Self.order(
            scheduler, holding: held,
            [(.validation, "score"), (.live, "chat1"), (.live, "chat2"), (.live, "chat3"), (.live, "chat4")])
        #expect(served == ["chat1", "chat2", "score", "chat3", "chat4"])
    }

    /// Validation may fill only half the wait queue; live requests keep the rest.
    @Test func validationLeavesHalfTheQueueToLiveRequests() {
        let scheduler = SlotScheduler(slots: 1, queueLimit: 4)
        #expect(scheduler.capacity(for: .validation) == 3)
        #expect((0..<3).allSatisfy { _ in scheduler.admit(priority: .validation) })
        #expect(!scheduler.admit(priority: .validation))
        #expect(scheduler.admit(priority: .live) && scheduler.admit(priority: .live))
        #expect(!scheduler.admit(priority: .live))
    }
}
