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

    /// A stable name for the event type, e.g. `"transfer"`.
    public var kind: String {
        switch self {
        case .feePaid: "fee_paid"
        case .transfer: "transfer"
        case .participantRegistered: "participant_registered"
        case .operatorGranted: "operator_granted"
        case .operatorRevoked: "operator_revoked"
        case .minted: "minted"
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
        }
    }
}
