import GonkaCore
import GonkaWire

/// The per-model dynamic price of PROTOCOL §6.5, in integers only.
///
/// The price is kept in micro-ngonka per token (`price_micro`) so steps of a fraction of a percent
/// accumulate even at a price of a few ngonka; what requests pay is `price_micro / 10⁶` ngonka per
/// token, never below `min_price`. Once per block:
/// * `u_ppm = tokens charged in the last price_window_seconds of block time × 10⁶ / (capacity ×
///   window)`, capacity = `tokens_per_second_per_weight` × the total weight serving the model;
/// * below the band: factor = 1 − min((low − u) × elasticity, max_step); above: 1 + min((u − high)
///   × elasticity, max_step); inside: unchanged (all in ppm, products floored);
/// * `price_micro = max(⌊price_micro × factor / 10⁶⌋, min_price × 10⁶)`.
extension Inference {
    static let microPerNgonka: UInt64 = 1_000_000
    static let ppm: UInt64 = 1_000_000

    /// The price per token requests for `model` pay now.
    static func currentPrice(_ model: String, params: ChainParams, in state: StateContext) throws(LedgerError) -> UInt64
    {
        let record = try state.record(Wire.ModelPrice.self, at: StateKey.modelPrice(model), what: "price of \(model)")
        return chargedPrice(priceMicro: record?.priceMicro ?? params.startPrice * microPerNgonka, params: params)
    }

    static func chargedPrice(priceMicro: UInt64, params: ChainParams) -> UInt64 {
        max(priceMicro / microPerNgonka, params.minPrice)
    }

    /// The price step for utilisation `utilisationPPM` (pure; the unit tests check it by hand).
    static func nextPriceMicro(_ priceMicro: UInt64, utilisationPPM u: UInt64, params: ChainParams) -> UInt64 {
        let factor: UInt64
        if u < params.priceBandLowPpm {
            let step = UInt128(params.priceBandLowPpm - u) * UInt128(params.priceElasticityPpm) / UInt128(ppm)
            factor = ppm - UInt64(min(step, UInt128(min(params.priceMaxStepPpm, ppm))))
        } else if u > params.priceBandHighPpm {
            let excess = UInt128(u - params.priceBandHighPpm) * UInt128(params.priceElasticityPpm) / UInt128(ppm)
            factor = ppm + UInt64(min(excess, UInt128(params.priceMaxStepPpm)))
        } else {
            factor = ppm
        }
        let next = UInt128(priceMicro) * UInt128(factor) / UInt128(ppm)
        let floor = UInt128(params.minPrice) * UInt128(microPerNgonka)
        return UInt64(clamping: max(next, floor))
    }

    /// Utilisation in ppm of `tokens` over a window at `capacityPerSecond`; `nil` when the model
    /// has no capacity (nobody serves it): its price then holds.
    static func utilisationPPM(tokens: UInt64, capacityPerSecond: UInt128, windowSeconds: UInt64) -> UInt64? {
        let denominator = capacityPerSecond * UInt128(windowSeconds)
        guard denominator > 0 else { return nil }
        return UInt64(clamping: UInt128(tokens) * UInt128(ppm) / denominator)
    }

    /// Adds charged tokens to the model's usage window at block time `time`.
    static func recordUsage(model: String, tokens: UInt64, time: Int64, in state: StateContext) throws(LedgerError) {
        var price =
            try state.record(Wire.ModelPrice.self, at: StateKey.modelPrice(model), what: "price of \(model)")
            ?? Wire.ModelPrice()
        price.model = model
        if let last = price.usage.last, last.time == time {
            price.usage[price.usage.count - 1].tokens = last.tokens &+ tokens
        } else {
            var bucket = Wire.UsageBucket()
            bucket.time = time
            bucket.tokens = tokens
            price.usage.append(bucket)
        }
        try state.setRecord(price, at: StateKey.modelPrice(model))
    }

    /// Moves every registered model's price one step (end-block, id order).
    static func updatePrices(context: BlockContext, params: ChainParams, state: StateContext) throws(LedgerError) {
        let models = try models(in: state)
        guard !models.isEmpty else { return }
        let totalWeight = try candidates(of: executorSet(in: state)).reduce(UInt128(0)) { $0 + UInt128($1.weight) }
        let windowNs = Int128(params.priceWindowSeconds) * 1_000_000_000
        for model in models {
            let key = StateKey.modelPrice(model.id)
            let old = try state.record(Wire.ModelPrice.self, at: key, what: "price of \(model.id)")
            var price = old ?? Wire.ModelPrice()
            if old == nil {
                price.model = model.id
                price.priceMicro = params.startPrice * microPerNgonka
            }
            price.usage.removeAll { Int128($0.time) <= Int128(context.time) - windowNs }
            let tokens = UInt64(clamping: price.usage.reduce(UInt128(0)) { $0 + UInt128($1.tokens) })
            let capacity = UInt128(model.tokensPerSecondPerWeight) * totalWeight
            if let u = utilisationPPM(
                tokens: tokens, capacityPerSecond: capacity, windowSeconds: params.priceWindowSeconds)
            {
                price.priceMicro = nextPriceMicro(price.priceMicro, utilisationPPM: u, params: params)
                price.utilisationPpm = u
            }
            if price != old {
                price.updatedHeight = context.height
                try state.setRecord(price, at: key)
            }
        }
    }
}
