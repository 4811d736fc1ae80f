/// What a developer and a Transfer Agent sign for one inference request (PROTOCOL §6.1–§6.3), in one
/// place so the TA, the executor and the ledger check the same bytes.
///
/// Both are `SignBytes(.request, chain_id, message)` with these messages (UTF-8):
/// * developer: `hex(SHA-256(body)) ‖ decimal timestamp ‖ ta_address`. The hex part has a fixed
///   length (64), the timestamp is digits and a bech32 address starts with letters, so the fields
///   cannot be shifted into one another.
/// * TA: the developer message `‖ 0x00 ‖ executor_address ‖ 0x00 ‖ decimal attempt`, binding the
///   forwarded request to the executor it was drawn for and the attempt number.
///
/// `inference_id = hex(SHA-256(developer signature))`.
public enum InferenceRequestSigning {
    /// The message a developer signs (before domain separation).
    public static func developerMessage(bodyHash: Hash, timestamp: Int64, transferAgent: Address) -> [UInt8] {
        Array("\(bodyHash.hex)\(timestamp)\(transferAgent)".utf8)
    }

    /// The message the Transfer Agent signs when it forwards the request to `executor`.
    public static func transferAgentMessage(
        bodyHash: Hash, timestamp: Int64, transferAgent: Address, executor: Address, attempt: UInt32
    ) -> [UInt8] {
        var message = developerMessage(bodyHash: bodyHash, timestamp: timestamp, transferAgent: transferAgent)
        message.append(0)
        message.append(contentsOf: "\(executor)".utf8)
        message.append(0)
        message.append(contentsOf: "\(attempt)".utf8)
        return message
    }

    /// The developer's sign bytes, domain-separated for `chainID`.
    public static func developerSignBytes(
        chainID: String, bodyHash: Hash, timestamp: Int64, transferAgent: Address
    ) -> [UInt8] {
        SignBytes.make(
            .request, chainID: chainID,
            developerMessage(bodyHash: bodyHash, timestamp: timestamp, transferAgent: transferAgent))
    }

    /// The Transfer Agent's sign bytes, domain-separated for `chainID`.
    public static func transferAgentSignBytes(
        chainID: String, bodyHash: Hash, timestamp: Int64, transferAgent: Address, executor: Address,
        attempt: UInt32
    ) -> [UInt8] {
        SignBytes.make(
            .request, chainID: chainID,
            transferAgentMessage(
                bodyHash: bodyHash, timestamp: timestamp, transferAgent: transferAgent, executor: executor,
                attempt: attempt))
    }

    /// `hex(SHA-256(signature))`: the inference's id everywhere (headers, chain, payload store).
    public static func inferenceID(developerSignature: some Collection<UInt8>) -> String {
        Hash.sha256(Array(developerSignature)).hex
    }
}
