import Foundation
import GonkaCore
import GonkaWire

/// Module Participants: the hosts of the network (PROTOCOL §1) and the operator keys they grant
/// (PROTOCOL §3.4).
enum Participants {
    /// Message types an account may delegate to an operator key. Granting and revoking are not
    /// among them: an operator can never widen its own powers.
    static let grantableTypes: Set<String> = [
        "MsgSend", "MsgRegisterParticipant", "MsgStartInference", "MsgFinishInference", "MsgVote",
    ]

    static let maxURLBytes = 256

    static func participant(_ address: Address, in state: StateContext) throws(LedgerError) -> Wire.Participant? {
        try state.record(Wire.Participant.self, at: StateKey.participant(address), what: "participant \(address)")
    }

    static func all(in state: StateContext) throws(LedgerError) -> [Wire.Participant] {
        try state.records(Wire.Participant.self, withPrefix: StateKey.participantPrefix, what: "participant record")
    }

    static func grant(
        granter: Address, grantee: Address, in state: StateContext
    ) throws(LedgerError) -> Wire.OperatorGrant? {
        try state.record(
            Wire.OperatorGrant.self, at: StateKey.grant(granter: granter, grantee: grantee),
            what: "operator grant \(granter) → \(grantee)")
    }

    /// All grants made by `granter`, in grantee order.
    static func grants(by granter: Address, in state: StateContext) throws(LedgerError) -> [Wire.OperatorGrant] {
        try state.records(
            Wire.OperatorGrant.self, withPrefix: StateKey.grantPrefix + granter.bytes, what: "operator grant")
    }

    /// Whether `signer` may send a message of `msgType` on behalf of `authority` at `height`.
    static func isAuthorized(
        signer: Address, authority: Address, msgType: String, height: UInt64, in state: StateContext
    ) throws(LedgerError) -> Bool {
        if signer == authority { return true }
        guard grantableTypes.contains(msgType),
            let grant = try grant(granter: authority, grantee: signer, in: state)
        else { return false }
        let live = grant.expiresAtHeight == 0 || height < grant.expiresAtHeight
        return live && grant.msgTypes.contains(msgType)
    }

    /// Stores a participant record (registration by message or by genesis).
    static func save(_ participant: Wire.Participant, address: Address, in state: StateContext) throws(LedgerError) {
        try state.setRecord(participant, at: StateKey.participant(address))
    }

    /// `MsgRegisterParticipant` (PROTOCOL §1): a new host announces its URL and keys.
    static func handle(
        _ msg: Wire.MsgRegisterParticipant, height: UInt64, in state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let address = try parseAddress(msg.participant, field: "participant")
        try validateURL(msg.url)
        try validateKey(msg.consensusPubkey, field: "consensus_pubkey")
        try validateKey(msg.p2PPubkey, field: "p2p_pubkey")
        guard try participant(address, in: state) == nil else { throw .alreadyRegistered(address) }
        var record = Wire.Participant()
        record.address = address.description
        record.url = msg.url
        record.consensusPubkey = msg.consensusPubkey
        record.p2PPubkey = msg.p2PPubkey
        record.registeredHeight = height
        try save(record, address: address, in: state)
        return [.participantRegistered(address: address, url: msg.url)]
    }

    /// `MsgGrantOperator` (PROTOCOL §3.4): lets a warm operator key send routine messages for the
    /// granter. A new grant to the same grantee replaces the old one.
    static func handle(
        _ msg: Wire.MsgGrantOperator, height: UInt64, in state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let granter = try parseAddress(msg.granter, field: "granter")
        let grantee = try parseAddress(msg.grantee, field: "grantee")
        guard granter != grantee else { throw .invalidField("grantee", "an account cannot grant itself") }
        guard !msg.msgTypes.isEmpty else { throw .invalidField("msg_types", "at least one message type is needed") }
        for type in msg.msgTypes where !grantableTypes.contains(type) {
            throw .invalidField(
                "msg_types",
                "\"\(type)\" cannot be granted (grantable: \(grantableTypes.sorted().joined(separator: ", ")))")
        }
        guard Set(msg.msgTypes).count == msg.msgTypes.count else {
            throw .invalidField("msg_types", "duplicate message type")
        }
        guard msg.expiresAtHeight == 0 || msg.expiresAtHeight > height else {
            throw .invalidField("expires_at_height", "\(msg.expiresAtHeight) is not after the current height \(height)")
        }
        var grant = Wire.OperatorGrant()
        grant.granter = granter.description
        grant.grantee = grantee.description
        grant.msgTypes = msg.msgTypes
        grant.expiresAtHeight = msg.expiresAtHeight
        try state.setRecord(grant, at: StateKey.grant(granter: granter, grantee: grantee))
        return [
            .operatorGranted(
                granter: granter, grantee: grantee, msgTypes: msg.msgTypes, expiresAtHeight: msg.expiresAtHeight)
        ]
    }

    /// `MsgRevokeOperator` (PROTOCOL §3.4): ends a grant at once.
    static func handle(_ msg: Wire.MsgRevokeOperator, in state: StateContext) throws(LedgerError) -> [LedgerEvent] {
        let granter = try parseAddress(msg.granter, field: "granter")
        let grantee = try parseAddress(msg.grantee, field: "grantee")
        guard try grant(granter: granter, grantee: grantee, in: state) != nil else {
            throw .noSuchGrant(granter: granter, grantee: grantee)
        }
        state.delete(StateKey.grant(granter: granter, grantee: grantee))
        return [.operatorRevoked(granter: granter, grantee: grantee)]
    }

    static func validateURL(_ url: String) throws(LedgerError) {
        guard !url.isEmpty else { throw .invalidField("url", "must not be empty") }
        guard url.utf8.count <= maxURLBytes else { throw .invalidField("url", "longer than \(maxURLBytes) bytes") }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw .invalidField("url", "must start with http:// or https://")
        }
        guard !url.contains(where: { $0.isWhitespace }) else { throw .invalidField("url", "must not contain spaces") }
    }

    static func validateKey(_ raw: Data, field: String) throws(LedgerError) {
        do {
            _ = try PublicKey(bytes: Array(raw))
        } catch {
            throw .invalidField(field, error.description)
        }
    }
}
