/// When the current generation of a two-generation cache gives way to a new one: once it has been
/// current for `span` heights (blocks, or a store's commits). The caches that keep what recent
/// blocks used (the ledger's signature cache, the state's value cache; issue 23) each keep one.
public struct GenerationClock: Sendable {
    /// Heights a generation stays current (at least 1).
    public let span: UInt64
    private var since: UInt64?

    /// 200 heights: minutes of blocks at any block time, far longer than a transaction waits in
    /// the mempool (each re-check is a use) or an inference's Start waits for its block, so what
    /// the ledger reads every block never leaves.
    public static let recentSpan: UInt64 = 200

    public init(span: UInt64) {
        self.span = max(span, 1)
    }

    /// Called at each new height: whether the current generation gives way now. The first call
    /// starts the clock.
    public mutating func tick(_ height: UInt64) -> Bool {
        guard let since else {
            self.since = height
            return false
        }
        guard height >= since &+ span else { return false }
        self.since = height
        return true
    }
}
