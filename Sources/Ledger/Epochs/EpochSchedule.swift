import GonkaCore

/// Where a height falls in the epoch schedule (PROTOCOL §4), as a pure function of the height and
/// the parameters: every node, the orchestrator and the CLI compute the same answer.
///
/// Epoch 0 is genesis: heights [0, L) with no sprint. Epoch e ≥ 1 covers [e·L, (e+1)·L) and
/// starts with its sprint at P = e·L, which decides epoch e's weights; those become the validator
/// set at P + switch_offset.
public struct EpochSchedule: Sendable, Hashable {
    public let params: EpochParams

    public init(_ params: EpochParams) {
        self.params = params
    }

    /// The stages of an epoch in order (PROTOCOL §4's table).
    public enum Stage: String, Sendable, Hashable, CaseIterable {
        /// Epoch 0: no sprint.
        case genesis
        /// Block P: seeds are committed; hash(P) is not known yet, so nobody can mine.
        case seedCommit = "seed_commit"
        /// [P+1, P+generation_end): ML nodes mine and submit batches.
        case generation
        /// [P+generation_end, P+exchange_end): late batches.
        case exchange
        /// [P+exchange_end, P+validation_start): batches closed, validators fetch them.
        case closed
        /// [P+validation_start, P+validation_end): validators recompute samples.
        case validation
        /// [P+validation_end, P+switch_offset): weights computed at the end of P+weights_offset,
        /// waiting for the switch.
        case weights
        /// Block P+switch_offset: the new validator set is in force.
        case `switch`
        /// [P+claim_offset, next P): claims of the last epoch's settlement.
        case claim
    }

    public struct Position: Sendable, Hashable {
        public let height: UInt64
        public let epoch: UInt64
        public let stage: Stage
        /// P, the sprint's first block (`nil` in epoch 0).
        public let pocStartHeight: UInt64?
        /// The first height of the next stage and that stage.
        public let nextStageHeight: UInt64
        public let nextStage: Stage

        public var blocksToNextStage: UInt64 { nextStageHeight - height }
    }

    public func epoch(at height: UInt64) -> UInt64 { height / params.epochLength }

    /// P of epoch `epoch` (≥ 1).
    public func pocStartHeight(ofEpoch epoch: UInt64) -> UInt64 { epoch * params.epochLength }

    /// Stage start offsets from P, in order (claim ends at the next epoch's P).
    private var boundaries: [(offset: UInt64, stage: Stage)] {
        [
            (0, .seedCommit), (1, .generation), (params.generationEnd, .exchange), (params.exchangeEnd, .closed),
            (params.validationStart, .validation), (params.validationEnd, .weights), (params.switchOffset, .switch),
            (params.claimOffset, .claim),
        ]
    }

    public func position(at height: UInt64) -> Position {
        let epoch = epoch(at: height)
        guard epoch > 0 else {
            return Position(
                height: height, epoch: 0, stage: .genesis, pocStartHeight: nil, nextStageHeight: params.epochLength,
                nextStage: .seedCommit)
        }
        let p = pocStartHeight(ofEpoch: epoch)
        let offset = height - p
        // Empty stages (two equal offsets) are skipped: the last boundary at or before the offset wins.
        let stages = boundaries
        var index = 0
        for (i, b) in stages.enumerated() where b.offset <= offset { index = i }
        let next = stages[(index + 1)...].first { $0.offset > offset }
        return Position(
            height: height, epoch: epoch, stage: stages[index].stage, pocStartHeight: p,
            nextStageHeight: next.map { p + $0.offset } ?? p + params.epochLength,
            nextStage: next?.stage ?? .seedCommit)
    }

    /// Whether `height` starts a stage (the heights that emit `poc_stage` events).
    public func isStageStart(_ height: UInt64) -> Bool {
        guard height >= params.epochLength else { return false }
        let offset = height % params.epochLength
        return boundaries.contains { $0.offset == offset }
    }

    // Windows of the sprint at P.
    func acceptsSeeds(_ height: UInt64, p: UInt64) -> Bool {
        height >= p + params.seedCommitOffset && height < p + params.generationEnd
    }
    func acceptsBatches(_ height: UInt64, p: UInt64) -> Bool { height > p && height < p + params.exchangeEnd }
    func acceptsValidations(_ height: UInt64, p: UInt64) -> Bool {
        height >= p + params.validationStart && height < p + params.validationEnd
    }
}
