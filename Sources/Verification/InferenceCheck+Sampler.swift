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

    /// The −L of PROTOCOL §7.2's negligible-probability rule (``isNegligible(_:top:temperature:)``).
    static let impossibleLogprob = -25.0

    /// Whether an emitted token's probability under the requested sampling is negligible, so that
    /// no honest draw produces it (PROTOCOL §7.2, tests 3 and 4): its tempered log-weight relative
    /// to the most likely token, `(ℓ − ℓ_max) / T`, is at most −25 (T = 1 for greedy requests,
    /// whose rule is the argmax anyway). Its probability is then below e⁻²⁵ ≈ 1.4·10⁻¹¹, so over a
    /// vocabulary of 2¹⁷ tokens all such tokens together hold less than 2·10⁻⁶ of a position's mass
    /// whatever the distribution: a proof, not a guess.
    ///
    /// Read on the raw logprob ("ℓ ≤ −20", as first built) the rule convicted honest hosts: at
    /// T = 1.3 a small model's flattened tail is drawn from often, and a 26-token answer on a
    /// devnet held a token at ℓ = −20.3 (ℓ_max −1.8, tempered −14.2): every native validator agreed,
    /// so the vote confirmed it and an honest llama.cpp host was INVALIDATED (3 of ~150 checks).
    static func isNegligible(_ forcedLogprob: Double, top: [TokenLogprob], temperature: Double) -> Bool {
        let best = top.lazy.map(\.logprob).filter(\.isFinite).max().map { max($0, forcedLogprob) } ?? forcedLogprob
        let t = temperature > 0 ? temperature : 1
        return (forcedLogprob - best) / t <= impossibleLogprob
    }

    /// Test 3 (PROTOCOL §7.2) from the validator's replayed sampler: a miss is a position whose drawn
    /// token is not the executor's and whose draw is not ambiguous; an impossible token is one outside
    /// the validator's sampling support or of negligible probability (``isNegligible(_:top:temperature:)``).
    /// A position may be both (an impossible token is also not the one drawn); each count is reported
    /// as measured. A `constrained` request's support is the grammar's, exactly: only
    /// `outsideSupport` counts.
    static func sampler(
        executor: [ExecutorPosition], validator: [ValidatorPosition], temperature: Double, constrained: Bool = false
    ) -> SamplerMeasure {
        var measure = SamplerMeasure(misses: 0, impossible: 0)
        for (e, v) in zip(executor, validator) {
            guard let verdict = v.sampler else { continue }  // checked before: native positions have one
            if verdict.drawn != e.token && !verdict.ambiguous { measure.misses += 1 }
            if verdict.outsideSupport
                || (!constrained && isNegligible(v.forcedLogprob, top: v.top, temperature: temperature))
            {
                measure.impossible += 1
            }
        }
        return measure
    }
}
