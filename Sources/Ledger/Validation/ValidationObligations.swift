import GonkaCore

/// The seed-obligation function of PROTOCOL §7.1 and §8.4: from a participant's secret epoch seed
/// and the epoch's finished inferences, the inference ids it had to validate. The validator runs it
/// as inferences finish; the ledger runs it again at the claim with the revealed seed, and a missing
/// `MsgValidation` for any id forfeits the settlement. Both must pass the same ``Snapshot``: values
/// fixed for the whole epoch (see its fields), never values that change while the epoch runs.
public enum ValidationObligations {
    /// A finished inference as the obligation needs it.
    public struct FinishedInference: Sendable, Hashable {
        public let id: String
        public let executor: Address
        public let model: String

        public init(id: String, executor: Address, model: String) {
            self.id = id
            self.executor = executor
            self.model = model
        }
    }

    /// The epoch-fixed inputs of every decision.
    public struct Snapshot: Sendable, Hashable {
        /// The traffic R of the floor: by this implementation's choice the number of inferences
        /// finished in the **previous** epoch, so it is known when the first inference finishes.
        public var traffic: UInt64
        /// Per model, the participants serving it with their epoch weight. Serving a model means
        /// appearing here with a positive weight; the model's total weight is the sum of its map.
        public var modelWeights: [String: [Address: UInt64]]
        /// Executors' reputation scores (0...100) at the epoch's start; missing means 0 (new).
        public var reputations: [Address: UInt64]

        public init(traffic: UInt64, modelWeights: [String: [Address: UInt64]], reputations: [Address: UInt64]) {
            self.traffic = traffic
            self.modelWeights = modelWeights
            self.reputations = reputations
        }
    }

    /// p for `validator` and one inference: zero for its own inferences and for models it does not
    /// serve (positive weight in ``Snapshot/modelWeights``).
    public static func probability(
        validator: Address, inference: FinishedInference, snapshot: Snapshot, params: ValidationParams
    ) throws(ValidationSamplingError) -> ValidationSampling.Probability {
        guard let weights = snapshot.modelWeights[inference.model] else { return .zero }
        return try probability(
            validator: validator, inference: inference, weights: weights, modelTotal: totalWeight(weights),
            snapshot: snapshot, params: params)
    }

    /// ``probability(validator:inference:snapshot:params:)`` with the model's weights and their
    /// total already looked up (the claim audit sums each model once, not once per inference).
    static func probability(
        validator: Address, inference: FinishedInference, weights: [Address: UInt64], modelTotal: UInt64,
        snapshot: Snapshot, params: ValidationParams
    ) throws(ValidationSamplingError) -> ValidationSampling.Probability {
        guard inference.executor != validator, let own = weights[validator], own > 0 else { return .zero }
        return try ValidationSampling.probability(
            traffic: snapshot.traffic, reputation: snapshot.reputations[inference.executor] ?? 0, ownWeight: own,
            modelTotalWeight: modelTotal, executorWeight: weights[inference.executor] ?? 0, params: params)
    }

    /// A model's total weight, summed in UInt128 and saturated: weights are UInt64 and a sum above
    /// UInt64.max is no real epoch.
    static func totalWeight(_ weights: [Address: UInt64]) -> UInt64 {
        let total = weights.values.reduce(UInt128(0)) { $0 + UInt128($1) }
        return UInt64(min(total, UInt128(UInt64.max)))
    }

    /// The ids `seed` obliged `validator` to validate among `inferences`, sorted (byte order of the
    /// UTF-8 id) and without duplicates.
    public static func obligations(
        validator: Address, seed: Hash, inferences: [FinishedInference], snapshot: Snapshot, params: ValidationParams
    ) throws(ValidationSamplingError) -> [String] {
        var ids = Set<String>()
        var totals: [String: UInt64] = [:]
        for inference in inferences where !ids.contains(inference.id) {
            guard let weights = snapshot.modelWeights[inference.model] else { continue }
            let total: UInt64
            if let known = totals[inference.model] {
                total = known
            } else {
                total = totalWeight(weights)
                totals[inference.model] = total
            }
            let p = try probability(
                validator: validator, inference: inference, weights: weights, modelTotal: total, snapshot: snapshot,
                params: params)
            if p.numerator > 0, ValidationSampling.isObliged(seed: seed, inferenceID: inference.id, probability: p) {
                ids.insert(inference.id)
            }
        }
        return ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
