import Foundation
import GonkaCore
import GonkaWire
import Ledger

/// A developer's signed inference request as a Transfer Agent receives it (PROTOCOL §6.1).
public struct TestInferenceRequest: Sendable {
    public let requester: SigningKey
    public let transferAgent: Address
    public let bodyHash: Hash
    public let timestamp: Int64
    public let developerSignature: [UInt8]

    public init(
        requester: SigningKey, transferAgent: Address, bodyHash: Hash, timestamp: Int64, developerSignature: [UInt8]
    ) {
        self.requester = requester
        self.transferAgent = transferAgent
        self.bodyHash = bodyHash
        self.timestamp = timestamp
        self.developerSignature = developerSignature
    }

    /// `hex(SHA-256(developer_signature))`.
    public var inferenceID: String { InferenceRequestSigning.inferenceID(developerSignature: developerSignature) }
}

extension TestChain {
    /// Signs `body` as `requester` would for Transfer Agent `transferAgent` at `timestamp` (ns).
    public func inferenceRequest(
        requester: SigningKey, transferAgent: Address, body: String = "{\"messages\":[]}", timestamp: Int64 = 0
    ) -> TestInferenceRequest {
        let bodyHash = Hash.sha256(body)
        let signature = requester.signature(
            for: InferenceRequestSigning.developerSignBytes(
                chainID: Self.chainID, bodyHash: bodyHash, timestamp: timestamp, transferAgent: transferAgent))
        return TestInferenceRequest(
            requester: requester, transferAgent: transferAgent, bodyHash: bodyHash, timestamp: timestamp,
            developerSignature: Array(signature))
    }

    /// The executor the draw picks for `request` at `attempt`, from the committed executor pool.
    public func drawnExecutor(for request: TestInferenceRequest, model: String, attempt: UInt32 = 0) throws -> Address {
        let pool = try ledger.executors(model: model)
        guard
            let executor = try ExecutorDraw.executor(
                inferenceID: request.inferenceID, epochSeed: pool.epochSeed, attempt: attempt,
                transferAgent: request.transferAgent, candidates: pool.candidates)
        else { throw LedgerTestError("no executor candidates for \(model)") }
        return executor
    }

    /// The Transfer Agent's `MsgStartInference` for `request`, signed by `taKey`.
    public func startInference(
        _ request: TestInferenceRequest, taKey: SigningKey, executor: Address, model: String, attempt: UInt32 = 0,
        promptTokens: UInt64 = 10, maxTokens: UInt64 = 100, includePubkey: Bool = true
    ) -> Wire.MsgStartInference {
        var msg = Wire.MsgStartInference()
        msg.inferenceID = request.inferenceID
        msg.requester = request.requester.publicKey.address.description
        msg.transferAgent = request.transferAgent.description
        msg.executor = executor.description
        msg.attempt = attempt
        msg.model = model
        msg.promptHash = Data(request.bodyHash.bytes)
        msg.promptTokens = promptTokens
        msg.maxTokens = maxTokens
        msg.timestamp = request.timestamp
        msg.developerSignature = Data(request.developerSignature)
        msg.taSignature = Data(
            taKey.signature(
                for: InferenceRequestSigning.transferAgentSignBytes(
                    chainID: Self.chainID, bodyHash: request.bodyHash, timestamp: request.timestamp,
                    transferAgent: request.transferAgent, executor: executor, attempt: attempt)))
        if includePubkey { msg.requesterPubkey = Data(request.requester.publicKey.bytes) }
        return msg
    }

    /// The executor's `MsgFinishInference` for `request`.
    public func finishInference(
        _ request: TestInferenceRequest, executor: Address, model: String, promptTokens: UInt64 = 10,
        completionTokens: UInt64 = 20, commitment: Hash = Hash.sha256("payload")
    ) -> Wire.MsgFinishInference {
        var msg = Wire.MsgFinishInference()
        msg.inferenceID = request.inferenceID
        msg.executor = executor.description
        msg.promptTokens = promptTokens
        msg.completionTokens = completionTokens
        msg.responseCommitment = Data(commitment.bytes)
        msg.model = model
        msg.requester = request.requester.publicKey.address.description
        return msg
    }

    /// The validator key whose account is `address`.
    public func validatorKey(_ address: Address) -> SigningKey? {
        validators.first { $0.publicKey.address == address }
    }

    /// A transaction signed by `key` with fee 0 (a duty transaction).
    public func dutyTx(_ messages: [Wire.Msg], by key: SigningKey) throws -> [UInt8] {
        try sign(body(messages, signer: key, fee: 0), by: key)
    }
}

/// A test fixture's own failure (not a ledger error).
public struct LedgerTestError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
