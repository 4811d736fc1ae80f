import Telemetry
import Testing

@testable import ChainNode

/// What a commit adds to the chain node's metrics, read back from the exposition.
@Suite struct ChainMetricsTests {
    @Test func absentSignersAreCountedPerValidator() {
        let metrics = ChainMetrics()
        metrics.signers([("v1", 10, true), ("v2", 7, false), ("v3", 5, false)])
        metrics.signers([("v1", 10, true), ("v2", 7, false), ("v3", 5, true)])
        #expect(metrics.registry.value("gonka_consensus_missing_validators") == 1)
        #expect(metrics.registry.value("gonka_consensus_missing_validators_power") == 7)
        #expect(metrics.registry.value("gonka_consensus_validator_missed_blocks_total{validator=\"v2\"}") == 2)
        #expect(metrics.registry.value("gonka_consensus_validator_missed_blocks_total{validator=\"v3\"}") == 1)
        #expect(metrics.registry.value("gonka_consensus_validator_missed_blocks_total{validator=\"v1\"}") == 0)
    }

    @Test func commitsFillTheHistogramAndCounters() {
        let metrics = ChainMetrics()
        metrics.committed(txs: 3, failed: 1, round: 0, interval: .milliseconds(400), processing: .milliseconds(3))
        metrics.committed(txs: 2, failed: 0, round: 1, interval: .milliseconds(1_200), processing: .milliseconds(40))
        let text = metrics.exposition(NodeStatusBox.Snapshot(), peers: 2)
        #expect(text.contains("# TYPE gonka_consensus_block_interval_seconds histogram"))
        #expect(metrics.registry.value("gonka_consensus_block_interval_seconds_count") == 2)
        #expect(metrics.registry.value("gonka_consensus_block_interval_seconds_bucket{le=\"0.5\"}") == 1)
        #expect(text.contains("# TYPE gonka_consensus_block_processing_seconds histogram"))
        #expect(metrics.registry.value("gonka_consensus_block_processing_seconds_count") == 2)
        #expect(metrics.registry.value("gonka_consensus_block_processing_seconds_bucket{le=\"0.005\"}") == 1)
        #expect(metrics.registry.value("gonka_consensus_block_processing_seconds_bucket{le=\"0.05\"}") == 2)
        #expect(metrics.registry.value("gonka_txs_committed_total") == 5)
        #expect(metrics.registry.value("gonka_txs_failed_total") == 1)
        #expect(metrics.registry.value("gonka_consensus_commit_round") == 1)
        #expect(metrics.registry.value("gonka_peers") == 2)
    }
}
