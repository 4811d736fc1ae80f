import GonkaCore

/// The revalidation of PROTOCOL §7.3 as pure functions: who is drawn, and how their votes decide.
public enum Revalidation {
    /// A participant that may be drawn, with its epoch weight.
    public struct Candidate: Sendable, Hashable {
        public let address: Address
        public let weight: UInt64

        public init(address: Address, weight: UInt64) {
            self.address = address
            self.weight = weight
        }
    }

    /// The key of the draw: SHA-256(`block_hash ‖ utf8(inference_id)`), where `block_hash` is the
    /// hash of the block before the one that recorded the failure (the newest hash a block's
    /// transactions can know; 32 zero bytes at height 1).
    public static func seed(blockHash: Hash, inferenceID: String) -> Hash {
        Hash.sha256(blockHash.bytes + Array(inferenceID.utf8))
    }

    /// `count` revalidators drawn by weight **without replacement** from `candidates` (those with a
    /// positive weight, ordered by address bytes whatever order the caller passes), with one
    /// ``PhiloxStream`` keyed by `seed`: draw one by ``WeightedDraw``, remove it, draw again. Fewer
    /// when fewer are eligible. The result is in draw order.
    public static func draw(
        count: Int, from candidates: [Candidate], seed: Hash
    ) throws(WeightedDrawError) -> [Candidate] {
        var pool = candidates.filter { $0.weight > 0 }.sorted {
            $0.address.bytes.lexicographicallyPrecedes($1.address.bytes)
        }
        var stream = PhiloxStream(seed: seed)
        var drawn: [Candidate] = []
        while drawn.count < count, !pool.isEmpty {
            guard let index = try WeightedDraw.index(weights: pool.map(\.weight), using: &stream) else { break }
            drawn.append(pool.remove(at: index))
        }
        return drawn
    }

    /// A drawn revalidator's vote so far.
    public enum Vote: Sendable, Hashable {
        case pending
        case passed
        case failed
    }

    /// How a vote ends.
    public enum Outcome: Sendable, Hashable {
        case validated
        case invalidated
    }

    /// The decision of a vote, or `nil` while it is open (§7.3).
    ///
    /// Each vote counts for at most `1/c` of the drawn weight W, with `c = min(3, R)` for R drawn
    /// revalidators (the protocol's 1/3 cap, relaxed when fewer than three could be drawn so that a
    /// vote can still reach a majority); a side wins once its capped weight is **more than half** of
    /// W. Exactly, in integers: `capped_i = min(c · wᵢ, W)` and a side wins iff `2 · Σ capped > c · W`.
    /// When every revalidator has voted, or `deadlinePassed`, and neither side won: VALIDATED
    /// (benefit of the doubt). No revalidator at all (nobody else serves the model): the failure
    /// stands, INVALIDATED — the first validator is the only other witness.
    public static func outcome(votes: [(weight: UInt64, vote: Vote)], deadlinePassed: Bool) -> Outcome? {
        guard !votes.isEmpty else { return .invalidated }
        let total = votes.reduce(UInt128(0)) { $0 + UInt128($1.weight) }
        let cap = UInt128(min(3, votes.count))
        var passed = UInt128(0)
        var failed = UInt128(0)
        for entry in votes {
            let capped = min(cap * UInt128(entry.weight), total)
            switch entry.vote {
            case .passed: passed += capped
            case .failed: failed += capped
            case .pending: break
            }
        }
        if 2 * failed > cap * total { return .invalidated }
        if 2 * passed > cap * total { return .validated }
        let allVoted = votes.allSatisfy { $0.vote != .pending }
        return allVoted || deadlinePassed ? .validated : nil
    }
}
