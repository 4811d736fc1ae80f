/// The two amounts of an inference (PROTOCOL §6.2 step 2, §6.4), one home for the Transfer Agent's
/// admission check and the ledger's settlement:
/// `escrow = (prompt_tokens + max_tokens) × price` and
/// `cost = (prompt_tokens + completion_tokens) × price`.
/// Both are computed in `UInt128`; `nil` means the amount does not fit in `UInt64` ngonka.
public enum InferencePricing {
    /// What the Transfer Agent reserves and `MsgStartInference` moves into the module account.
    public static func escrow(promptTokens: UInt64, maxTokens: UInt64, price: UInt64) -> Amount? {
        charge(promptTokens, maxTokens, price: price)
    }

    /// What the requester pays once both halves are in (the rest of the escrow is refunded).
    public static func cost(promptTokens: UInt64, completionTokens: UInt64, price: UInt64) -> Amount? {
        charge(promptTokens, completionTokens, price: price)
    }

    private static func charge(_ tokens: UInt64, _ more: UInt64, price: UInt64) -> Amount? {
        let (product, overflow) = (UInt128(tokens) + UInt128(more)).multipliedReportingOverflow(by: UInt128(price))
        guard !overflow, let ngonka = UInt64(exactly: product) else { return nil }
        return Amount(ngonka: ngonka)
    }
}
