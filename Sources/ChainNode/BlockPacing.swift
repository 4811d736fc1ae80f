/// The commit path's clock: when the current height started and when the last block was
/// committed. Gives the pause before the next height (the commit timeout, stretched to the block
/// target) and the interval `/status` reports. Pure: the driver passes the time in.
struct BlockPacing: Sendable {
    private(set) var heightStartedAt: ContinuousClock.Instant
    private var lastBlockAt: ContinuousClock.Instant?

    init(now: ContinuousClock.Instant) {
        heightStartedAt = now
    }

    /// A new height started.
    mutating func heightStarted(at now: ContinuousClock.Instant) {
        heightStartedAt = now
    }

    /// How long this node has been at its current height.
    func atHeight(now: ContinuousClock.Instant) -> Duration {
        now - heightStartedAt
    }

    /// A block was committed; the time since the previous one (nil for the first since start).
    mutating func committed(at now: ContinuousClock.Instant) -> Duration? {
        let interval = lastBlockAt.map { now - $0 }
        lastBlockAt = now
        return interval
    }

    /// The pause after a commit before the next height: the commit timeout, or longer so
    /// consecutive heights start at least `blockInterval` apart (PROTOCOL §12).
    func pauseAfterCommit(now: ContinuousClock.Instant, commitTimeout: Duration, blockInterval: Duration) -> Duration {
        max(commitTimeout, blockInterval - atHeight(now: now))
    }
}
