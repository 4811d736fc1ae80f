import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

/// The transaction pipeline (PROTOCOL §3.4), in this order: size limit → decode → chain id →
/// signature over the exact body bytes → account sequence → operator grant → fee → module handler.
/// Each step throws a `LedgerError` naming what failed; the caller runs it inside a state
/// transaction so a failure at any step leaves the state unchanged.
struct TxPipeline {
    let params: ChainParams
    let context: BlockContext
    let state: StateContext
    /// Signatures already verified by this ledger (nil: verify every time).
    var signatures: SignatureCache? = nil

    func execute(_ bytes: [UInt8]) throws(LedgerError) -> [LedgerEvent] {
        // 1. Size.
        guard UInt64(bytes.count) <= params.maxTxBytes else {
            throw .oversized(size: bytes.count, limit: params.maxTxBytes)
        }
        // 2. Decode. Unknown fields are refused: a signer must not be able to smuggle data that
        // this node would silently ignore but another version would act on.
        let tx: Wire.Tx
        let body: Wire.TxBody
        do {
            tx = try Wire.Tx(serializedBytes: bytes)
        } catch {
            throw .undecodable("envelope: \(error)")
        }
        guard tx.unknownFields.data.isEmpty else { throw .undecodable("envelope has unknown fields") }
        do {
            body = try Wire.TxBody(serializedBytes: tx.bodyBytes)
        } catch {
            throw .undecodable("body: \(error)")
        }
        guard body.unknownFields.data.isEmpty else { throw .undecodable("body has unknown fields") }
        guard !body.messages.isEmpty else { throw .emptyTx }
        guard UInt64(body.messages.count) <= params.maxMessagesPerTx else {
            throw .tooManyMessages(count: body.messages.count, limit: params.maxMessagesPerTx)
        }
        guard UInt64(body.memo.utf8.count) <= params.maxMemoBytes else {
            throw .memoTooLong(size: body.memo.utf8.count, limit: params.maxMemoBytes)
        }
        var typeNames: [String] = []
        for (index, msg) in body.messages.enumerated() {
            guard let name = msg.typeName, msg.unknownFields.data.isEmpty else { throw .unknownMessage(index: index) }
            typeNames.append(name)
        }
        // 3. Chain id.
        guard body.chainID == context.chainID else { throw .wrongChain(expected: context.chainID, got: body.chainID) }
        // 4. Signature over the body bytes exactly as transmitted. A key the account already
        // recorded was checked to be a valid curve point when it was stored; only new keys pay
        // for that check again.
        let signer = try parseAddress(body.signer, field: "signer")
        var account = try Accounts.account(signer, in: state)
        let signBytes = SignBytes.make(.tx, chainID: context.chainID, tx.bodyBytes)
        // A signature verified before (see `SignatureCache`) was made by a valid key over these bytes.
        let cacheKey = signatures.map { _ in
            SignatureCache.key(publicKey: tx.signerPubkey, signature: tx.signature, message: signBytes)
        }
        let verified = cacheKey.map { signatures?.contains($0) == true } ?? false
        let key: PublicKey
        do {
            key =
                account.pubkey == tx.signerPubkey || verified
                ? try PublicKey(previouslyValidated: tx.signerPubkey)
                : try PublicKey(bytes: tx.signerPubkey)
        } catch {
            throw .invalidPublicKey(error.description)
        }
        guard key.address == signer else { throw .signerMismatch(signer: signer, keyAddress: key.address) }
        if !verified {
            let valid =
                signatures?.verifier.isValidSignature(tx.signature, for: signBytes, by: key)
                ?? key.isValidSignature(tx.signature, for: signBytes)
            guard valid else { throw .badSignature }
            if let cacheKey { signatures?.insert(cacheKey) }
        }
        // 5. Sequence: the account's next number, then it moves on.
        guard body.sequence == account.sequence else {
            throw .badSequence(expected: account.sequence, got: body.sequence)
        }
        account.sequence += 1
        if account.pubkey.isEmpty { account.pubkey = tx.signerPubkey }
        try Accounts.save(account, address: signer, in: state)
        // 6. Authority: each message acts for an account; the signer must be it or hold its grant.
        for (msg, name) in zip(body.messages, typeNames) {
            let authority = try Self.authority(of: msg)
            guard
                try Participants.isAuthorized(
                    signer: signer, authority: authority, msgType: name, height: context.height, in: state)
            else {
                throw .noGrant(authority: authority, signer: signer, msgType: name)
            }
        }
        // 7. Fee: user transactions pay min_gas_price per byte into the fee collector; duties (DutyTx) may not.
        var events: [LedgerEvent] = []
        let required: Amount
        do {
            required = try Amount(ngonka: params.minGasPrice).multiplied(by: UInt64(bytes.count))
        } catch {
            throw .overflow("required fee")
        }
        let offered = Amount(ngonka: body.fee)
        if offered < required {
            // Protocol duties of participants go free, within their per-block bound.
            let authorities = try body.messages.map { m throws(LedgerError) in try Self.authority(of: m) }
            guard try DutyTx.isFree(typeNames: typeNames, authorities: authorities, params: params, state: state)
            else { throw .feeTooLow(required: required, offered: offered) }
            try DutyTx.record(authorities: authorities, in: state)
        }
        if offered > .zero {
            try Bank.transfer(from: signer, to: Bank.ModuleAccount.feeCollector.address, amount: offered, in: state)
            try Rewards.feeCollected(offered, epoch: try Inference.currentEpoch(in: state), in: state)
            events.append(.feePaid(payer: signer, amount: offered))
        }
        // 8. Module handlers.
        for msg in body.messages {
            events += try dispatch(msg)
        }
        return events
    }

