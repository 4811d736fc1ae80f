import GonkaCore
import GonkaWire

/// Read-only views of module Inference for queries (chain RPC, `Ledger` accessors), over any
/// `StateStore` — the chain node passes a view of one committed version.
public enum InferenceQueries {
    /// A registered model with its current price.
    public struct ModelView: Sendable, Hashable {
        public let info: Wire.ModelInfo
        /// What a request pays per token now, in ngonka.
        public let pricePerToken: UInt64
        public let priceMicro: UInt64
        public let utilisationPPM: UInt64
        /// Tokens charged within the current price window.
        public let windowTokens: UInt64
    }

    /// What a Transfer Agent needs to call ``ExecutorDraw/executor(inferenceID:epochSeed:attempt:transferAgent:candidates:)``.
    public struct ExecutorsView: Sendable, Hashable {
        public let model: String
        public let epoch: UInt64
        public let epochSeed: Hash
        public let candidates: [ExecutorDraw.Candidate]
    }

    public static func record(_ id: String, in store: any StateStore) throws(LedgerError) -> Wire.InferenceRecord? {
        try Inference.record(id, in: StateContext(store: store))
    }

    public static func misses(_ address: Address, in store: any StateStore) throws(LedgerError) -> Wire.MissRecord? {
        try Inference.misses(address, in: StateContext(store: store))
    }

    /// The executor pool for `model`; throws `unknown_model` for a model not registered.
    public static func executors(model: String, in store: any StateStore) throws(LedgerError) -> ExecutorsView {
        let state = StateContext(store: store)
        let (seed, candidates) = try Inference.executorCandidates(model: model, in: state)
        return ExecutorsView(
            model: model, epoch: try Inference.currentEpoch(in: state), epochSeed: seed, candidates: candidates)
    }

    /// Every registered model, in id order, with its price.
    public static func models(params: ChainParams, in store: any StateStore) throws(LedgerError) -> [ModelView] {
        let state = StateContext(store: store)
        var out: [ModelView] = []
        for info in try Inference.models(in: state) {
            let price = try state.record(
                Wire.ModelPrice.self, at: StateKey.modelPrice(info.id), what: "price of \(info.id)")
            let micro = price?.priceMicro ?? params.startPrice * Inference.microPerNgonka
            out.append(
                ModelView(
                    info: info, pricePerToken: Inference.chargedPrice(priceMicro: micro, params: params),
                    priceMicro: micro, utilisationPPM: price?.utilisationPpm ?? 0,
                    windowTokens: price?.usage.reduce(UInt64(0)) { $0 &+ $1.tokens } ?? 0))
        }
        return out
    }

    /// The executor's earnings recorded for `epoch` (paid out later by Rewards).
    public static func earnings(epoch: UInt64, address: Address, in store: any StateStore) throws(LedgerError) -> Amount
    {
        try Inference.earnings(epoch: epoch, address: address, in: StateContext(store: store))
    }

    /// The status name used in JSON and the CLI (`STARTED`, `FINISHED`, …).
    public static func statusName(_ status: Wire.InferenceStatus) -> String {
        switch status {
        case .started: "STARTED"
        case .finished: "FINISHED"
        case .validated: "VALIDATED"
        case .voting: "VOTING"
        case .invalidated: "INVALIDATED"
        case .expired: "EXPIRED"
        case .awaitingStart: "AWAITING_START"
        case .unspecified, .UNRECOGNIZED: "UNSPECIFIED"
        }
    }
}

extension Ledger {
    /// The record of inference `id` in committed state.
    public func inference(_ id: String) throws(LedgerError) -> Wire.InferenceRecord? {
        try InferenceQueries.record(id, in: committedStore)
    }

    public func misses(_ address: Address) throws(LedgerError) -> Wire.MissRecord? {
        try InferenceQueries.misses(address, in: committedStore)
    }

    public func executors(model: String) throws(LedgerError) -> InferenceQueries.ExecutorsView {
        try InferenceQueries.executors(model: model, in: committedStore)
    }

    public func models() throws(LedgerError) -> [InferenceQueries.ModelView] {
        try InferenceQueries.models(params: params, in: committedStore)
    }

    public func earnings(epoch: UInt64, address: Address) throws(LedgerError) -> Amount {
        try InferenceQueries.earnings(epoch: epoch, address: address, in: committedStore)
    }
}
