import Crypto
import GonkaCore
import Testing

@testable import P2P

/// Malicious or broken peers, played by a raw TCP client: each is dropped, and the host keeps
/// serving its honest peer.
@Suite(.timeLimit(.minutes(3)), .hangGuard) struct BadPeerTests {
    enum Misbehaviour: String, CaseIterable, Sendable {
        case garbageInsteadOfHello
        case httpRequestInsteadOfHello
        case helloForAnotherChain
        case signatureByAnotherKeyThanAnnounced
        case garbageSignature
        case silentAfterConnecting
        case frameLongerThanTheMaximum
        case frameShorterThanATag
        case frameThatFailsToDecrypt
        case replayedFrame
        case frameOnUnknownChannel

        /// Misbehaviour after authentication bans the key; before it, nothing is proven, so no ban.
        var bans: Bool {
            switch self {
            case .frameLongerThanTheMaximum, .frameShorterThanATag, .frameThatFailsToDecrypt, .replayedFrame,
                .frameOnUnknownChannel:
                true
            default: false
            }
        }
    }

    @Test(arguments: Misbehaviour.allCases)
    func badPeerIsDroppedAndTheHostKeepsServing(_ misbehaviour: Misbehaviour) async throws {
        try await TestNetwork.with { network in
            let a = network.start {
                // Short only where the timeout is what is tested, so a loaded machine cannot fail the others.
                $0.handshakeTimeout = misbehaviour == .silentAfterConnecting ? .milliseconds(300) : .seconds(10)
                $0.maxFrameBytes = 4096
            }
            let honest = network.start(peers: [try await a.address()])
            try await eventually("honest peer connected") {
                a.isConnected(to: honest.id) && honest.isConnected(to: a.id)
            }
            let port = try await a.port()
            let badKey = SigningKey()
            let bad = PeerID(badKey.publicKey)

            let closed = try await RawClient.with(port: port) { client in
                try await misbehave(misbehaviour, client: &client, key: badKey, host: a)
                return await client.closedByPeer()
            }
            #expect(closed)
            try await eventually("bad peer gone") { !a.isConnected(to: bad) }
            let stats = a.host.statistics()
            if misbehaviour.bans {
                #expect(stats.protocolViolations == 1)
                #expect(stats.bans == 1)
                try await eventually("disconnected event") {
                    a.events.all.contains { if case .disconnected(bad, _) = $0 { true } else { false } }
                }
                // The banned key is refused even with an honest handshake.
                let refusedAgain = try await RawClient.with(port: port) { client in
                    _ = try? await client.handshake(key: badKey, maxFrameBytes: 4096)
                    return await client.closedByPeer()
                }
                #expect(refusedAgain)
                #expect(!a.isConnected(to: bad))
                #expect(a.host.statistics().handshakeFailures == stats.handshakeFailures + 1)
            } else {
                #expect(stats.handshakeFailures >= 1)
                #expect(stats.bans == 0)
                #expect(!a.events.all.contains(.connected(bad)))
            }
            // The node is unaffected: the honest peer stays connected and traffic flows both ways.
            #expect(a.isConnected(to: honest.id))
            #expect(a.host.send([1], on: .consensus, to: honest.id))
            #expect(honest.host.send([2], on: .consensus, to: a.id))
            try await eventually("honest traffic") {
                honest.payloads(from: a.id, on: .consensus) == [[1]]
                    && a.payloads(from: honest.id, on: .consensus) == [[2]]
            }
            #expect(a.messages.all.allSatisfy { $0.peer == honest.id || misbehaviour == .replayedFrame })
        }
    }

    private func misbehave(
        _ misbehaviour: Misbehaviour, client: inout RawClient, key: SigningKey, host: TestHost
    )
        async throws
    {
        switch misbehaviour {
        case .garbageInsteadOfHello:
            try await client.send((0..<200).map { UInt8(truncatingIfNeeded: $0 &* 73) })
        case .httpRequestInsteadOfHello:
            try await client.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        case .helloForAnotherChain:
            _ = try? await client.handshake(key: key, chainID: "another-chain")
        case .signatureByAnotherKeyThanAnnounced, .garbageSignature:
            let ephemeral = Curve25519.KeyAgreement.PrivateKey()
            let hello = P2PHandshake.Hello(
                chainID: testChain, ephemeralKey: Array(ephemeral.publicKey.rawRepresentation),
                nodeKey: key.publicKey.bytes
            ).encoded
            try await client.send(hello)
            let (_, theirs) = try await client.readHello()
            let transcript = P2PHandshake.transcript(initiatorHello: hello, responderHello: theirs)
            let signature =
                misbehaviour == .garbageSignature
                ? [UInt8](repeating: 0x5A, count: 64)
                : SigningKey().signature(for: P2PHandshake.signedBytes(chainID: testChain, transcript: transcript))
            try await client.send(signature)
        case .silentAfterConnecting:
            // Half a hello, then nothing: the handshake timeout (300 ms here) closes the socket. On a
            // loaded machine the timeout can fire before these bytes go out, and the send then meets a
            // closed channel: the same outcome, checked below by `closedByPeer`.
            try? await client.send(Array(P2PHandshake.magic.prefix(4)))
        case .frameLongerThanTheMaximum:
            _ = try await client.handshake(key: key, maxFrameBytes: 4096)
            try await eventually("admitted") { host.isConnected(to: PeerID(key.publicKey)) }
            try await client.send([0x00, 0x00, 0x10, 0x01] + [UInt8](repeating: 0, count: 64))
        case .frameShorterThanATag:
            _ = try await client.handshake(key: key, maxFrameBytes: 4096)
            try await eventually("admitted") { host.isConnected(to: PeerID(key.publicKey)) }
            try await client.send([0, 0, 0, 3, 1, 2, 3])
        case .frameThatFailsToDecrypt:
            _ = try await client.handshake(key: key, maxFrameBytes: 4096)
            try await eventually("admitted") { host.isConnected(to: PeerID(key.publicKey)) }
            try await client.send([0, 0, 0, 40] + (0..<40).map { UInt8($0) })
        case .replayedFrame:
            var codec = try await client.handshake(key: key, maxFrameBytes: 4096)
            let frame = try codec.seal([7, 7, 7], on: .mempool)
            try await client.send(frame)
            try await eventually("first copy delivered") {
                host.payloads(from: PeerID(key.publicKey), on: .mempool) == [[7, 7, 7]]
            }
            try await client.send(frame)
        case .frameOnUnknownChannel:
            var codec = try await client.handshake(key: key, maxFrameBytes: 4096)
            try await client.send(try codec.seal(plaintext: [200, 1, 2, 3]))
        }
    }
}