    private func dispatch(_ msg: Wire.Msg) throws(LedgerError) -> [LedgerEvent] {
        switch msg.sum {
        case .send(let send): try Bank.handle(send, in: state)
        case .registerParticipant(let register): try Participants.handle(register, height: context.height, in: state)
        case .grantOperator(let grant): try Participants.handle(grant, height: context.height, in: state)
        case .revokeOperator(let revoke): try Participants.handle(revoke, in: state)
        case .commitSeed(let m): try PoC.handle(m, context: context, params: params, in: state)
        case .submitPocBatch(let m): try PoC.handle(m, context: context, params: params, in: state)
        case .submitPocValidation(let m): try PoC.handle(m, context: context, params: params, in: state)
        case .startInference(let start):
            try Inference.handle(start, context: context, params: params, state: state, signatures: signatures)
        case .finishInference(let finish): try Inference.handle(finish, context: context, params: params, state: state)
        case .validation(let m): try Validation.handle(m, context: context, params: params, state: state)
        case .claimRewards(let m): try Rewards.handle(m, context: context, params: params, state: state)
        case .submitProposal(let m): try Governance.handle(m, context: context, params: params, state: state)
        case .deposit(let m): try Governance.handle(m, context: context, params: params, state: state)
        case .vote(let m): try Governance.handle(m, context: context, state: state)
        case .depositCollateral(let m): try Collateral.handle(m, in: state)
        case .withdrawCollateral(let m): try Collateral.handle(m, context: context, params: params, in: state)
        case .unjail(let m): try Slashing.handle(m, context: context, state: state)
        case nil:
            throw .unknownMessage(index: 0)
        }
    }

    /// The account a message acts for: whose funds it moves or whose record it changes.
    static func authority(of msg: Wire.Msg) throws(LedgerError) -> Address {
        switch msg.sum {
        case .send(let m): try parseAddress(m.fromAddress, field: "from_address")
        case .registerParticipant(let m): try parseAddress(m.participant, field: "participant")
        case .grantOperator(let m): try parseAddress(m.granter, field: "granter")
        case .revokeOperator(let m): try parseAddress(m.granter, field: "granter")
        case .commitSeed(let m): try parseAddress(m.participant, field: "participant")
        case .submitPocBatch(let m): try parseAddress(m.participant, field: "participant")
        case .submitPocValidation(let m): try parseAddress(m.validator, field: "validator")
        case .startInference(let m): try parseAddress(m.transferAgent, field: "transfer_agent")
        case .finishInference(let m): try parseAddress(m.executor, field: "executor")
        case .validation(let m): try parseAddress(m.validator, field: "validator")
        case .claimRewards(let m): try parseAddress(m.participant, field: "participant")
        case .submitProposal(let m): try parseAddress(m.proposer, field: "proposer")
        case .deposit(let m): try parseAddress(m.depositor, field: "depositor")
        case .vote(let m): try parseAddress(m.voter, field: "voter")
        case .depositCollateral(let m): try parseAddress(m.participant, field: "participant")
        case .withdrawCollateral(let m): try parseAddress(m.participant, field: "participant")
        case .unjail(let m): try parseAddress(m.validator, field: "validator")
        case nil: throw .unknownMessage(index: 0)
        }
    }
}
