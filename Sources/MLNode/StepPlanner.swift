/// Decides what one batched step computes (the scheduler half of continuous batching; the
/// ``Inference/LlamaBatchRunner`` runs the step): every decoding request gets its next token, and
/// the positions left of `stepTokens` go to prompts still being prefilled, in arrival order, in
/// chunks. A long prompt so never stalls the running streams for more than one chunk, and a new
/// request starts the step after it arrives.
struct StepPlanner: Sendable, Equatable {
    /// What a request needs from the next step.
    enum Need: Sendable, Equatable {
        /// Its next token (one position).
        case decode
        /// `remaining` prompt positions not yet in its cache.
        case prefill(remaining: Int)
    }

    /// Positions per step, decode rows included.
    let stepTokens: Int
    /// Prompt positions prefilled per step however many requests decode, so prefill always advances.
    let minimumPrefill: Int

    init(stepTokens: Int = 128, minimumPrefill: Int = 16) {
        self.stepTokens = max(1, stepTokens)
        self.minimumPrefill = max(1, minimumPrefill)
    }

    /// Positions each request runs this step (0: none), in the order of `needs` (arrival order).
    func plan(_ needs: [Need]) -> [Int] {
        let decoding = needs.count { $0 == .decode }
        var budget = max(stepTokens - decoding, minimumPrefill)
        return needs.map { need in
            switch need {
            case .decode:
                return 1
            case .prefill(let remaining):
                let chunk = min(remaining, budget)
                budget -= chunk
                return chunk
            }
        }
    }
}
