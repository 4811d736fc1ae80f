extension InferenceCheck {
    /// Result of test 3, or of the greedy form of test 4.
    struct SamplerMeasure {
        var misses: Int
        var impossible: Int

        /// Fails if misses exceed `tolerated` or any token is impossible.
        func failed(tolerated: Int) -> Bool {
            misses > tolerated || impossible > 0
        }
    }

    /// Logprob at or below which an emitted token is impossible (PROTOCOL §7.2 test 3).
    static let impossibleLogprob = -20.0

    /// Test 3 (PROTOCOL §7.2) from the validator's replayed sampler: a miss is a position whose drawn
    /// token is not the executor's and whose draw is not ambiguous; an impossible token is one outside
    /// the validator's sampling support or with forced logprob ≤ −20. A position may be both (an
    /// impossible token is also not the one drawn); each count is reported as measured. A
    /// `constrained` request's support is the grammar's, exactly: only `outsideSupport` counts.
    static func sampler(
        executor: [ExecutorPosition], validator: [ValidatorPosition], constrained: Bool = false
    ) -> SamplerMeasure {
        var measure = SamplerMeasure(misses: 0, impossible: 0)
        for (e, v) in zip(executor, validator) {
            guard let verdict = v.sampler else { continue }  // checked before: native positions have one
            if verdict.drawn != e.token && !verdict.ambiguous { measure.misses += 1 }
            if verdict.outsideSupport || (!constrained && v.forcedLogprob <= impossibleLogprob) {
                measure.impossible += 1
            }
        }
        return measure
    }
}
