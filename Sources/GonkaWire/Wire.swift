import Foundation
import GonkaCore
import SwiftProtobuf

/// Namespace for the protobuf messages of `Protos/` under short names, plus the helpers that turn
/// them into signed bytes. Generated code lives in `Generated/` (run `scripts/gen-protos`).
public enum Wire {
    public typealias Tx = Gonka_V1_Tx
    public typealias TxBody = Gonka_V1_TxBody
    public typealias Msg = Gonka_V1_Msg
    public typealias MsgSend = Gonka_V1_MsgSend
    public typealias MsgRegisterParticipant = Gonka_V1_MsgRegisterParticipant
    public typealias MsgGrantOperator = Gonka_V1_MsgGrantOperator
    public typealias MsgRevokeOperator = Gonka_V1_MsgRevokeOperator
    public typealias Account = Gonka_V1_Account
    public typealias Participant = Gonka_V1_Participant
    public typealias OperatorGrant = Gonka_V1_OperatorGrant
    public typealias MsgCommitSeed = Gonka_V1_MsgCommitSeed
    public typealias MsgSubmitPocBatch = Gonka_V1_MsgSubmitPocBatch
    public typealias MsgSubmitPocValidation = Gonka_V1_MsgSubmitPocValidation
    public typealias EpochParticipant = Gonka_V1_EpochParticipant
    public typealias EpochRecord = Gonka_V1_EpochRecord
    public typealias ValidatorSetRecord = Gonka_V1_ValidatorSetRecord
    public typealias PocSprintRecord = Gonka_V1_PocSprintRecord
    public typealias PocBatchRecord = Gonka_V1_PocBatchRecord
    public typealias MsgStartInference = Gonka_V1_MsgStartInference
    public typealias MsgFinishInference = Gonka_V1_MsgFinishInference
    public typealias InferenceStatus = Gonka_V1_InferenceStatus
    public typealias InferenceRecord = Gonka_V1_InferenceRecord
    public typealias ModelInfo = Gonka_V1_ModelInfo
    public typealias ModelPrice = Gonka_V1_ModelPrice
    public typealias UsageBucket = Gonka_V1_UsageBucket
    public typealias ExecutorWeight = Gonka_V1_ExecutorWeight
    public typealias ExecutorSet = Gonka_V1_ExecutorSet
    public typealias MissRecord = Gonka_V1_MissRecord
    public typealias MsgValidation = Gonka_V1_MsgValidation
    public typealias ValidationRecord = Gonka_V1_ValidationRecord
    public typealias Revalidator = Gonka_V1_Revalidator
    public typealias VotingRecord = Gonka_V1_VotingRecord
    public typealias ValidationStats = Gonka_V1_ValidationStats
    public typealias ReputationRecord = Gonka_V1_ReputationRecord
    public typealias ValidationEpoch = Gonka_V1_ValidationEpoch
    public typealias ValidationWeight = Gonka_V1_ValidationWeight
    public typealias MsgClaimRewards = Gonka_V1_MsgClaimRewards
    public typealias WorkCounters = Gonka_V1_WorkCounters
    public typealias Settlement = Gonka_V1_Settlement
    public typealias EpochSettlement = Gonka_V1_EpochSettlement
    public typealias RewardTotals = Gonka_V1_RewardTotals
    public typealias InferenceLiabilities = Gonka_V1_InferenceLiabilities
    public typealias MsgSubmitProposal = Gonka_V1_MsgSubmitProposal
    public typealias MsgDeposit = Gonka_V1_MsgDeposit
    public typealias MsgVote = Gonka_V1_MsgVote
    public typealias ProposalContent = Gonka_V1_ProposalContent
    public typealias TextProposal = Gonka_V1_TextProposal
    public typealias ParamChange = Gonka_V1_ParamChange
    public typealias ParamChangeProposal = Gonka_V1_ParamChangeProposal
    public typealias FundSpendProposal = Gonka_V1_FundSpendProposal
    public typealias RegisterModelProposal = Gonka_V1_RegisterModelProposal
    public typealias RetireModelProposal = Gonka_V1_RetireModelProposal
    public typealias SoftwareUpgradeProposal = Gonka_V1_SoftwareUpgradeProposal
    public typealias VoteOption = Gonka_V1_VoteOption
    public typealias ProposalStatus = Gonka_V1_ProposalStatus
    public typealias GovDeposit = Gonka_V1_GovDeposit
    public typealias TallyResult = Gonka_V1_TallyResult
    public typealias GovProposal = Gonka_V1_GovProposal
    public typealias GovVote = Gonka_V1_GovVote
    public typealias UpgradePlan = Gonka_V1_UpgradePlan
    public typealias PendingParamChanges = Gonka_V1_PendingParamChanges
    public typealias BlockID = Gonka_V1_BlockID
    public typealias Header = Gonka_V1_Header
    public typealias Block = Gonka_V1_Block
    public typealias VoteType = Gonka_V1_VoteType
    public typealias Vote = Gonka_V1_Vote
    public typealias SignedVote = Gonka_V1_SignedVote
    public typealias Proposal = Gonka_V1_Proposal
    public typealias SignedProposal = Gonka_V1_SignedProposal
    public typealias ProposalMessage = Gonka_V1_ProposalMessage
    public typealias Commit = Gonka_V1_Commit
    public typealias Validator = Gonka_V1_Validator
    public typealias ValidatorSet = Gonka_V1_ValidatorSet
    public typealias DuplicateVoteEvidence = Gonka_V1_DuplicateVoteEvidence
    public typealias ConsensusEnvelope = Gonka_V1_ConsensusEnvelope
    public typealias BlockSyncEnvelope = Gonka_V1_BlockSyncEnvelope
    public typealias SyncStatus = Gonka_V1_SyncStatus
    public typealias BlockRequest = Gonka_V1_BlockRequest
    public typealias BlockResponse = Gonka_V1_BlockResponse
    public typealias NoBlock = Gonka_V1_NoBlock
    public typealias StateSyncEnvelope = Gonka_V1_StateSyncEnvelope
    public typealias SnapshotsRequest = Gonka_V1_SnapshotsRequest
    public typealias SnapshotsResponse = Gonka_V1_SnapshotsResponse
    public typealias SnapshotManifest = Gonka_V1_SnapshotManifest
    public typealias ChunkRequest = Gonka_V1_ChunkRequest
    public typealias ChunkResponse = Gonka_V1_ChunkResponse
    public typealias NoChunk = Gonka_V1_NoChunk
    public typealias MempoolTxs = Gonka_V1_MempoolTxs
    public typealias EvidenceEnvelope = Gonka_V1_EvidenceEnvelope
    public typealias MsgDepositCollateral = Gonka_V1_MsgDepositCollateral
    public typealias MsgWithdrawCollateral = Gonka_V1_MsgWithdrawCollateral
    public typealias MsgUnjail = Gonka_V1_MsgUnjail
    public typealias UnbondingEntry = Gonka_V1_UnbondingEntry
    public typealias CollateralRecord = Gonka_V1_CollateralRecord
    public typealias SigningInfo = Gonka_V1_SigningInfo
    public typealias SlashRecord = Gonka_V1_SlashRecord
}

