import Consensus
import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

/// A deterministic, seeded simulation of a validator network running ``Consensus/Machine``:
/// random powers, message delay / drop / duplication / reordering, partitions that heal at GST,
/// crashes with restart from the WAL (torn tails included), and byzantine validators (< 1/3 of the
/// power) that equivocate or go silent. Invariants are checked as events happen; the first
/// violation stops the run and names its seed. Same seed, same run.
public struct ConsensusSimulation {
    /// What to simulate.
    public struct Configuration: Sendable {
        public var validatorCount: ClosedRange<Int> = 4...7
        /// Powers to use instead of random ones (also fixes the validator count).
        public var powers: [UInt64]?
        /// Byzantine validators by index instead of a random choice (may exceed the 1/3 bound:
        /// only for tests that expect a violation).
        public var byzantine: [Int]?
        public var heights: UInt64 = 3
        public var gst: Int64 = 4_000
        public var dropPercent = 15
        public var duplicatePercent = 10
        public var maxDelayBeforeGST: Int64 = 1_200
        public var maxDelayAfterGST: Int64 = 150
        public var partitions = true
        public var crashes = true
        public var byzantineFaults = true
        /// Honest nodes relay the byzantine validators' messages (gossip). Off lets the two halves
        /// of an equivocation stay apart, the strongest split an asynchronous network allows.
        public var relayByzantine = true
        /// How often each node re-sends its own messages, its evidence and its height (ms).
        public var gossipInterval: Int64 = 1_000
        /// After GST, a height that starts later than `gst + settle` must decide within this many
        /// rounds (0 = validator count + 2).
        public var roundBound = 0
        public var settle: Int64 = 8_000
        /// The whole run must finish by `gst + deadline` virtual milliseconds.
        public var deadline: Int64 = 120_000
        public var defects: Consensus.Machine.Defects = .none
        public var timeouts: Consensus.Timeouts = .devnet

        public init() {}

        /// The `make test` configuration: small networks, three heights.
        public static let fast = Configuration()

        /// A heavier mix for `make sim`.
        public static var thorough: Configuration {
            var c = Configuration()
            c.validatorCount = 4...10
            c.heights = 5
            c.gst = 8_000
            c.dropPercent = 25
            return c
        }
    }

    /// A broken invariant, with the seed that replays it.
    public struct Violation: Error, CustomStringConvertible, Sendable, Hashable {
        public var seed: UInt64
        public var invariant: String
        public var detail: String
        public var time: Int64
        public var description: String {
            "simulation seed \(seed): \(invariant) violated at t=\(time)ms: \(detail) (replay: SEED=\(seed) make sim)"
        }
    }

    /// What a run did.
    public struct Report: Sendable, Hashable {
        public var seed: UInt64
        public var validators: Int
        public var byzantine: Int
        public var heights: UInt64
        public var maxRound: Int
        public var events: Int
        public var messages: Int
        public var crashes: Int
        public var evidenceCommitted: Int
        public var refusedSignatures: Int
        public var endTime: Int64
        /// A digest of every commit (node, height, block, time): equal digests, equal runs.
        public var digest: UInt64
    }

    public let seed: UInt64
    public let configuration: Configuration

    public init(seed: UInt64, configuration: Configuration = .fast) {
        self.seed = seed
        self.configuration = configuration
    }

    /// Runs to completion or to the first violation.
    public func run() -> Result<Report, Violation> {
        var world = World(seed: seed, configuration: configuration)
        do {
            try world.run()
            return .success(world.report)
        } catch {
            return .failure(error)
        }
    }

    /// Runs `seeds` and returns the first violation (by seed order), or how many passed.
    public static func run(
        seeds: some Sequence<UInt64>, configuration: Configuration = .fast
    ) -> Result<[Report], Violation> {
        var reports: [Report] = []
        for seed in seeds {
            switch ConsensusSimulation(seed: seed, configuration: configuration).run() {
            case .success(let report): reports.append(report)
            case .failure(let violation): return .failure(violation)
            }
        }
        return .success(reports)
    }
}
