import GonkaCore

/// The validator's check of one inference (PROTOCOL §7.2), a pure function of the payload, the
/// validator's teacher-forced scores and the thresholds. Four tests; the first that fails names the
/// ``Verdict/reason``:
///
/// 1. `commitment` (``Reason/commitment``): the payload hashes to `response_commitment`, has
///    `completion_tokens` positions, and each position is well formed. No payload: `unavailable`.
/// 2. `distribution`: the distance of the executor's top-k logprobs from the validator's
///    (``distance(executor:validator:)``), its corrected mean against `validation_threshold`, and the
///    count of positions above `position_ceiling` against ⌊0.02·N⌋.
/// 3. `sampler` (models whose sampler is ``SamplerKind/native``): misses and impossible tokens from
///    the validator's replayed sampler.
/// 4. `likelihood` (``SamplerKind/opaque`` models, instead of 3): the emitted tokens' logprobs agree,
///    and the sequence's log-likelihood is not more than `likelihood_margin` standard errors below
///    its expectation under the requested sampling.
///
/// Tests 2–4 are all measured once the commitment holds, so the verdict carries every measure
/// (`MsgValidation` puts `distance_ppm` and `sampler_misses` on chain whatever the outcome).
/// Floating point is fine here: only the verdict and the measured integers leave the validator.
/// Every choice §7.2 leaves open is stated on the member that makes it and in docs/VALIDATION.md.
public struct InferenceCheck: Sendable {
    public let thresholds: Thresholds

    public init(thresholds: Thresholds) {
        self.thresholds = thresholds
    }

    /// The verdict for `input`. Throws only when the **validator's** own scores do not fit the
    /// payload (a local fault that must not be blamed on the executor).
    public func evaluate(_ input: Input) throws(InferenceCheckError) -> Verdict {
        guard let payload = input.payload else { return .failed(.unavailable) }
        guard Self.commitmentHolds(payload, commitment: input.responseCommitment, tokens: input.completionTokens)
        else { return .failed(.commitment) }
        try Self.checkValidatorScores(input.validator, against: payload.positions, sampler: thresholds.sampler)
        let positions = payload.positions
        let distribution = Self.distribution(executor: positions, validator: input.validator, thresholds: thresholds)
        var verdict = Verdict(
            passed: true, reason: nil, distancePpm: distribution.ppm, positionsAboveCeiling: distribution.aboveCeiling,
            samplerMisses: 0, impossibleTokens: 0, likelihoodZ: nil)
        var reasons: [Reason] = distribution.failed ? [.distribution] : []
        switch thresholds.sampler {
        case .native:
            let sampler = Self.sampler(
                executor: positions, validator: input.validator, temperature: input.sampling.temperature,
                constrained: input.sampling.constrained)
            verdict.samplerMisses = sampler.misses
            verdict.impossibleTokens = sampler.impossible
            if sampler.failed(tolerated: Int(MissTolerance.replay(positions: UInt64(positions.count)))) {
                reasons.append(.sampler)
            }
        case .opaque where input.sampling.constrained: break
        case .opaque:
            let likelihood = Self.likelihood(
                executor: positions, validator: input.validator, sampling: input.sampling, thresholds: thresholds)
            verdict.samplerMisses = likelihood.misses
            verdict.impossibleTokens = likelihood.impossible
            verdict.logprobMismatches = likelihood.mismatches
            verdict.likelihoodZ = likelihood.z
            if likelihood.failed { reasons.append(.likelihood) }
        }
        if let first = reasons.first {
            verdict.passed = false
            verdict.reason = first
        }
        return verdict
    }
}

extension InferenceCheck {
    /// A token with its log-probability (natural log).
    public struct TokenLogprob: Sendable, Hashable {
        public var token: UInt32
        public var logprob: Double

        public init(token: UInt32, logprob: Double) {
            self.token = token
            self.logprob = logprob
        }
    }

    /// One output position as the executor's payload reports it.
    public struct ExecutorPosition: Sendable, Hashable {
        /// The emitted token and its reported logprob.
        public var token: UInt32
        public var logprob: Double
        /// The executor's top-k (any order; §6.3 forces k ≥ 5).
        public var top: [TokenLogprob]

        public init(token: UInt32, logprob: Double, top: [TokenLogprob]) {
            self.token = token
            self.logprob = logprob
            self.top = top
        }
    }