extension Wire.Msg {
    /// The inference a Start, Finish or validation is about (for logs), nil for other messages.
    public var inferenceID: String? {
        switch sum {
        case .startInference(let m): m.inferenceID
        case .finishInference(let m): m.inferenceID
        case .validation(let m): m.inferenceID
        default: nil
        }
    }

    /// The protocol name of the message type (used in operator grants, events and errors), or
    /// `nil` when the message is empty or of a type this node does not know.
    public var typeName: String? {
        switch sum {
        case .send: "MsgSend"
        case .registerParticipant: "MsgRegisterParticipant"
        case .grantOperator: "MsgGrantOperator"
        case .revokeOperator: "MsgRevokeOperator"
        case .commitSeed: "MsgCommitSeed"
        case .submitPocBatch: "MsgSubmitPocBatch"
        case .submitPocValidation: "MsgSubmitPocValidation"
        case .startInference: "MsgStartInference"
        case .finishInference: "MsgFinishInference"
        case .validation: "MsgValidation"
        case .claimRewards: "MsgClaimRewards"
        case .submitProposal: "MsgSubmitProposal"
        case .deposit: "MsgDeposit"
        case .vote: "MsgVote"
        case .depositCollateral: "MsgDepositCollateral"
        case .withdrawCollateral: "MsgWithdrawCollateral"
        case .unjail: "MsgUnjail"
        case nil: nil
        }
    }

