import Telemetry

/// The chain node's metrics (swift-metrics on its own swift-prometheus registry): gauges read from
/// the status snapshot at each scrape (`gonka_height`, `gonka_round`, `gonka_peers`,
/// `gonka_mempool_size`, `gonka_block_time_seconds`, `gonka_catching_up`) and what each commit
/// adds (`gonka_txs_committed_total`, `gonka_txs_failed_total`, the
/// `gonka_consensus_block_interval_seconds` histogram, the `gonka_consensus_block_processing_seconds`
/// histogram (CometBFT's `block_processing_time`: executing the block, storing it and re-checking
/// the mempool), `gonka_consensus_commit_round`, and
/// CometBFT's view of absent signers: `gonka_consensus_missing_validators`,
/// `gonka_consensus_missing_validators_power` and `gonka_consensus_validator_missed_blocks_total{validator}`,
/// a label bounded by the validator set); after each commit, what the node's bounded caches hold
/// against their budgets (`gonka_cache_bytes{cache}`, `gonka_cache_budget_bytes{cache}`, issue 23);
/// at each scrape, the process's resident memory and heap (``ProcessMemory``).
public final class ChainMetrics: Sendable {
    public let registry = MetricsRegistry(buckets: ["gonka_consensus_block_processing_seconds": processingBuckets])

    /// Block processing takes milliseconds on a devnet and up to seconds on a busy chain.
    static let processingBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5),
    ]

    public init() {}

    /// One committed block: its txs, the failed ones among them, its round, the time since the
    /// previous commit (nil for the first this process saw) and the time it took to process.
    func committed(txs: Int, failed: Int, round: Int, interval: Duration?, processing: Duration) {
        registry.observe("gonka_consensus_block_processing_seconds", [], processing)
        registry.increment("gonka_txs_committed_total", [], by: txs)
        registry.increment("gonka_txs_failed_total", [], by: failed)
        registry.set("gonka_consensus_commit_round", [], round)
        if let interval { registry.observe("gonka_consensus_block_interval_seconds", [], interval) }
    }

    /// The committed block's signing set, each validator with whether its precommit is in the
    /// commit.
    func signers(_ set: [(address: String, power: UInt64, signed: Bool)]) {
        let missing = set.filter { !$0.signed }
        registry.set("gonka_consensus_missing_validators", [], missing.count)
        registry.set(
            "gonka_consensus_missing_validators_power", [], Int(clamping: missing.reduce(UInt64(0)) { $0 + $1.power }))
        for validator in missing {
            registry.increment("gonka_consensus_validator_missed_blocks_total", [("validator", validator.address)])
        }
    }

    /// One cache's bytes now and its budget, both in bytes.
    public struct CacheUse: Sendable {
        public var name: String
        public var bytes: Int
        public var budget: Int
    }

    /// What each bounded cache holds after a commit (`state_node`, `state_value`, `state_page`,
    /// `signatures`, `mempool`).
    func caches(_ uses: [CacheUse]) {
        for use in uses {
            registry.set("gonka_cache_bytes", [("cache", use.name)], use.bytes)
            registry.set("gonka_cache_budget_bytes", [("cache", use.name)], use.budget)
        }
    }

    /// The exposition with the gauges set from `status` and the connected `peers`.
    func exposition(_ status: NodeStatusBox.Snapshot, peers: Int) -> String {
        registry.set("gonka_height", [], Int(clamping: status.height))
        registry.set("gonka_round", [], status.round)
        registry.set("gonka_peers", [], peers)
        registry.set("gonka_mempool_size", [], status.mempoolSize)
        registry.set("gonka_block_time_seconds", [], Double(status.lastIntervalMs) / 1000)
        registry.set("gonka_catching_up", [], status.catchingUp ? 1 : 0)
        ProcessMemory.current().record(into: registry)
        // Counters appear from the first commit on; a scrape before it still names them.
        registry.increment("gonka_txs_committed_total", [], by: 0)
        registry.increment("gonka_txs_failed_total", [], by: 0)
        return registry.exposition
    }
}
