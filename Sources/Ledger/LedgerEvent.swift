import GonkaCore

/// What a transaction or block did, for subscribers (API nodes, explorers, the CLI). Events are
/// typed here; `kind` and `attributes` give the flat form for JSON and SSE.
public enum LedgerEvent: Hashable, Sendable {
    /// A fee was taken from the signer into the fee collector.
    case feePaid(payer: Address, amount: Amount)
    case transfer(from: Address, to: Address, amount: Amount)
    case participantRegistered(address: Address, url: String)
    case operatorGranted(granter: Address, grantee: Address, msgTypes: [String], expiresAtHeight: UInt64)
    case operatorRevoked(granter: Address, grantee: Address)
    /// Coins created at genesis (or, later, by issuance).
    case minted(to: Address, amount: Amount)
    /// A Start was recorded and its escrow moved into the inference module account (§6.4).
    case inferenceStarted(inferenceID: String, requester: Address, executor: Address, model: String, escrow: Amount)
    /// A Finish arrived before its Start and waits for it.
    case inferenceFinishReceived(inferenceID: String, executor: Address)
    /// Start and Finish are both in: the cost was charged and the rest refunded.
    case inferenceFinished(inferenceID: String, executor: Address, cost: Amount, refund: Amount)
    /// Unfinished within `inference_expiry_blocks`: the escrow was refunded in full.
    case inferenceExpired(inferenceID: String, executor: Address, refund: Amount)
    /// An executor missed an inference: `skipped` by the TA (a later attempt) or `expired`.
    case executorMissed(executor: Address, inferenceID: String, reason: String)

    /// A stable name for the event type, e.g. `"transfer"`.
    public var kind: String {
        switch self {
        case .feePaid: "fee_paid"
        case .transfer: "transfer"
        case .participantRegistered: "participant_registered"
        case .operatorGranted: "operator_granted"
        case .operatorRevoked: "operator_revoked"
        case .minted: "minted"
        case .inferenceStarted: "inference_started"
        case .inferenceFinishReceived: "inference_finish_received"
        case .inferenceFinished: "inference_finished"
        case .inferenceExpired: "inference_expired"
        case .executorMissed: "executor_missed"
        }
    }

    /// The event's fields as ordered (name, value) pairs.
    public var attributes: [(String, String)] {
        switch self {
        case .feePaid(let payer, let amount): [("payer", payer.description), ("amount", String(amount.ngonka))]
        case .transfer(let from, let to, let amount):
            [("from", from.description), ("to", to.description), ("amount", String(amount.ngonka))]
        case .participantRegistered(let address, let url): [("address", address.description), ("url", url)]
        case .operatorGranted(let granter, let grantee, let types, let expires):
            [
                ("granter", granter.description), ("grantee", grantee.description),
                ("msg_types", types.joined(separator: ",")), ("expires_at_height", String(expires)),
            ]
        case .operatorRevoked(let granter, let grantee):
            [("granter", granter.description), ("grantee", grantee.description)]
        case .minted(let to, let amount): [("to", to.description), ("amount", String(amount.ngonka))]
        case .inferenceStarted(let id, let requester, let executor, let model, let escrow):
            [
                ("inference_id", id), ("requester", requester.description), ("executor", executor.description),
                ("model", model), ("escrow", String(escrow.ngonka)),
            ]
        case .inferenceFinishReceived(let id, let executor): [("inference_id", id), ("executor", executor.description)]
        case .inferenceFinished(let id, let executor, let cost, let refund):
            [
                ("inference_id", id), ("executor", executor.description), ("cost", String(cost.ngonka)),
                ("refund", String(refund.ngonka)),
            ]
        case .inferenceExpired(let id, let executor, let refund):
            [("inference_id", id), ("executor", executor.description), ("refund", String(refund.ngonka))]
        case .executorMissed(let executor, let id, let reason):
            [("executor", executor.description), ("inference_id", id), ("reason", reason)]
        }
    }
}
