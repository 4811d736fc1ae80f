import GonkaCore
import Testing

@testable import P2P

@Suite struct PeerAddressTests {
    @Test func parsesWithAndWithoutId() throws {
        let key = SigningKey().publicKey
        let withID = try PeerAddress(parsing: "\(key.hex)@10.0.0.1:26656")
        #expect(withID == PeerAddress(host: "10.0.0.1", port: 26656, id: PeerID(key)))
        #expect(withID.description == "\(key.hex)@10.0.0.1:26656")
        let plain = try PeerAddress(parsing: "localhost:1")
        #expect(plain == PeerAddress(host: "localhost", port: 1))
        let v6 = try PeerAddress(parsing: "[::1]:9000")
        #expect(v6.host == "::1")
        #expect(v6.description == "[::1]:9000")
        #expect(PeerID(key).description == key.hex)
        #expect(PeerID(key).description.count == 64)
    }

    @Test(arguments: [
        "", "host", "host:", ":80", "host:0", "host:65536", "host:-1", "host:port", "zz@host:80",
        "abcd@host:80", "@host:80",
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: P2PError.invalidAddress(text)) { try PeerAddress(parsing: text) }
    }
}
