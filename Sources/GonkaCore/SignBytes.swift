/// What a signature covers, domain-separated so a signature of one kind can never be replayed as
/// another or on another chain (PROTOCOL §2):
/// `"gonka/<kind>/v1" ‖ 0x00 ‖ chain_id ‖ 0x00 ‖ bytes`.
public enum SignBytes {
    /// The kinds of signed objects. Raw values are part of the protocol.
    public enum Kind: String, Sendable, CaseIterable {
        case tx
        case vote
        case proposal
        case request
        case payload
        case handshake
        /// A validator's request for an executor's payload (`GET /v1/inferences/{id}/payload`).
        case payloadRequest = "payload-request"
    }

    public static func make(_ kind: Kind, chainID: String, _ bytes: some Sequence<UInt8>) -> [UInt8] {
        var out = Array("gonka/\(kind.rawValue)/v1".utf8)
        out.append(0)
        out.append(contentsOf: chainID.utf8)
        out.append(0)
        out.append(contentsOf: bytes)
        return out
    }
}
