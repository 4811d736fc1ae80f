import Crypto
import GonkaCore
import Testing

@testable import P2P

@Suite struct P2PHandshakeTests {
    private let chain = "gonka-test"

    /// Runs both sides in memory and returns the two codecs.
    private func complete(
        _ initiator: inout P2PHandshake, _ responder: inout P2PHandshake
    ) throws -> (PeerID, FrameCodec, PeerID, FrameCodec) {
        let (helloI, lengthI) = try #require(try P2PHandshake.Hello.parse(initiator.hello))
        let (helloR, lengthR) = try #require(try P2PHandshake.Hello.parse(responder.hello))
        #expect(lengthI == initiator.hello.count)
        #expect(lengthR == responder.hello.count)
        let (_, sigI) = try initiator.receiveHello(helloR, raw: responder.hello)
        let (_, sigR) = try responder.receiveHello(helloI, raw: initiator.hello)
        let (peerOfI, codecI) = try initiator.receiveSignature(sigR)
        let (peerOfR, codecR) = try responder.receiveSignature(sigI)
        return (peerOfI, codecI, peerOfR, codecR)
    }

    @Test func honestPeersAgreeOnIdsAndKeys() throws {
        let keyA = SigningKey()
        let keyB = SigningKey()
        var a = P2PHandshake(nodeKey: keyA, chainID: chain, initiator: true, maxFrameBytes: 1 << 20)
        var b = P2PHandshake(nodeKey: keyB, chainID: chain, initiator: false, maxFrameBytes: 1 << 20)
        var (peerOfA, codecA, peerOfB, codecB) = try complete(&a, &b)
        #expect(peerOfA == PeerID(keyB.publicKey))
        #expect(peerOfB == PeerID(keyA.publicKey))
        let frame = try codecA.seal([1, 2, 3], on: .consensus)
        #expect(try codecB.open(Array(frame.dropFirst(4))).payload == [1, 2, 3])
        let back = try codecB.seal([4], on: .evidence)
        #expect(try codecA.open(Array(back.dropFirst(4))).channel == .evidence)
    }

    @Test func otherChainIsRefused() throws {
        let a = P2PHandshake(nodeKey: SigningKey(), chainID: "other", initiator: true, maxFrameBytes: 1024)
        var b = P2PHandshake(nodeKey: SigningKey(), chainID: chain, initiator: false, maxFrameBytes: 1024)
        let (hello, _) = try #require(try P2PHandshake.Hello.parse(a.hello))
        #expect(throws: P2PError.wrongChain(expected: chain, got: "other")) {
            try b.receiveHello(hello, raw: a.hello)
        }
    }

    @Test func signatureByAnotherKeyThanAnnouncedIsRefused() throws {
        let announced = SigningKey()
        let actual = SigningKey()
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        let forged = P2PHandshake.Hello(
            chainID: chain, ephemeralKey: Array(ephemeral.publicKey.rawRepresentation),
            nodeKey: announced.publicKey.bytes
        ).encoded
        var b = P2PHandshake(nodeKey: SigningKey(), chainID: chain, initiator: false, maxFrameBytes: 1024)
        let (hello, _) = try #require(try P2PHandshake.Hello.parse(forged))
        _ = try b.receiveHello(hello, raw: forged)
        let transcript = P2PHandshake.transcript(initiatorHello: forged, responderHello: b.hello)
        let signature = actual.signature(for: P2PHandshake.signedBytes(chainID: chain, transcript: transcript))
        #expect(throws: P2PError.badSignature) { try b.receiveSignature(signature) }
        #expect(throws: P2PError.badSignature) { try b.receiveSignature([UInt8](repeating: 0, count: 64)) }
    }

    @Test func signatureFromAnotherSessionIsRefused() throws {
        // A man in the middle replays a signature the initiator made for a different session.
        let keyA = SigningKey()
        var a1 = P2PHandshake(nodeKey: keyA, chainID: chain, initiator: true, maxFrameBytes: 1024)
        let b1 = P2PHandshake(nodeKey: SigningKey(), chainID: chain, initiator: false, maxFrameBytes: 1024)
        let (helloB1, _) = try #require(try P2PHandshake.Hello.parse(b1.hello))
        let (_, oldSignature) = try a1.receiveHello(helloB1, raw: b1.hello)
        var b2 = P2PHandshake(nodeKey: SigningKey(), chainID: chain, initiator: false, maxFrameBytes: 1024)
        let (helloA, _) = try #require(try P2PHandshake.Hello.parse(a1.hello))
        _ = try b2.receiveHello(helloA, raw: a1.hello)
        #expect(throws: P2PError.badSignature) { try b2.receiveSignature(oldSignature) }
    }

    @Test func helloParsing() throws {
        let hs = P2PHandshake(nodeKey: SigningKey(), chainID: chain, initiator: true, maxFrameBytes: 1024)
        // Every strict prefix asks for more bytes; the whole hello parses with trailing bytes left alone.
        for n in 0..<hs.hello.count {
            #expect(try P2PHandshake.Hello.parse(Array(hs.hello.prefix(n))) == nil)
        }
        let parsed = try #require(try P2PHandshake.Hello.parse(hs.hello + [1, 2, 3]))
        #expect(parsed.length == hs.hello.count)
        #expect(parsed.hello.chainID == chain)
        #expect(throws: P2PError.badHello("bad magic")) { try P2PHandshake.Hello.parse(Array("GET / HTTP/1.1".utf8)) }
        #expect(throws: P2PError.badHello("bad magic")) { try P2PHandshake.Hello.parse([0x47, 0x00]) }
        let long = P2PHandshake.magic + [0x10, 0x00]
        #expect(throws: P2PError.badHello("chain id too long")) { try P2PHandshake.Hello.parse(long) }
        let badUTF8 = P2PHandshake.magic + [0, 2, 0xFF, 0xFE] + [UInt8](repeating: 1, count: 64)
        #expect(throws: P2PError.badHello("chain id is not UTF-8")) { try P2PHandshake.Hello.parse(badUTF8) }
    }

    @Test func invalidNodeKeyOrEphemeralKeyIsRefused() throws {
        var b = P2PHandshake(nodeKey: SigningKey(), chainID: chain, initiator: false, maxFrameBytes: 1024)
        // y = 2 is not the encoding of a point on Ed25519.
        var notAPoint = [UInt8](repeating: 0, count: 32)
        notAPoint[0] = 2
        let bad = P2PHandshake.Hello(chainID: chain, ephemeralKey: [UInt8](repeating: 9, count: 32), nodeKey: notAPoint)
        #expect(throws: P2PError.self) { try b.receiveHello(bad, raw: bad.encoded) }
        // An all-zero (low-order) X25519 key makes the key agreement fail instead of yielding known keys.
        let keyA = SigningKey()
        let zero = P2PHandshake.Hello(
            chainID: chain, ephemeralKey: [UInt8](repeating: 0, count: 32), nodeKey: keyA.publicKey.bytes)
        _ = try b.receiveHello(zero, raw: zero.encoded)
        let transcript = P2PHandshake.transcript(initiatorHello: zero.encoded, responderHello: b.hello)
        let signature = keyA.signature(for: P2PHandshake.signedBytes(chainID: chain, transcript: transcript))
        #expect(throws: P2PError.keyAgreementFailed) { try b.receiveSignature(signature) }
    }
}
