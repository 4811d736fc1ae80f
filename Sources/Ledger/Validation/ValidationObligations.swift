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
        guard inference.executor != validator, let weights = snapshot.modelWeights[inference.model],
            let own = weights[validator], own > 0
        else { return .zero }
        // Sum in UInt128 and saturate: weights are UInt64 and a sum above UInt64.max is no real epoch.
        let total = weights.values.reduce(UInt128(0)) { $0 + UInt128($1) }
        return try ValidationSampling.probability(
            traffic: snapshot.traffic, reputation: snapshot.reputations[inference.executor] ?? 0, ownWeight: own,
            modelTotalWeight: UInt64(min(total, UInt128(UInt64.max))), executorWeight: weights[inference.executor] ?? 0,
            params: params)
    }

    /// The ids `seed` obliged `validator` to validate among `inferences`, sorted (byte order of the
    /// UTF-8 id) and without duplicates.
    public static func obligations(
        validator: Address, seed: Hash, inferences: [FinishedInference], snapshot: Snapshot, params: ValidationParams
    ) throws(ValidationSamplingError) -> [String] {
        var ids = Set<String>()
        for inference in inferences where !ids.contains(inference.id) {
            let p = try probability(validator: validator, inference: inference, snapshot: snapshot, params: params)
            if p.numerator > 0, ValidationSampling.isObliged(seed: seed, inferenceID: inference.id, probability: p) {
                ids.insert(inference.id)
            }
        }
        return ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
