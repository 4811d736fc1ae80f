import Foundation
import GonkaTestKit
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The test-run safety nets of GonkaTestKit: the watchdog that ends a stuck run, and the thread
/// that keeps heavy test compute off the cooperative pool. (A private watchdog reports to a
/// closure; the shared one would end this process.)
@Suite(.timeLimit(.minutes(1))) struct HangWatchdogTests {
    final class Reports: Sendable {
        private let texts = Mutex<[String]>([])
        func add(_ text: String) { texts.withLock { $0.append(text) } }
        var all: [String] { texts.withLock { $0 } }
    }

    @Test func aTestPastItsDeadlineIsReportedOnce() async throws {
        let reports = Reports()
        let watchdog = HangWatchdog(tick: .milliseconds(20)) { reports.add($0) }
        let stuck = watchdog.arm("stuckTest()", limit: .milliseconds(100))
        let fine = watchdog.arm("otherTest()", limit: .seconds(60))
        defer { watchdog.disarm(fine) }
        let deadline = ContinuousClock.now + .seconds(10)
        while reports.all.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        let all = reports.all
        try #require(all.count == 1, "\(all)")
        #expect(all[0].contains("stuckTest(): past its deadline"))
        #expect(all[0].contains("otherTest(): still running"))
        // It fired once: the stuck test is no longer armed, the other still is.
        #expect(watchdog.running.map(\.name) == ["otherTest()"])
        watchdog.disarm(stuck)
    }

    @Test func aTestThatReturnsInTimeIsNotReported() async throws {
        let reports = Reports()
        let watchdog = HangWatchdog(tick: .milliseconds(20)) { reports.add($0) }
        let token = watchdog.arm("quickTest()", limit: .milliseconds(300))
        watchdog.disarm(token)
        try await Task.sleep(for: .milliseconds(600))
        #expect(reports.all.isEmpty)
        #expect(watchdog.running.isEmpty)
    }

    @Test func backgroundComputeRunsAtALowerPriorityAndPassesResultsAndErrors() async throws {
        // `who` 0: the calling thread (Linux keeps a nice value per thread).
        let inside = await BackgroundCompute.run { () -> Int32 in
            getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        }
        #expect(inside == 19)
        struct Expected: Error {}
        await #expect(throws: Expected.self) {
            _ = try await BackgroundCompute.run { () throws -> Int in throw Expected() }
        }
    }
}
