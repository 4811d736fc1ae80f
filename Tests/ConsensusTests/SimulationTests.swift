import Consensus
import Foundation
import GonkaTestKit
import Testing

/// The deterministic fault simulator over many seeds. `SEEDS=n` sets how many (default 1,000),
/// `SEED=s` replays exactly one, `SIM_THOROUGH=1` uses the heavier configuration (`make sim`).
@Suite struct SimulationTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seedCount = UInt64(environment["SEEDS"] ?? "") ?? 1_000
    static let single = environment["SEED"].flatMap(UInt64.init)
    static let configuration: ConsensusSimulation.Configuration =
        environment["SIM_THOROUGH"] == "1" ? .thorough : .fast
    static let shards = 8

    /// Seeds split into shards that run in parallel.
    /// Seconds of CPU per shard: on threads of their own (``BackgroundCompute``), not the 2-thread
    /// cooperative pool, which 8 shards at once blocked for a minute in a full run.
    @Test(arguments: 0..<shards)
    func seedsHoldEveryInvariant(shard: Int) async {
        let seeds: [UInt64] =
            if let single = Self.single { shard == 0 ? [single] : [] } else {
                Array(stride(from: UInt64(shard), to: Self.seedCount, by: Self.shards))
            }
        let configuration = Self.configuration
        let single = Self.single
        let violation = await BackgroundCompute.run { () -> String? in
            for seed in seeds {
                switch ConsensusSimulation(seed: seed, configuration: configuration).run() {
                case .success(let report):
                    if single != nil { print("seed \(seed): \(report)") }
                case .failure(let violation):
                    return "\(violation)"
                }
            }
            return nil
        }
        if let violation { Issue.record(Comment(rawValue: violation)) }
    }

    @Test func aSeedReplaysIdentically() {
        let a = ConsensusSimulation(seed: 42).run()
        let b = ConsensusSimulation(seed: 42).run()
        #expect(a == b)
        let c = ConsensusSimulation(seed: 43).run()
        #expect(a != c)
    }

    /// Five byzantine validators hold under 1/3 of the power but more than 2/3 of the validators:
    /// a machine counting votes per validator lets them form a quorum alone, and equivocating they
    /// split the honest nodes onto two blocks. The simulator must report broken agreement.
    @Test func catchesAMachineThatCountsValidatorsInsteadOfPower() {
        var config = ConsensusSimulation.Configuration.fast
        config.powers = [10, 10, 10, 10, 10, 60, 60]
        config.byzantine = [0, 1, 2, 3, 4]
        config.defects = .init(countByValidators: true)
        config.relayByzantine = false
        let found = (0..<50).lazy.compactMap { seed -> ConsensusSimulation.Violation? in
            if case .failure(let v) = ConsensusSimulation(seed: UInt64(seed), configuration: config).run() { return v }
            return nil
        }.first
        #expect(found?.invariant == "agreement")
        if let found { print("expected violation found: \(found)") }
    }
}