    /// What the validator's replayed sampler (native engines only) says about one position.
    public struct SamplerVerdict: Sendable, Hashable {
        /// The token the validator's sampler draws (the argmax for greedy requests).
        public var drawn: UInt32
        /// The position's uniform falls within `sampler_margin` of the boundary between the drawn
        /// and the executor's token: not counted as a miss.
        public var ambiguous: Bool
        /// The executor's token is outside the validator's sampling support (filtered by
        /// top-k/top-p/min-p with margin): an impossible token.
        public var outsideSupport: Bool

        public init(drawn: UInt32, ambiguous: Bool = false, outsideSupport: Bool = false) {
            self.drawn = drawn
            self.ambiguous = ambiguous
            self.outsideSupport = outsideSupport
        }
    }

    /// The validator's teacher-forced scores of one position (`POST /v1/score`).
    public struct ValidatorPosition: Sendable, Hashable {
        /// The forced token (must be the executor's) and its logprob under the validator's model.
        public var forcedToken: UInt32
        public var forcedLogprob: Double
        /// The validator's top-k raw logprobs (any order).
        public var top: [TokenLogprob]
        /// Required for ``SamplerKind/native`` models, ignored for opaque ones.
        public var sampler: SamplerVerdict?

        public init(forcedToken: UInt32, forcedLogprob: Double, top: [TokenLogprob], sampler: SamplerVerdict? = nil) {
            self.forcedToken = forcedToken
            self.forcedLogprob = forcedLogprob
            self.top = top
            self.sampler = sampler
        }
    }

    /// The sampling the request asked for (after the executor's rewrite, §6.3).
    public struct Sampling: Sendable, Hashable {
        /// 0 = greedy.
        public var temperature: Double
        /// 0 = off.
        public var topK: Int
        /// 1 = off.
        public var topP: Double
        /// 0 = off.
        public var minP: Double
        /// The draws were shaped beyond the bare model's distribution: by a grammar (structured
        /// output) or by `logit_bias` and penalties. The sampler's replay applies the same shaping,
        /// so its support is exact and a token the shaping favoured may be improbable under the
        /// bare model (the negligible-probability rule is not applied); an opaque engine's likelihood test, which
        /// cannot see the shaping, is not run.
        public var constrained: Bool

        public init(
            temperature: Double = 1, topK: Int = 0, topP: Double = 1, minP: Double = 0, constrained: Bool = false
        ) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
            self.minP = minP
            self.constrained = constrained
        }

