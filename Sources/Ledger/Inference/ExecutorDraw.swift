import GonkaCore

/// The verifiable executor draw of PROTOCOL §6.2 step 3, implemented once: the Transfer Agent calls
/// it to pick the executor and the ledger calls it again to check a `MsgStartInference`.
///
/// * eligible = the candidates with a positive weight, **ordered by address bytes** (whatever order
///   the caller passes), without the TA itself unless it is the only one;
/// * seed = SHA-256(`"{inference_id}/{hex(epoch_seed)}/{attempt}"`);
/// * executor of attempt k = ``WeightedDraw`` with a ``PhiloxStream`` keyed by attempt k's seed,
///   over the eligible weights **without the executors of attempts 0…k−1** (while any other
///   remains). Drawn independently, a failover re-drew the executor that had just failed: in the
///   soak, 300 of 301 requests whose three attempts all failed had drawn the same dead executor
///   three times.
public enum ExecutorDraw {
    /// A participant that serves the model, with its executor-selection weight for the epoch.
    public struct Candidate: Sendable, Hashable {
        public let address: Address
        public let weight: UInt64

        public init(address: Address, weight: UInt64) {
            self.address = address
            self.weight = weight
        }
    }

    /// The seed of the draw for one attempt.
    public static func seed(inferenceID: String, epochSeed: Hash, attempt: UInt32) -> Hash {
        Hash.sha256("\(inferenceID)/\(epochSeed.hex)/\(attempt)")
    }

    /// The candidates the draw picks from, in the draw's order.
    public static func eligible(_ candidates: [Candidate], transferAgent: Address) -> [Candidate] {
        let positive = candidates.filter { $0.weight > 0 }.sorted {
            $0.address.bytes.lexicographicallyPrecedes($1.address.bytes)
        }
        let others = positive.filter { $0.address != transferAgent }
        return others.isEmpty ? positive : others
    }

    /// The executor for `attempt`, or `nil` when no candidate has a positive weight.
    public static func executor(
        inferenceID: String, epochSeed: Hash, attempt: UInt32, transferAgent: Address, candidates: [Candidate]
    ) throws(WeightedDrawError) -> Address? {
        try executors(
            inferenceID: inferenceID, epochSeed: epochSeed, through: attempt, transferAgent: transferAgent,
            candidates: candidates
        ).last
    }

    /// The executors of attempts 0…`attempt` in order (empty when no candidate has a positive
    /// weight): each drawn from the eligible pool without those before it, or from the whole pool
    /// once every eligible candidate has been drawn.
    public static func executors(
        inferenceID: String, epochSeed: Hash, through attempt: UInt32, transferAgent: Address,
        candidates: [Candidate]
    ) throws(WeightedDrawError) -> [Address] {
        let pool = eligible(candidates, transferAgent: transferAgent)
        var drawn: [Address] = []
        for a in 0...attempt {
            let fresh = pool.filter { !drawn.contains($0.address) }
            guard
                let next = try WeightedDraw.draw(
                    from: (fresh.isEmpty ? pool : fresh).map { (item: $0.address, weight: $0.weight) },
                    seed: seed(inferenceID: inferenceID, epochSeed: epochSeed, attempt: a))
            else { return [] }
            drawn.append(next)
        }
        return drawn
    }
}
