import GonkaCore

extension InferenceCheck {
    /// Test 1 (PROTOCOL §7.2): SHA-256 of the payload bytes is `response_commitment`, the payload has
    /// `completion_tokens` positions, and every position is well formed: a non-empty top list without
    /// repeated ids, finite logprobs, and — when the emitted token is in its own top list — the same
    /// logprob there as reported for it.
    public static func commitmentHolds(_ payload: Payload, commitment: Hash, tokens: UInt64) -> Bool {
        guard Hash.sha256(parts: [payload.bytes]) == commitment, UInt64(payload.positions.count) == tokens else {
            return false
        }
        return payload.positions.allSatisfy(isWellFormed)
    }

    static func isWellFormed(_ position: ExecutorPosition) -> Bool {
        guard !position.top.isEmpty, position.logprob.isFinite, position.top.allSatisfy({ $0.logprob.isFinite }),
            Set(position.top.map(\.token)).count == position.top.count
        else { return false }
        if let listed = position.top.first(where: { $0.token == position.token }) {
            return listed.logprob == position.logprob
        }
        return true
    }

    /// The validator's scores must cover the same positions and tokens; a mismatch is the
    /// validator's fault, so it throws instead of failing the executor.
    static func checkValidatorScores(
        _ validator: [ValidatorPosition], against executor: [ExecutorPosition], sampler: SamplerKind
    ) throws(InferenceCheckError) {
        guard validator.count == executor.count else {
            throw .positionCount(payload: executor.count, validator: validator.count)
        }
        for (i, (v, e)) in zip(validator, executor).enumerated() {
            guard v.forcedToken == e.token else { throw .forcedToken(position: i) }
            guard !v.top.isEmpty, !v.forcedLogprob.isNaN, v.top.allSatisfy({ $0.logprob.isFinite }) else {
                throw .malformedScores(position: i)
            }
            if sampler == .native, v.sampler == nil { throw .missingSamplerVerdict(position: i) }
        }
    }
}
