import Foundation
import Synchronization
import Testing

@testable import Tensor

/// A pool made for batch compute runs its helpers at its nice value, below the node's other
/// threads, and leaves the calling thread as it was (issue 22: PoC searches starved consensus).
@Suite struct ThreadPriorityTests {
    @Test func helpersRunAtThePoolsNiceness() throws {
        let base = ThreadPriority.currentNiceness()
        let pool = ThreadPool(threads: 3, niceness: 7)
        let seen = Mutex<[Int32]>([])
        // Many short pieces, so the helpers take some; each records its thread's nice value.
        for _ in 0..<40 {
            pool.parallelFor(48) { _ in
                usleep(200)
                let niceness = ThreadPriority.currentNiceness()
                seen.withLock { $0.append(niceness) }
            }
        }
        let values = Set(seen.withLock { $0 })
        #if os(Linux)
            // setpriority may raise a nice value, never lower it without privilege.
            #expect(values == [base, max(base, 7)] || (base >= 7 && values == [base]), "\(values), base \(base)")
        #endif
        #expect(ThreadPriority.currentNiceness() == base, "the calling thread keeps its priority")
    }

    @Test func aPoolWithoutNicenessLeavesItsHelpersAlone() {
        let base = ThreadPriority.currentNiceness()
        let pool = ThreadPool(threads: 3)
        let seen = Mutex<Set<Int32>>([])
        for _ in 0..<20 {
            pool.parallelFor(48) { _ in
                usleep(200)
                let niceness = ThreadPriority.currentNiceness()
                seen.withLock { _ = $0.insert(niceness) }
            }
        }
        #expect(seen.withLock { $0 } == [base])
    }
}
