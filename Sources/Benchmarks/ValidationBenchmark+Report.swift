import Foundation
import GonkaCore
import Ledger
import Verification

extension ValidationBenchmark {
    /// Percentiles of a measure over inferences.
    public struct Spread: Sendable, Hashable, Codable {
        public var p50: Double
        public var p99: Double
        public var max: Double
        public var mean: Double

        init(_ values: [Double]) {
            let sorted = values.sorted()
            func at(_ q: Double) -> Double {
                sorted.isEmpty
                    ? 0 : sorted[Swift.min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)]
            }
            p50 = at(0.5)
            p99 = at(0.99)
            max = sorted.last ?? 0
            mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
        }

        var text: String {
            String(format: "p50 %.0f, p99 %.0f, max %.0f (mean %.1f)", p50, p99, max, mean)
        }
    }

    /// The honest pairs.
    public struct HonestReport: Sendable, Hashable, Codable {
        public var pairs: Int
        public var greedy: Int
        /// Requests whose output was empty (the model ended the turn at once): not validatable, skipped.
        public var emptyOutputs: Int
        /// Pairs with 1–4 output tokens.
        public var shortPairs: Int
        public var outputTokens: Int
        public var distancePpm: Spread
        public var positionsAboveCeilingMax: Int
        public var samplerMisses: Spread
        /// Share of pairs with at least one sampler miss.
        public var pairsWithMisses: Double
        public var ambiguousPositions: Int
        public var impossibleTokens: Int
        public var failures: Int
        public var failureReasons: [String: Int]
        /// Test 4's z over the sampled pairs (opaque runs; nil in native ones).
        public var likelihoodZ: Spread?
        /// Its lowest value (the margin is −`likelihood_margin`).
        public var likelihoodZMin: Double?
    }

    /// One cheat class at one `validation_threshold`.
    public struct CheatReport: Sendable, Hashable, Codable {
        public var cheat: CheatClass
        public var inferences: Int
        public var detected: Int
        public var detectionRate: Double
        /// Inferences whose tokens differ from the honest model's output for the same request
        /// (seed included), and how many of those were caught: a cheat that happens to produce
        /// exactly the honest answer delivered what was paid for, and no check can tell it apart.
        public var altered: Int
        public var alteredDetected: Int
        public var alteredDetectionRate: Double
        /// Greedy requests among them and how many of those were caught.
        public var greedy: Int
        public var greedyDetected: Int
        /// Failures by the test that failed first.
        public var byReason: [String: Int]
        /// Tests that fail, each counted (an inference may fail several).
        public var distributionFailed: Int
        public var samplerFailed: Int
        public var distancePpm: Spread
        public var samplerMisses: Spread
        /// §7.4 with the run's parameters, over the outcomes in order (nil: never INVALID).
        public var validationsToInvalidInOrder: Int?
        /// Over ``ValidationBenchmark/shuffles`` shuffled orders: median and max (never-INVALID
        /// orders count as the sequence's length + 1) and how many never reached INVALID.
        public var validationsToInvalidMedian: Int
        public var validationsToInvalidMax: Int
        public var ordersNeverInvalid: Int
        /// The same with the measured `honest_fail_rate` of ``Thresholds``.
        public var validationsToInvalidMedianAtMeasuredP0: Int
        public var validationsToInvalidMaxAtMeasuredP0: Int
    }

    /// What the honest numbers propose.
    public struct Thresholds: Sendable, Hashable, Codable {
        /// 2 × the honest maximum, rounded up to a multiple of 1,000 ppm, at least 1,000.
        public var validationThresholdPpm: UInt64
        /// Honest failures at the proposed threshold.
        public var honestFailuresAtProposed: Int
        /// max(observed rate, 3/N (the 95% upper bound when none failed), 1e-3), in ppb.
        public var honestFailRatePpb: UInt64
        /// Each class's detection rate at the proposed threshold.
        public var detectionAtProposed: [String: Double]
    }

    /// Validating beside generating, inferences of ≥ 64 output tokens, one thread each.
    public struct CostReport: Sendable, Hashable, Codable {
        public var inferences: Int
        public var meanOutputTokens: Double
        /// Mean process CPU time of generating one inference (prefill + decode + sampling).
        public var generateMs: Double
        /// Mean process CPU time of validating it (teacher-forced scoring with the replay + the check).
        public var validateMs: Double
        /// Scoring alone, without the replay.
        public var scoreWithoutReplayMs: Double
        /// validate / generate.
        public var ratio: Double
    }

    /// The whole run.
    public struct Report: Sendable, Codable {
        public var model: String?
        public var honest: HonestReport
        public var thresholdPpm: UInt64
        public var cheats: [CheatReport]
        public var proposed: Thresholds
        public var cost: CostReport?
        public var executorThreads: Int
        public var validatorThreads: Int
        /// The sampler kind the check ran with (`native` or `opaque`).
        public var sampler: String

        init(
            settings: Settings, honest samples: [Sample], emptyOutputs: Int, cheats: [CheatClass: [Sample]],
            cost: CostReport?
        ) throws {
            honest = HonestReport(samples, emptyOutputs: emptyOutputs)
            thresholdPpm = settings.thresholdPpm
            executorThreads = settings.executorThreads
            validatorThreads = settings.validatorThreads
            sampler = settings.sampler.rawValue
            self.cost = cost
            // Proposal: a margin of 2× over the honest maximum.
            let honestMax = UInt64(honest.distancePpm.max)
            let proposedPpm = Swift.max(1_000, (2 * honestMax + 999) / 1_000 * 1_000)
            let proposedCheck = InferenceCheck(
                thresholds: .init(
                    params: settings.params, validationThreshold: Double(proposedPpm) / 1e6,
                    sampler: settings.sampler))
            var failuresAtProposed = 0
            for sample in samples where !(try proposedCheck.evaluate(sample.input).passed) { failuresAtProposed += 1 }
            let n = Double(Swift.max(samples.count, 1))
            let rate = Swift.max(Double(failuresAtProposed) / n, 3 / n, 1e-3)
            var measured = settings.params
            measured.honestFailRatePpb = Swift.min(UInt64((rate * 1e9).rounded(.up)), measured.cheaterFailRatePpb - 1)
            var detection: [String: Double] = [:]
            for (cls, list) in cheats {
                var caught = 0
                for sample in list where !(try proposedCheck.evaluate(sample.input).passed) { caught += 1 }
                detection[cls.rawValue] = Double(caught) / Double(Swift.max(list.count, 1))
            }
            proposed = Thresholds(
                validationThresholdPpm: proposedPpm, honestFailuresAtProposed: failuresAtProposed,
                honestFailRatePpb: measured.honestFailRatePpb, detectionAtProposed: detection)
            let test = try SequentialTest(params: settings.params)
            let measuredTest = try SequentialTest(params: measured)
            self.cheats = settings.classes.compactMap { cls in
                cheats[cls].map {
                    CheatReport(cls, $0, test: test, measuredTest: measuredTest, seed: settings.seed)
                }
            }
        }

        /// The human-readable report, one line each.
        public var lines: [String] {
            var out: [String] = []
            if let model { out.append("model \(model)") }
            let h = honest
            out.append(
                "sampler \(sampler) (§7.2 test \(sampler == "opaque" ? "4, likelihood" : "3, replay")); honest: \(h.pairs) pairs (\(h.greedy) greedy, \(h.shortPairs) of 1–4 tokens, \(h.outputTokens) tokens; \(h.emptyOutputs) empty outputs skipped), executor \(executorThreads) thread(s) one token at a time, validator \(validatorThreads) thread(s) one batch"
            )
            out.append(
                "  distance_ppm: \(h.distancePpm.text); positions above ceiling: max \(h.positionsAboveCeilingMax)")
            out.append(
                "  sampler misses: \(h.samplerMisses.text); pairs with a miss \(String(format: "%.4f", h.pairsWithMisses)); ambiguous positions \(h.ambiguousPositions); impossible tokens \(h.impossibleTokens)"
            )
            if let z = h.likelihoodZ, let low = h.likelihoodZMin {
                out.append(
                    "  likelihood z (test 4, sampled pairs): p50 \(String(format: "%.2f", z.p50)), mean \(String(format: "%.2f", z.mean)), min \(String(format: "%.2f", low))"
                )
            }
            out.append(
                "  failures at validation_threshold \(thresholdPpm) ppm: \(h.failures) \(h.failureReasons.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
            )
            for c in cheats {
                out.append(
                    "\(c.cheat.rawValue): detected \(c.detected)/\(c.inferences) (\(String(format: "%.1f%%", 100 * c.detectionRate))), of altered outputs \(c.alteredDetected)/\(c.altered) (\(String(format: "%.1f%%", 100 * c.alteredDetectionRate))), greedy \(c.greedyDetected)/\(c.greedy); first failing test \(c.byReason.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")); distribution failed \(c.distributionFailed), sampler failed \(c.samplerFailed)"
                )
                out.append("  distance_ppm: \(c.distancePpm.text); sampler misses: \(c.samplerMisses.text)")
                out.append(
                    "  validations until INVALID (§7.4): in order \(c.validationsToInvalidInOrder.map(String.init) ?? "never"), over \(ValidationBenchmark.shuffles) shuffles median \(c.validationsToInvalidMedian) max \(c.validationsToInvalidMax) (never \(c.ordersNeverInvalid)); at measured P0 median \(c.validationsToInvalidMedianAtMeasuredP0) max \(c.validationsToInvalidMaxAtMeasuredP0)"
                )
            }
            out.append(
                "proposed: validation_threshold_ppm \(proposed.validationThresholdPpm) (honest failures there \(proposed.honestFailuresAtProposed)), honest_fail_rate_ppb \(proposed.honestFailRatePpb); detection there: \(proposed.detectionAtProposed.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f%%", 100 * $0.value))" }.joined(separator: ", "))"
            )
            if let c = cost {
                out.append(
                    "cost (\(c.inferences) inferences, mean \(String(format: "%.1f", c.meanOutputTokens)) output tokens, 1 thread each): generate \(String(format: "%.1f", c.generateMs)) ms CPU, validate \(String(format: "%.1f", c.validateMs)) ms CPU (score alone \(String(format: "%.1f", c.scoreWithoutReplayMs)) ms), ratio \(String(format: "%.2f%%", 100 * c.ratio))"
                )
            }
            return out
        }
    }

    /// Shuffled orders the validations-until-INVALID spread is taken over.
    public static let shuffles = 100

    /// The number of validations after which `test` says INVALID for `failed` in order (nil: never).
    static func validationsUntilInvalid(_ failed: [Bool], test: SequentialTest) -> Int? {
        var state = SequentialTest.State.initial
        for (i, f) in failed.enumerated() {
            state = test.recording(f ? .invalidated : .validated, in: state)
            if state.isInvalid { return i + 1 }
        }
        return nil
    }

    /// Median and max of ``validationsUntilInvalid(_:test:)`` over seeded shuffles (never = count + 1),
    /// and the number of orders that never reached INVALID.
    static func shuffled(_ failed: [Bool], test: SequentialTest, seed: UInt64) -> (median: Int, max: Int, never: Int) {
        var stream = PhiloxStream(seedString: "gonka/bench/validation/shuffle/\(seed)")
        var results: [Int] = []
        var never = 0
        var order = failed
        for _ in 0..<shuffles {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(stream.nextUInt32() % UInt32(i + 1)))
            }
            if let n = validationsUntilInvalid(order, test: test) {
                results.append(n)
            } else {
                never += 1
                results.append(order.count + 1)
            }
        }
        results.sort()
        return (results[results.count / 2], results.last ?? 0, never)
    }
}