        /// Temperature 0.
        public static let greedy = Sampling(temperature: 0)
    }

    /// Whether the model's engine sampler can be replayed by the validator (model registry, §7.2).
    public enum SamplerKind: String, Sendable, Hashable, Codable {
        case native
        case opaque
    }

    /// The thresholds of the check.
    public struct Thresholds: Sendable, Hashable {
        /// The model's `validation_threshold` on the corrected mean distance.
        public var validationThreshold: Double
        /// Per-position distance ceiling (0.30).
        public var positionCeiling: Double
        /// Probability mass within which a boundary is ambiguous (1e-3).
        public var samplerMargin: Double
        /// Standard errors (4).
        public var likelihoodMargin: Double
        /// The opaque likelihood test's margin for its greedy argmax rule and its support filters
        /// (0.10): another engine's logprobs of the model differ by cross-engine noise, not 1e-3.
        public var opaqueMargin: Double
        public var sampler: SamplerKind

        public init(
            validationThreshold: Double, positionCeiling: Double = 0.30, samplerMargin: Double = 1e-3,
            likelihoodMargin: Double = 4, opaqueMargin: Double = 0.1, sampler: SamplerKind
        ) {
            self.validationThreshold = validationThreshold
            self.positionCeiling = positionCeiling
            self.samplerMargin = samplerMargin
            self.likelihoodMargin = likelihoodMargin
            self.opaqueMargin = opaqueMargin
            self.sampler = sampler
        }

        /// The shared thresholds of ``ValidationParams`` with the model's own.
        public init(params: ValidationParams, validationThreshold: Double, sampler: SamplerKind) {
            self.init(
                validationThreshold: validationThreshold, positionCeiling: Double(params.positionCeilingPpm) / 1e6,
                samplerMargin: Double(params.samplerMarginPpm) / 1e6,
                likelihoodMargin: Double(params.likelihoodMarginPpm) / 1e6,
                opaqueMargin: Double(params.opaqueMarginPpm) / 1e6, sampler: sampler)
        }
    }

    /// The fetched payload: its canonical bytes (hashed here) and the positions decoded from them.
    public struct Payload: Sendable, Hashable {
        public var bytes: [UInt8]
        public var positions: [ExecutorPosition]

        public init(bytes: [UInt8], positions: [ExecutorPosition]) {
            self.bytes = bytes
            self.positions = positions
        }
    }

    /// Everything the check reads.
    public struct Input: Sendable, Hashable {
        /// `nil` when the executor did not serve the payload.
        public var payload: Payload?
        /// From `MsgFinishInference`.
        public var responseCommitment: Hash
        public var completionTokens: UInt64
        /// One per output position, in order.
        public var validator: [ValidatorPosition]
        public var sampling: Sampling

        public init(
            payload: Payload?, responseCommitment: Hash, completionTokens: UInt64, validator: [ValidatorPosition],
            sampling: Sampling
        ) {
            self.payload = payload
            self.responseCommitment = responseCommitment
            self.completionTokens = completionTokens
            self.validator = validator
            self.sampling = sampling
        }
    }

    /// Why an inference failed (the `reason` of `MsgValidation`).
    public enum Reason: String, Sendable, Hashable, Codable {
        case commitment
        case distribution
        case sampler
        case likelihood
        case unavailable
    }

    /// The outcome and its measures.
    public struct Verdict: Sendable, Hashable {
        public var passed: Bool
        /// The first failing test, `nil` when passed.
        public var reason: Reason?
        /// The corrected mean distance, in parts per million, rounded to nearest.
        public var distancePpm: UInt64
        /// Positions whose distance is above `position_ceiling`.
        public var positionsAboveCeiling: Int
        /// Sampler misses (native), or argmax misses of a greedy opaque request.
        public var samplerMisses: Int
        /// Tokens outside the validator's sampling support, or of negligible probability under the
        /// requested sampling (``isNegligible(_:top:temperature:)``).
        public var impossibleTokens: Int
        /// Opaque models: emitted tokens whose reported logprob is farther than `position_ceiling`
        /// (one-token distance) from the validator's.
        public var logprobMismatches: Int
        /// The likelihood test's z-score (opaque, sampled requests only).
        public var likelihoodZ: Double?

        public init(
            passed: Bool, reason: Reason?, distancePpm: UInt64, positionsAboveCeiling: Int, samplerMisses: Int,
            impossibleTokens: Int, logprobMismatches: Int = 0, likelihoodZ: Double?
        ) {
            self.passed = passed
            self.reason = reason
            self.distancePpm = distancePpm
            self.positionsAboveCeiling = positionsAboveCeiling
            self.samplerMisses = samplerMisses
            self.impossibleTokens = impossibleTokens
            self.logprobMismatches = logprobMismatches
            self.likelihoodZ = likelihoodZ
        }

        static func failed(_ reason: Reason) -> Verdict {
            Verdict(
                passed: false, reason: reason, distancePpm: 0, positionsAboveCeiling: 0, samplerMisses: 0,
                impossibleTokens: 0, likelihoodZ: nil)
        }
    }
}

/// The validator's scores do not fit the payload: a fault on the validator's side, not a verdict.
public struct InferenceCheckError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case positionCount(payload: Int, validator: Int)
        case forcedToken(position: Int)
        case malformedScores(position: Int)
        case missingSamplerVerdict(position: Int)
    }

    private let code: Code

    /// The validator scored a different number of positions than the payload has.
    public static func positionCount(payload: Int, validator: Int) -> Self {
        Self(code: .positionCount(payload: payload, validator: validator))
    }
    /// The validator forced a different token than the executor emitted.
    public static func forcedToken(position: Int) -> Self { Self(code: .forcedToken(position: position)) }
    /// An empty top-k or a non-finite logprob in the validator's scores.
    public static func malformedScores(position: Int) -> Self { Self(code: .malformedScores(position: position)) }
    /// A native model's position without the replayed sampler's verdict.
    public static func missingSamplerVerdict(position: Int) -> Self {
        Self(code: .missingSamplerVerdict(position: position))
    }

    /// A label without associated values (safe for metrics).
    public var shortDescription: String {
        switch code {
        case .positionCount: "position_count"
        case .forcedToken: "forced_token"
        case .malformedScores: "malformed_scores"
        case .missingSamplerVerdict: "missing_sampler_verdict"
        }
    }

    public var description: String {
        switch code {
        case .positionCount(let p, let v): "the payload has \(p) positions, the validator scored \(v)"
        case .forcedToken(let i): "position \(i): the validator forced another token than the executor emitted"
        case .malformedScores(let i): "position \(i): the validator's scores are empty or not finite"
        case .missingSamplerVerdict(let i): "position \(i): no sampler verdict for a native model"
        }
    }
}
