import GonkaCore
import Testing

@Suite struct InferenceRequestSigningTests {
    let developer: SigningKey
    let ta: Address
    let executor: Address
    let body = Hash.sha256(Array(#"{"model":"m","messages":[]}"#.utf8))

    init() throws {
        developer = try SigningKey(seed: [UInt8](repeating: 1, count: 32))
        ta = try SigningKey(seed: [UInt8](repeating: 2, count: 32)).publicKey.address
        executor = try SigningKey(seed: [UInt8](repeating: 3, count: 32)).publicKey.address
    }

    @Test func developerSignatureVerifiesOnlyForItsFields() {
        let bytes = InferenceRequestSigning.developerSignBytes(
            chainID: "gonka-devnet", bodyHash: body, timestamp: 1_700_000_000_000_000_000, transferAgent: ta)
        let signature = developer.signature(for: bytes)
        #expect(developer.publicKey.isValidSignature(signature, for: bytes))
        // Any other field value (timestamp, TA, body, chain) gives other bytes.
        let others = [
            InferenceRequestSigning.developerSignBytes(
                chainID: "gonka-devnet", bodyHash: body, timestamp: 1_700_000_000_000_000_001, transferAgent: ta),
            InferenceRequestSigning.developerSignBytes(
                chainID: "gonka-devnet", bodyHash: body, timestamp: 1_700_000_000_000_000_000,
                transferAgent: executor),
            InferenceRequestSigning.developerSignBytes(
                chainID: "gonka-devnet", bodyHash: Hash.sha256(Array("x".utf8)), timestamp: 1_700_000_000_000_000_000,
                transferAgent: ta),
            InferenceRequestSigning.developerSignBytes(
                chainID: "other", bodyHash: body, timestamp: 1_700_000_000_000_000_000, transferAgent: ta),
        ]
        for other in others {
            #expect(!developer.publicKey.isValidSignature(signature, for: other))
        }
    }

    @Test func developerMessageLayout() {
        let message = InferenceRequestSigning.developerMessage(bodyHash: body, timestamp: 42, transferAgent: ta)
        #expect(String(decoding: message, as: UTF8.self) == body.hex + "42" + ta.description)
    }

    @Test func transferAgentMessageBindsExecutorAndAttempt() {
        let base = InferenceRequestSigning.developerMessage(bodyHash: body, timestamp: 42, transferAgent: ta)
        let message = InferenceRequestSigning.transferAgentMessage(
            bodyHash: body, timestamp: 42, transferAgent: ta, executor: executor, attempt: 2)
        #expect(message == base + [0] + Array(executor.description.utf8) + [0] + Array("2".utf8))
        let attempt1 = InferenceRequestSigning.transferAgentMessage(
            bodyHash: body, timestamp: 42, transferAgent: ta, executor: executor, attempt: 1)
        #expect(message != attempt1)
    }

    @Test func inferenceIDIsHexOfSignatureHash() {
        let signature = [UInt8](repeating: 7, count: 64)
        let id = InferenceRequestSigning.inferenceID(developerSignature: signature)
        #expect(id == Hash.sha256(signature).hex)
        #expect(id.count == 64)
    }
}