extension ValidationBenchmark.HonestReport {
    init(_ samples: [ValidationBenchmark.Sample], emptyOutputs: Int) {
        pairs = samples.count
        greedy = samples.count(where: \.greedy)
        self.emptyOutputs = emptyOutputs
        shortPairs = samples.count { $0.input.completionTokens <= 4 }
        outputTokens = samples.reduce(0) { $0 + Int($1.input.completionTokens) }
        distancePpm = .init(samples.map { Double($0.verdict.distancePpm) })
        positionsAboveCeilingMax = samples.map(\.verdict.positionsAboveCeiling).max() ?? 0
        samplerMisses = .init(samples.map { Double($0.verdict.samplerMisses) })
        pairsWithMisses = Double(samples.count { $0.verdict.samplerMisses > 0 }) / Double(max(samples.count, 1))
        ambiguousPositions = samples.reduce(0) { $0 + $1.ambiguous }
        impossibleTokens = samples.reduce(0) { $0 + $1.verdict.impossibleTokens }
        let failed = samples.filter { !$0.verdict.passed }
        failures = failed.count
        failureReasons = Dictionary(grouping: failed) { $0.verdict.reason?.rawValue ?? "?" }.mapValues(\.count)
        let zs = samples.compactMap(\.verdict.likelihoodZ)
        likelihoodZ = zs.isEmpty ? nil : .init(zs)
        likelihoodZMin = zs.min()
    }
}

