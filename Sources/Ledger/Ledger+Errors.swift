import GonkaCore

/// Why the ledger rejected a transaction (or, for `invariantViolated` and `storage`, why it must
/// stop). `shortDescription` is a stable code without values, safe as a metric label or for
/// clients to switch on; `description` is the human sentence with the numbers.
public struct LedgerError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Code: Hashable, Sendable {
        case oversized(size: Int, limit: UInt64)
        case undecodable(String)
        case emptyTx
        case tooManyMessages(count: Int, limit: UInt64)
        case memoTooLong(size: Int, limit: UInt64)
        case unknownMessage(index: Int)
        case wrongChain(expected: String, got: String)
        case invalidAddress(field: String, reason: String)
        case invalidPublicKey(String)
        case signerMismatch(signer: Address, keyAddress: Address)
        case badSignature
        case badSequence(expected: UInt64, got: UInt64)
        case noGrant(authority: Address, signer: Address, msgType: String)
        case feeTooLow(required: Amount, offered: Amount)
        case insufficientFunds(address: Address, need: Amount, have: Amount)
        case invalidAmount(String)
        case moduleAccountRecipient(Address)
        case alreadyRegistered(Address)
        case invalidField(field: String, reason: String)
        case noSuchGrant(granter: Address, grantee: Address)
        case overflow(String)
        case invariantViolated(String)
        case storage(String)
        case genesis(String)
        // Epochs and PoC (PROTOCOL §4, §5).
        case outsideWindow(String)
        case notValidator(Address)
        case duplicate(String)
        case distanceTooLarge(nonce: UInt64, distanceNano: UInt64, rTargetNano: UInt64)
        case badDeveloperSignature(String)
        case badTransferAgentSignature(String)
        case wrongExecutor(expected: String, got: String, attempt: UInt32)
        case executorMismatch(expected: String, got: String)
        case duplicateInference(String)
        case unknownModel(String)
        case timestampOutOfWindow(timestamp: Int64, blockTime: Int64)
        case notParticipant(Address)
        case inferenceExpired(String)
        case alreadyFinished(String)
        case dutyTxLimit(participant: Address, limit: UInt64)
        // Validation (PROTOCOL §7).
        case unknownInference(String)
        case notFinished(id: String, status: String)
        case ownInference(String)
        case contradictoryVerdict(String)
        case notRevalidator(validator: Address, id: String)
        case voteClosed(String)
        case participantInvalid(Address)
        // Rewards (PROTOCOL §8).
        case noSettlement(participant: Address, epoch: UInt64)
        case seedMismatch(participant: Address, epoch: UInt64)
        // Governance (PROTOCOL §10).
        case unknownProposal(UInt64)
        case proposalClosed(id: UInt64, status: String)
        case invalidProposal(String)
        case paramChange(reason: String, detail: String)
        case spendAboveFund(fund: String, need: Amount, have: Amount)
        case depositBelowMinimum(need: Amount, offered: Amount)
        case upgradeHeightPassed(height: UInt64, current: UInt64)
        case upgradeRequired(name: String, height: UInt64, binarySHA256: String)
        // Collateral and slashing (PROTOCOL §9).
        case insufficientCollateral(address: Address, need: Amount, have: Amount)
        case notJailed(Address)
        case stillJailed(address: Address, until: UInt64, height: UInt64)
        case tombstoned(Address)
        case invalidEvidence(String)
    }

    let code: Code

    static func oversized(size: Int, limit: UInt64) -> Self { Self(code: .oversized(size: size, limit: limit)) }
    static func undecodable(_ what: String) -> Self { Self(code: .undecodable(what)) }
    static let emptyTx = Self(code: .emptyTx)
    static func tooManyMessages(count: Int, limit: UInt64) -> Self {
        Self(code: .tooManyMessages(count: count, limit: limit))
    }
    static func memoTooLong(size: Int, limit: UInt64) -> Self { Self(code: .memoTooLong(size: size, limit: limit)) }
    static func unknownMessage(index: Int) -> Self { Self(code: .unknownMessage(index: index)) }
    static func wrongChain(expected: String, got: String) -> Self {
        Self(code: .wrongChain(expected: expected, got: got))
    }
    static func invalidAddress(field: String, reason: String) -> Self {
        Self(code: .invalidAddress(field: field, reason: reason))
    }
    static func invalidPublicKey(_ reason: String) -> Self { Self(code: .invalidPublicKey(reason)) }
    static func signerMismatch(signer: Address, keyAddress: Address) -> Self {
        Self(code: .signerMismatch(signer: signer, keyAddress: keyAddress))
    }
    static let badSignature = Self(code: .badSignature)
    static func badSequence(expected: UInt64, got: UInt64) -> Self {
        Self(code: .badSequence(expected: expected, got: got))
    }
    static func noGrant(authority: Address, signer: Address, msgType: String) -> Self {
        Self(code: .noGrant(authority: authority, signer: signer, msgType: msgType))
    }
    static func feeTooLow(required: Amount, offered: Amount) -> Self {
        Self(code: .feeTooLow(required: required, offered: offered))
    }
    static func insufficientFunds(address: Address, need: Amount, have: Amount) -> Self {
        Self(code: .insufficientFunds(address: address, need: need, have: have))
    }
    static func invalidAmount(_ reason: String) -> Self { Self(code: .invalidAmount(reason)) }
    static func moduleAccountRecipient(_ address: Address) -> Self { Self(code: .moduleAccountRecipient(address)) }
    static func alreadyRegistered(_ address: Address) -> Self { Self(code: .alreadyRegistered(address)) }
    static func invalidField(_ field: String, _ reason: String) -> Self {
        Self(code: .invalidField(field: field, reason: reason))
    }
    static func noSuchGrant(granter: Address, grantee: Address) -> Self {
        Self(code: .noSuchGrant(granter: granter, grantee: grantee))
    }
    static func overflow(_ what: String) -> Self { Self(code: .overflow(what)) }
    static func invariantViolated(_ detail: String) -> Self { Self(code: .invariantViolated(detail)) }
    static func storage(_ error: any Error) -> Self { Self(code: .storage(String(describing: error))) }
    static func genesis(_ reason: String) -> Self { Self(code: .genesis(reason)) }
    static func outsideWindow(_ what: String) -> Self { Self(code: .outsideWindow(what)) }
    static func notValidator(_ address: Address) -> Self { Self(code: .notValidator(address)) }
    static func duplicate(_ what: String) -> Self { Self(code: .duplicate(what)) }
    static func distanceTooLarge(nonce: UInt64, distanceNano: UInt64, rTargetNano: UInt64) -> Self {
        Self(code: .distanceTooLarge(nonce: nonce, distanceNano: distanceNano, rTargetNano: rTargetNano))
    }
    static func badDeveloperSignature(_ reason: String) -> Self { Self(code: .badDeveloperSignature(reason)) }
    static func badTransferAgentSignature(_ reason: String) -> Self { Self(code: .badTransferAgentSignature(reason)) }
    static func wrongExecutor(expected: String, got: String, attempt: UInt32) -> Self {
        Self(code: .wrongExecutor(expected: expected, got: got, attempt: attempt))
    }
    static func executorMismatch(expected: String, got: String) -> Self {
        Self(code: .executorMismatch(expected: expected, got: got))
    }
    static func duplicateInference(_ id: String) -> Self { Self(code: .duplicateInference(id)) }
    static func unknownModel(_ model: String) -> Self { Self(code: .unknownModel(model)) }
    static func timestampOutOfWindow(timestamp: Int64, blockTime: Int64) -> Self {
        Self(code: .timestampOutOfWindow(timestamp: timestamp, blockTime: blockTime))
    }
    static func notParticipant(_ address: Address) -> Self { Self(code: .notParticipant(address)) }
    static func inferenceExpired(_ id: String) -> Self { Self(code: .inferenceExpired(id)) }
    static func alreadyFinished(_ id: String) -> Self { Self(code: .alreadyFinished(id)) }
    static func dutyTxLimit(participant: Address, limit: UInt64) -> Self {
        Self(code: .dutyTxLimit(participant: participant, limit: limit))
    }

    static func unknownInference(_ id: String) -> Self { Self(code: .unknownInference(id)) }
    static func notFinished(_ id: String, status: String) -> Self { Self(code: .notFinished(id: id, status: status)) }
    static func ownInference(_ id: String) -> Self { Self(code: .ownInference(id)) }
    static func contradictoryVerdict(_ reason: String) -> Self { Self(code: .contradictoryVerdict(reason)) }
    static func notRevalidator(_ validator: Address, id: String) -> Self {
        Self(code: .notRevalidator(validator: validator, id: id))
    }
    static func voteClosed(_ id: String) -> Self { Self(code: .voteClosed(id)) }
    static func participantInvalid(_ address: Address) -> Self { Self(code: .participantInvalid(address)) }
    static func noSettlement(_ participant: Address, epoch: UInt64) -> Self {
        Self(code: .noSettlement(participant: participant, epoch: epoch))
    }
    static func seedMismatch(_ participant: Address, epoch: UInt64) -> Self {
        Self(code: .seedMismatch(participant: participant, epoch: epoch))
    }

    static func unknownProposal(_ id: UInt64) -> Self { Self(code: .unknownProposal(id)) }
    static func proposalClosed(_ id: UInt64, status: String) -> Self {
        Self(code: .proposalClosed(id: id, status: status))
    }
    static func invalidProposal(_ reason: String) -> Self { Self(code: .invalidProposal(reason)) }
    /// `reason` is one of ``ChainParams/ChangeError/Reason``'s raw values: it becomes the short code.
    static func paramChange(_ error: ChainParams.ChangeError) -> Self {
        Self(code: .paramChange(reason: error.reason.rawValue, detail: error.description))
    }
    static func spendAboveFund(_ fund: String, need: Amount, have: Amount) -> Self {
        Self(code: .spendAboveFund(fund: fund, need: need, have: have))
    }
    static func depositBelowMinimum(need: Amount, offered: Amount) -> Self {
        Self(code: .depositBelowMinimum(need: need, offered: offered))
    }
    static func upgradeHeightPassed(_ height: UInt64, current: UInt64) -> Self {
        Self(code: .upgradeHeightPassed(height: height, current: current))
    }
    /// The node must stop: the chain reached a software upgrade this binary does not know.
    public static func upgradeRequired(name: String, height: UInt64, binarySHA256: String) -> Self {
        Self(code: .upgradeRequired(name: name, height: height, binarySHA256: binarySHA256))
    }

    /// Whether this is the halt of a software upgrade (PROTOCOL §10): the node must exit and be
    /// restarted with the binary the message names.
    public var isUpgradeRequired: Bool {
        if case .upgradeRequired = code { return true }
        return false
    }

    static func insufficientCollateral(address: Address, need: Amount, have: Amount) -> Self {
        Self(code: .insufficientCollateral(address: address, need: need, have: have))
    }
    static func notJailed(_ address: Address) -> Self { Self(code: .notJailed(address)) }
    static func stillJailed(_ address: Address, until: UInt64, height: UInt64) -> Self {
        Self(code: .stillJailed(address: address, until: until, height: height))
    }
    static func tombstoned(_ address: Address) -> Self { Self(code: .tombstoned(address)) }
    static func invalidEvidence(_ reason: String) -> Self { Self(code: .invalidEvidence(reason)) }

    /// A stable machine-readable code, e.g. `"bad_signature"`.
    public var shortDescription: String {
        switch code {
        case .oversized: "oversized"
        case .undecodable: "undecodable"
        case .emptyTx: "empty_tx"
        case .tooManyMessages: "too_many_messages"
        case .memoTooLong: "memo_too_long"
        case .unknownMessage: "unknown_message"
        case .wrongChain: "wrong_chain"
        case .invalidAddress: "invalid_address"
        case .invalidPublicKey: "invalid_public_key"
        case .signerMismatch: "signer_mismatch"
        case .badSignature: "bad_signature"
        case .badSequence: "bad_sequence"
        case .noGrant: "no_grant"
        case .feeTooLow: "fee_too_low"
        case .insufficientFunds: "insufficient_funds"
        case .invalidAmount: "invalid_amount"
        case .moduleAccountRecipient: "module_account_recipient"
        case .alreadyRegistered: "already_registered"
        case .invalidField: "invalid_field"
        case .noSuchGrant: "no_such_grant"
        case .overflow: "overflow"
        case .invariantViolated: "invariant_violated"
        case .storage: "storage"
        case .genesis: "invalid_genesis"
        case .outsideWindow: "outside_window"
        case .notValidator: "not_validator"
        case .duplicate: "duplicate"
        case .distanceTooLarge: "distance_too_large"
        case .badDeveloperSignature: "bad_developer_signature"
        case .badTransferAgentSignature: "bad_ta_signature"
        case .wrongExecutor: "wrong_executor"
        case .executorMismatch: "executor_mismatch"
        case .duplicateInference: "duplicate_inference"
        case .unknownModel: "unknown_model"
        case .timestampOutOfWindow: "timestamp_out_of_window"
        case .notParticipant: "not_participant"
        case .inferenceExpired: "inference_expired"
        case .alreadyFinished: "already_finished"
        case .dutyTxLimit: "duty_tx_limit"
        case .unknownInference: "unknown_inference"
        case .notFinished: "inference_not_finished"
        case .ownInference: "own_inference"
        case .contradictoryVerdict: "contradictory_verdict"
        case .notRevalidator: "not_revalidator"
        case .voteClosed: "vote_closed"
        case .participantInvalid: "participant_invalid"
        case .noSettlement: "no_settlement"
        case .seedMismatch: "seed_mismatch"
        case .unknownProposal: "unknown_proposal"
        case .proposalClosed: "proposal_closed"
        case .invalidProposal: "invalid_proposal"
        case .paramChange(let reason, _): reason
        case .spendAboveFund: "spend_above_fund"
        case .depositBelowMinimum: "deposit_below_minimum"
        case .upgradeHeightPassed: "upgrade_height_passed"
        case .upgradeRequired: "upgrade_required"
        case .insufficientCollateral: "insufficient_collateral"
        case .notJailed: "not_jailed"
        case .stillJailed: "still_jailed"
        case .tombstoned: "tombstoned"
        case .invalidEvidence: "invalid_evidence"
        }
    }

    public var description: String {
        switch code {
        case .oversized(let size, let limit): "transaction is \(size) bytes, more than the limit of \(limit)"
        case .undecodable(let what): "transaction cannot be decoded: \(what)"
        case .emptyTx: "transaction has no messages"
        case .tooManyMessages(let count, let limit): "transaction has \(count) messages, more than \(limit)"
        case .memoTooLong(let size, let limit): "memo is \(size) bytes, more than \(limit)"
        case .unknownMessage(let index): "message \(index) is empty or of an unknown type"
        case .wrongChain(let expected, let got): "transaction is for chain \"\(got)\", this is \"\(expected)\""
        case .invalidAddress(let field, let reason): "\(field) is not a valid address: \(reason)"
        case .invalidPublicKey(let reason): "signer public key is invalid: \(reason)"
        case .signerMismatch(let signer, let keyAddress):
            "signer is \(signer) but the public key belongs to \(keyAddress)"
        case .badSignature: "signature does not verify over the transaction body"
        case .badSequence(let expected, let got): "account sequence mismatch: expected \(expected), got \(got)"
        case .noGrant(let authority, let signer, let msgType):
            "\(signer) has no operator grant from \(authority) for \(msgType)"
        case .feeTooLow(let required, let offered): "fee \(offered) is below the required \(required)"
        case .insufficientFunds(let address, let need, let have):
            "insufficient funds in \(address): need \(need), have \(have)"
        case .invalidAmount(let reason): "invalid amount: \(reason)"
        case .moduleAccountRecipient(let address): "\(address) is a module account and cannot receive transfers"
        case .alreadyRegistered(let address): "participant \(address) is already registered"
        case .invalidField(let field, let reason): "\(field): \(reason)"
        case .noSuchGrant(let granter, let grantee): "no operator grant from \(granter) to \(grantee)"
        case .overflow(let what): "arithmetic overflow in \(what)"
        case .invariantViolated(let detail): "ledger invariant violated: \(detail)"
        case .storage(let detail): "state storage failed: \(detail)"
        case .genesis(let reason): "invalid genesis: \(reason)"
        case .outsideWindow(let what): "outside its window: \(what)"
        case .notValidator(let address): "\(address) is not a validator of the current epoch"
        case .duplicate(let what): "duplicate: \(what)"
        case .distanceTooLarge(let nonce, let distance, let target):
            "nonce \(nonce) has distance \(distance) nano, not below r_target \(target)"
        case .badDeveloperSignature(let reason): "developer signature rejected: \(reason)"
        case .badTransferAgentSignature(let reason): "transfer agent signature rejected: \(reason)"
        case .wrongExecutor(let expected, let got, let attempt):
            "executor \(got) is not the draw for attempt \(attempt): expected \(expected)"
        case .executorMismatch(let expected, let got):
            "inference is assigned to executor \(expected), not \(got)"
        case .duplicateInference(let id): "inference \(id) was already started"
        case .unknownModel(let model): "model \"\(model)\" is not registered"
        case .timestampOutOfWindow(let timestamp, let blockTime):
            "request timestamp \(timestamp) ns is outside the accepted window around the block time \(blockTime) ns"
        case .notParticipant(let address): "\(address) is not a participant allowed to send this message"
        case .inferenceExpired(let id): "inference \(id) has expired"
        case .alreadyFinished(let id): "inference \(id) was already finished"
        case .dutyTxLimit(let participant, let limit):
            "\(participant) already sent \(limit) free duty transactions in this block; pay the fee or wait"
        case .unknownInference(let id): "no inference \(id) on chain"
        case .notFinished(let id, let status): "inference \(id) is \(status), not finished: nothing to validate yet"
        case .ownInference(let id): "a participant may not validate its own inference \(id)"
        case .contradictoryVerdict(let reason): "the verdict contradicts its own numbers: \(reason)"
        case .notRevalidator(let validator, let id):
            "\(validator) was not drawn to revalidate inference \(id) (or has already voted)"
        case .voteClosed(let id): "the revalidation vote on inference \(id) is not open"
        case .participantInvalid(let address): "\(address) is INVALID this epoch and may not validate"
        case .noSettlement(let participant, let epoch):
            "\(participant) has no settlement for epoch \(epoch) (it was owed nothing)"
        case .seedMismatch(let participant, let epoch):
            "the seed's SHA-256 is not the commitment \(participant) made at epoch \(epoch)'s sprint"
        case .unknownProposal(let id): "no proposal \(id) on chain"
        case .proposalClosed(let id, let status): "proposal \(id) is \(status): this message is not accepted now"
        case .invalidProposal(let reason): "invalid proposal: \(reason)"
        case .paramChange(_, let detail): "parameter change refused: \(detail)"
        case .spendAboveFund(let fund, let need, let have): "spend of \(need) is above the \(fund), which holds \(have)"
        case .depositBelowMinimum(let need, let offered): "deposit \(offered) is below the minimum \(need)"
        case .upgradeHeightPassed(let height, let current):
            "upgrade height \(height) is not after the current height \(current)"
        case .upgradeRequired(let name, let height, let sha):
            "software upgrade \"\(name)\" was scheduled by governance for height \(height): this binary does not "
                + "know it. Stop this node and start it with the binary of upgrade \"\(name)\" (sha256 \(sha)); "
                + "it continues from height \(height)"
        case .insufficientCollateral(let address, let need, let have):
            "\(address) has \(have) of collateral deposited, less than the \(need) asked for"
        case .notJailed(let address): "\(address) is not jailed"
        case .stillJailed(let address, let until, let height):
            "\(address) is jailed until height \(until); this is height \(height)"
        case .tombstoned(let address): "\(address) is tombstoned (double sign) and can never be unjailed"
        case .invalidEvidence(let reason): "evidence refused: \(reason)"
        }
    }
}
