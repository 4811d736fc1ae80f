import GonkaCore
import Testing

@Suite("SignBytes")
struct SignBytesTests {
    @Test("layout: \"gonka/<kind>/v1\" ‖ 0x00 ‖ chain_id ‖ 0x00 ‖ bytes")
    func layout() {
        let bytes = SignBytes.make(.tx, chainID: "gonka-devnet", [0x01, 0x00, 0xFF])
        let expected: [UInt8] =
            [0x67, 0x6F, 0x6E, 0x6B, 0x61, 0x2F, 0x74, 0x78, 0x2F, 0x76, 0x31]  // "gonka/tx/v1"
            + [0x00]
            + [0x67, 0x6F, 0x6E, 0x6B, 0x61, 0x2D, 0x64, 0x65, 0x76, 0x6E, 0x65, 0x74]  // "gonka-devnet"
            + [0x00]
            + [0x01, 0x00, 0xFF]
        #expect(bytes == expected)
    }

    @Test("the kind names are part of the protocol")
    func kindNames() {
        #expect(
            SignBytes.Kind.allCases.map(\.rawValue) == [
                "tx", "vote", "proposal", "request", "payload", "handshake", "payload-request",
            ])
    }

    @Test("every kind and chain gives a different prefix", arguments: SignBytes.Kind.allCases)
    func domainSeparation(_ kind: SignBytes.Kind) {
        let body: [UInt8] = [1, 2, 3]
        let bytes = SignBytes.make(kind, chainID: "c", body)
        #expect(bytes == Array("gonka/\(kind.rawValue)/v1\u{0}c\u{0}".utf8) + body)
        for other in SignBytes.Kind.allCases where other != kind {
            #expect(SignBytes.make(other, chainID: "c", body) != bytes)
        }
        #expect(SignBytes.make(kind, chainID: "d", body) != bytes)
        #expect(SignBytes.make(kind, chainID: "", []) == Array("gonka/\(kind.rawValue)/v1".utf8) + [0, 0])
    }

    @Test("a signature over sign bytes does not verify for another kind")
    func signatureIsBound() {
        let key = SigningKey()
        let body = Array("payload".utf8)
        let signature = key.signature(for: SignBytes.make(.vote, chainID: "gonka-1", body))
        #expect(key.publicKey.isValidSignature(signature, for: SignBytes.make(.vote, chainID: "gonka-1", body)))
        #expect(!key.publicKey.isValidSignature(signature, for: SignBytes.make(.proposal, chainID: "gonka-1", body)))
        #expect(!key.publicKey.isValidSignature(signature, for: SignBytes.make(.vote, chainID: "gonka-2", body)))
    }
}