extension ValidationBenchmark.CheatReport {
    init(
        _ cheat: ValidationBenchmark.CheatClass, _ samples: [ValidationBenchmark.Sample], test: SequentialTest,
        measuredTest: SequentialTest, seed: UInt64
    ) {
        self.cheat = cheat
        inferences = samples.count
        let failed = samples.map { !$0.verdict.passed }
        detected = failed.count(where: { $0 })
        detectionRate = Double(detected) / Double(max(samples.count, 1))
        altered = samples.count(where: \.altered)
        alteredDetected = samples.count { $0.altered && !$0.verdict.passed }
        alteredDetectionRate = Double(alteredDetected) / Double(max(altered, 1))
        greedy = samples.count(where: \.greedy)
        greedyDetected = samples.count { $0.greedy && !$0.verdict.passed }
        byReason = Dictionary(grouping: samples.filter { !$0.verdict.passed }) { $0.verdict.reason?.rawValue ?? "?" }
            .mapValues(\.count)
        distributionFailed = samples.count { $0.verdict.reason == .distribution }
        // The sampler test's own rule, whatever failed first.
        samplerFailed = samples.count {
            let n = Int($0.input.completionTokens)
            return $0.verdict.samplerMisses > Int(MissTolerance.replay(positions: UInt64(n)))
                || $0.verdict.impossibleTokens > 0
        }
        distancePpm = .init(samples.map { Double($0.verdict.distancePpm) })
        samplerMisses = .init(samples.map { Double($0.verdict.samplerMisses) })
        validationsToInvalidInOrder = ValidationBenchmark.validationsUntilInvalid(failed, test: test)
        let spread = ValidationBenchmark.shuffled(failed, test: test, seed: seed)
        validationsToInvalidMedian = spread.median
        validationsToInvalidMax = spread.max
        ordersNeverInvalid = spread.never
        let measured = ValidationBenchmark.shuffled(failed, test: measuredTest, seed: seed)
        validationsToInvalidMedianAtMeasuredP0 = measured.median
        validationsToInvalidMaxAtMeasuredP0 = measured.max
    }
}
