/// Sampled checks whose executor could not be reached, waiting to be tried again (PROTOCOL §7.2,
/// test 1 [as built]).
///
/// A payload the executor's node does not answer for (no connection, a timeout, a gateway error)
/// is not yet "unavailable": the host may be restarting or briefly cut off, and voting it failed
/// then convicts an honest host for an outage (the fault soak saw a restarted executor's honest
/// inference INVALIDATED this way). The check is tried again after 5 blocks, then 10, 20, … while
/// the next try still comes before `deadline`; past it the payload is unavailable and the check
/// fails as before. The worker sets the deadline half an epoch after the Finish: the validation
/// window (§7.1) runs to the end of the next epoch, at least one epoch after the Finish, so half
/// an epoch leaves the other half for the check, the vote it may open, and the tx.
struct DeferredChecks: Sendable {
    /// Blocks before the first retry; each later wait doubles.
    static let firstWait: UInt64 = 5

    private var waiting: [(job: ValidationWorker.Job, due: UInt64)] = []
    private var tries: [String: Int] = [:]

    /// Checks waiting.
    var count: Int { waiting.count }

    /// Schedules `job` again and returns the height it is due at, or nil when that would be past
    /// `deadline` (the payload is then unavailable).
    mutating func postpone(_ job: ValidationWorker.Job, tip: UInt64, deadline: UInt64) -> UInt64? {
        let done = tries[job.inferenceID, default: 0]
        let wait = Self.firstWait << UInt64(min(done, 20))
        let due = tip &+ wait
        guard due <= deadline else { return nil }
        tries[job.inferenceID] = done + 1
        waiting.append((job, due))
        return due
    }

    /// The checks due at `tip` (in the order they were postponed), no longer waiting.
    mutating func due(at tip: UInt64) -> [ValidationWorker.Job] {
        guard waiting.contains(where: { $0.due <= tip }) else { return [] }
        let ready = waiting.filter { $0.due <= tip }.map(\.job)
        waiting.removeAll { $0.due <= tip }
        return ready
    }

    /// Forgets `inferenceID`'s tries once its verdict is sent.
    mutating func forget(_ inferenceID: String) { tries[inferenceID] = nil }
}
