import GonkaCore

/// Pending transactions in arrival order (FIFO), deduplicated by hash (also against recently
/// committed ones), bounded by count and bytes. The check itself is a closure so the pool stays a
/// plain value owned by the ``ConsensusDriver`` actor, next to the ledger whose `checkTx` it calls.
public struct Mempool: Sendable {
    /// Why a transaction was not added.
    public enum AddResult: Sendable, Equatable {
        case added(Hash)
        /// Already pending (not an error: the same tx submitted twice).
        case duplicate(Hash)
        /// Committed recently.
        case committed(Hash)
        /// The pool is at its count or byte limit.
        case full
        /// The ledger's check rejected it: (short code, sentence).
        case rejected(Hash, code: String, reason: String)
    }

    public let maxTxs: Int
    public let maxBytes: Int
    /// How many committed hashes are remembered for deduplication.
    public let recentLimit: Int

    private var txs: [Hash: [UInt8]] = [:]
    /// Arrival order; may hold hashes already removed from `txs` (skipped, compacted lazily).
    private var order: [Hash] = []
    private var head = 0
    public private(set) var bytes = 0
    private var recent: Set<Hash> = []
    private var recentOrder: [Hash] = []
    private var recentHead = 0

    public init(maxTxs: Int, maxBytes: Int, recentLimit: Int = 100_000) {
        self.maxTxs = maxTxs
        self.maxBytes = maxBytes
        self.recentLimit = recentLimit
    }

    public var count: Int { txs.count }

    public func contains(_ hash: Hash) -> Bool { txs[hash] != nil }

    /// Adds `tx` if new, within the limits and accepted by `check` (which returns `nil` for a valid
    /// tx or (code, reason)).
    public mutating func add(
        _ tx: [UInt8], check: ([UInt8]) -> (code: String, reason: String)?
    ) -> AddResult {
        let hash = Hash.sha256(tx)
        if txs[hash] != nil { return .duplicate(hash) }
        if recent.contains(hash) { return .committed(hash) }
        guard txs.count < maxTxs, bytes + tx.count <= maxBytes else { return .full }
        if let failure = check(tx) { return .rejected(hash, code: failure.code, reason: failure.reason) }
        txs[hash] = tx
        order.append(hash)
        bytes += tx.count
        return .added(hash)
    }

    /// The oldest transactions, at most `maxCount` of them and `maxBytes` in total.
    public func reap(maxCount: Int, maxBytes limit: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var total = 0
        var i = head
        while i < order.count, out.count < maxCount {
            if let tx = txs[order[i]] {
                if total + tx.count > limit { break }
                out.append(tx)
                total += tx.count
            }
            i += 1
        }
        return out
    }

    /// After a commit: drops the committed transactions (remembering their hashes), then re-checks
    /// the rest in order against the new state and drops those now invalid. Returns how many
    /// were dropped by the re-check.
    @discardableResult
    public mutating func update(committed: [Hash], recheck: ([UInt8]) -> Bool) -> Int {
        for hash in committed {
            if let tx = txs.removeValue(forKey: hash) { bytes -= tx.count }
            remember(hash)
        }
        var kept: [Hash] = []
        kept.reserveCapacity(txs.count)
        var dropped = 0
        for i in head..<order.count {
            let hash = order[i]
            guard let tx = txs[hash] else { continue }
            if recheck(tx) {
                kept.append(hash)
            } else {
                txs[hash] = nil
                bytes -= tx.count
                dropped += 1
            }
        }
        order = kept
        head = 0
        return dropped
    }

    private mutating func remember(_ hash: Hash) {
        guard recent.insert(hash).inserted else { return }
        recentOrder.append(hash)
        if recent.count > recentLimit {
            recent.remove(recentOrder[recentHead])
            recentHead += 1
            if recentHead > recentLimit {
                recentOrder.removeFirst(recentHead)
                recentHead = 0
            }
        }
    }
}
