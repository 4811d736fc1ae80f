import GonkaCore
import Testing

/// The rules of PROTOCOL §6 that both the API node and the ledger apply, each implemented once:
/// the request window (§6.1) and the escrow and cost (§6.2, §6.4).
@Suite struct InferenceRulesTests {
    static let second: Int64 = 1_000_000_000

    @Test func requestWindowIsInclusiveSixtyBehindThirtyAheadByDefault() {
        let window = RequestWindow(ChainParams())
        let now: Int64 = 1_700_000_000 * Self.second
        #expect(window.place(now, reference: now) == .inside)
        #expect(window.place(now - 60 * Self.second, reference: now) == .inside)
        #expect(window.place(now - 60 * Self.second - 1, reference: now) == .tooOld)
        #expect(window.place(now + 30 * Self.second, reference: now) == .inside)
        #expect(window.place(now + 30 * Self.second + 1, reference: now) == .tooFarAhead)
        #expect(window.spanNanoseconds == 90 * Self.second)
    }

    @Test func requestWindowFollowsTheParametersAndNeverOverflows() {
        var params = ChainParams()
        params.requestMaxAgeSeconds = 5
        params.requestMaxFutureSeconds = 0
        let window = RequestWindow(params)
        #expect(window.place(-5 * Self.second, reference: 0) == .inside)
        #expect(window.place(1, reference: 0) == .tooFarAhead)
        // Extreme timestamps and references are compared exactly, not wrapped.
        #expect(window.place(.min, reference: .max) == .tooOld)
        #expect(window.place(.max, reference: .min) == .tooFarAhead)
        params.requestMaxAgeSeconds = .max
        params.requestMaxFutureSeconds = .max
        let huge = RequestWindow(params)
        #expect(huge.maxAgeNanoseconds == .max)
        #expect(huge.spanNanoseconds == .max)
        // Int64.min lies exactly one nanosecond past 0 − Int64.max.
        #expect(huge.place(.min + 1, reference: 0) == .inside)
        #expect(huge.place(.min, reference: 0) == .tooOld)
    }

    @Test func escrowAndCostAreTokensTimesPriceOrNilPastUInt64() {
        #expect(InferencePricing.escrow(promptTokens: 7, maxTokens: 100, price: 3) == Amount(ngonka: 321))
        #expect(InferencePricing.cost(promptTokens: 7, completionTokens: 10, price: 3) == Amount(ngonka: 51))
        #expect(InferencePricing.escrow(promptTokens: 0, maxTokens: 0, price: .max) == .zero)
        #expect(InferencePricing.escrow(promptTokens: 1, maxTokens: 0, price: .max) == Amount(ngonka: .max))
        // The token sum itself overflows UInt64 but the product with price 0 is 0: still defined.
        #expect(InferencePricing.cost(promptTokens: .max, completionTokens: .max, price: 0) == .zero)
        #expect(InferencePricing.escrow(promptTokens: 1, maxTokens: 1, price: .max) == nil)
        #expect(InferencePricing.cost(promptTokens: .max, completionTokens: 1, price: 1) == nil)
    }
}