    /// Every message type name this build knows.
    public static let knownTypeNames: [String] = [
        "MsgSend", "MsgRegisterParticipant", "MsgGrantOperator", "MsgRevokeOperator",
        "MsgCommitSeed", "MsgSubmitPocBatch", "MsgSubmitPocValidation",
        "MsgStartInference", "MsgFinishInference", "MsgValidation", "MsgClaimRewards",
        "MsgSubmitProposal", "MsgDeposit", "MsgVote",
        "MsgDepositCollateral", "MsgWithdrawCollateral", "MsgUnjail",
    ]

    public init(_ send: Wire.MsgSend) { self.init(); sum = .send(send) }
    public init(_ register: Wire.MsgRegisterParticipant) { self.init(); sum = .registerParticipant(register) }
    public init(_ grant: Wire.MsgGrantOperator) { self.init(); sum = .grantOperator(grant) }
    public init(_ revoke: Wire.MsgRevokeOperator) { self.init(); sum = .revokeOperator(revoke) }
    public init(_ commit: Wire.MsgCommitSeed) { self.init(); sum = .commitSeed(commit) }
    public init(_ batch: Wire.MsgSubmitPocBatch) { self.init(); sum = .submitPocBatch(batch) }
    public init(_ validation: Wire.MsgSubmitPocValidation) { self.init(); sum = .submitPocValidation(validation) }
    public init(_ start: Wire.MsgStartInference) { self.init(); sum = .startInference(start) }
    public init(_ finish: Wire.MsgFinishInference) { self.init(); sum = .finishInference(finish) }
    public init(_ validation: Wire.MsgValidation) { self.init(); sum = .validation(validation) }
    public init(_ claim: Wire.MsgClaimRewards) { self.init(); sum = .claimRewards(claim) }
    public init(_ submit: Wire.MsgSubmitProposal) { self.init(); sum = .submitProposal(submit) }
    public init(_ deposit: Wire.MsgDeposit) { self.init(); sum = .deposit(deposit) }
    public init(_ vote: Wire.MsgVote) { self.init(); sum = .vote(vote) }
    public init(_ deposit: Wire.MsgDepositCollateral) { self.init(); sum = .depositCollateral(deposit) }
    public init(_ withdraw: Wire.MsgWithdrawCollateral) { self.init(); sum = .withdrawCollateral(withdraw) }
    public init(_ unjail: Wire.MsgUnjail) { self.init(); sum = .unjail(unjail) }
}

extension Wire.Tx {
    /// Serializes `body`, signs exactly those bytes with `key` under the tx sign-bytes domain of
    /// `chainID`, and returns the envelope.
    public static func signed(body: Wire.TxBody, by key: SigningKey) throws -> Wire.Tx {
        let bodyBytes: [UInt8] = try body.serializedBytes()
        var tx = Wire.Tx()
        tx.bodyBytes = Data(bodyBytes)
        tx.signerPubkey = Data(key.publicKey.bytes)
        tx.signature = Data(key.signature(for: SignBytes.make(.tx, chainID: body.chainID, bodyBytes)))
        return tx
    }
}
