/// The request timestamp window of PROTOCOL §6.1: a signed request is accepted only while its
/// timestamp lies within `[reference − request_max_age, reference + request_max_future]`, the
/// reference being the last block time. One home for the ledger's check of `MsgStartInference`
/// and the API node's admission check (the TA and the executor), so both refuse the same requests.
public struct RequestWindow: Sendable, Hashable {
    /// Where a timestamp lies relative to the window.
    public enum Placement: Sendable, Hashable {
        case inside
        case tooOld
        case tooFarAhead
    }

    /// How far behind the reference a timestamp may be, in nanoseconds.
    public var maxAgeNanoseconds: Int64
    /// How far ahead of the reference a timestamp may be, in nanoseconds.
    public var maxFutureNanoseconds: Int64

    public init(maxAgeNanoseconds: Int64, maxFutureNanoseconds: Int64) {
        self.maxAgeNanoseconds = maxAgeNanoseconds
        self.maxFutureNanoseconds = maxFutureNanoseconds
    }

    /// The window the chain's parameters set (`request_max_age_seconds`, `request_max_future_seconds`);
    /// values past `Int64` nanoseconds saturate.
    public init(_ params: ChainParams) {
        self.init(
            maxAgeNanoseconds: Self.nanoseconds(seconds: params.requestMaxAgeSeconds),
            maxFutureNanoseconds: Self.nanoseconds(seconds: params.requestMaxFutureSeconds))
    }

    /// Where `timestamp` (Unix ns) lies around `reference` (Unix ns), in exact integer arithmetic.
    public func place(_ timestamp: Int64, reference: Int64) -> Placement {
        if Int128(timestamp) < Int128(reference) - Int128(maxAgeNanoseconds) { return .tooOld }
        if Int128(timestamp) > Int128(reference) + Int128(maxFutureNanoseconds) { return .tooFarAhead }
        return .inside
    }

    /// The whole span, in nanoseconds: how long a request id must be remembered for replay
    /// protection (a request older than that is refused as stale anyway).
    public var spanNanoseconds: Int64 {
        let (sum, overflow) = maxAgeNanoseconds.addingReportingOverflow(maxFutureNanoseconds)
        return overflow ? .max : sum
    }

    private static func nanoseconds(seconds: UInt64) -> Int64 {
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, let value = Int64(exactly: ns) else { return .max }
        return value
    }
}
