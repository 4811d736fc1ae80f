import GonkaCore

/// The executor-status sequential test of PROTOCOL §7.4, in Q48 fixed point (``FixedLog``): per
/// executor per epoch, the log-likelihood ratio of "cheater" (invalid rate P1) against "honest"
/// (P0 = `honest_fail_rate`) over **confirmed** outcomes only.
///
/// * INVALIDATED adds ``invalidatedStep`` = ln(P1/P0) (> 0);
/// * VALIDATED adds ``validatedStep`` = ln((1−P1)/(1−P0)) (< 0);
/// * the ratio never goes below −``threshold``, so a long honest past buys no free run of cheating;
/// * INVALID once the ratio is ≥ ``threshold`` = ln(1/α). INVALID is final for the epoch: later
///   outcomes leave the state unchanged (the executor is out of the pool at once).
///
/// Each step is one ``FixedLog/ln(_:over:)`` of the ppb integers (ln(p1/p0), ln((10⁹−p1)/(10⁹−p0)),
/// ln(10⁹/α)), so each constant is within 1 ulp (2⁻⁴⁸) of its exact value and the ratio after n
/// outcomes within n ulps. An unchecked inference adds nothing: it never reaches this type.
public struct SequentialTest: Sendable, Hashable {
    /// A confirmed outcome of a checked inference (§7.3).
    public enum Outcome: Sendable, Hashable {
        case validated
        case invalidated
    }

    /// One executor's test in one epoch.
    public struct State: Sendable, Hashable, Codable {
        /// The log-likelihood ratio, Q48 (`FixedLog.one` = 1.0).
        public var llr: Int64
        /// Whether the ratio reached the threshold this epoch.
        public var isInvalid: Bool

        public init(llr: Int64 = 0, isInvalid: Bool = false) {
            self.llr = llr
            self.isInvalid = isInvalid
        }

        /// The state at the start of an epoch.
        public static let initial = State()
    }

    /// ln(P1/P0), Q48.
    public let invalidatedStep: Int64
    /// ln((1−P1)/(1−P0)), Q48.
    public let validatedStep: Int64
    /// ln(1/α), Q48; the floor is its negation.
    public let threshold: Int64

    /// The test for P0, P1, α in parts per billion; they must satisfy 0 < P0 < P1 < 10⁹ and 0 < α < 10⁹.
    public init(
        honestFailRatePpb p0: UInt64, cheaterFailRatePpb p1: UInt64, falseConvictionRatePpb alpha: UInt64
    )
        throws(SequentialTestError)
    {
        let whole: UInt64 = 1_000_000_000
        guard p0 > 0, p0 < p1, p1 < whole else { throw .invalidRates(p0: p0, p1: p1) }
        guard alpha > 0, alpha < whole else { throw .invalidAlpha(alpha) }
        // All arguments are positive here, so `ln` returns a value.
        invalidatedStep = FixedLog.ln(p1, over: p0) ?? 0
        validatedStep = FixedLog.ln(whole - p1, over: whole - p0) ?? 0
        threshold = FixedLog.ln(whole, over: alpha) ?? 0
    }

    /// The test of ``ValidationParams`` (PROTOCOL §12: P0 0.01, P1 0.30, α 1e-6 by default).
    public init(params: ValidationParams) throws(SequentialTestError) {
        try self.init(
            honestFailRatePpb: params.honestFailRatePpb, cheaterFailRatePpb: params.cheaterFailRatePpb,
            falseConvictionRatePpb: params.falseConvictionRatePpb)
    }

    /// The state after one more confirmed outcome.
    public func recording(_ outcome: Outcome, in state: State) -> State {
        guard !state.isInvalid else { return state }
        // |llr| ≤ threshold + step ≤ 2 × 44.4 × 2⁴⁸: no overflow.
        let step = outcome == .invalidated ? invalidatedStep : validatedStep
        let llr = max(state.llr + step, -threshold)
        return State(llr: llr, isInvalid: llr >= threshold)
    }

    /// The state after `outcomes` in order, from `state`.
    public func recording(_ outcomes: some Sequence<Outcome>, from state: State = .initial) -> State {
        outcomes.reduce(state) { recording($1, in: $0) }
    }
}

/// Why a ``SequentialTest`` could not be built from its parameters.
public struct SequentialTestError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case invalidRates(p0: UInt64, p1: UInt64)
        case invalidAlpha(UInt64)
    }

    private let code: Code

    /// P0 and P1 must satisfy 0 < P0 < P1 < 10⁹ ppb.
    public static func invalidRates(p0: UInt64, p1: UInt64) -> Self { Self(code: .invalidRates(p0: p0, p1: p1)) }
    /// α must satisfy 0 < α < 10⁹ ppb.
    public static func invalidAlpha(_ alpha: UInt64) -> Self { Self(code: .invalidAlpha(alpha)) }

    /// A label without associated values (safe for metrics).
    public var shortDescription: String {
        switch code {
        case .invalidRates: "invalid_rates"
        case .invalidAlpha: "invalid_alpha"
        }
    }

    public var description: String {
        switch code {
        case .invalidRates(let p0, let p1): "need 0 < P0 < P1 < 10⁹ ppb, got P0 = \(p0), P1 = \(p1)"
        case .invalidAlpha(let alpha): "need 0 < α < 10⁹ ppb, got \(alpha)"
        }
    }
}
