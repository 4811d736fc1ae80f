import Crypto
import GonkaCore

/// The authenticated key exchange that opens every connection. Pure values: the NIO handler drives
/// it, and tests use it to play honest and malicious peers.
///
/// Wire layout (both sides send their hello at once, then their signature):
/// ```
/// hello     = "GNKP2P1" ‖ u16be len(chain_id) ‖ chain_id ‖ X25519 ephemeral pubkey (32) ‖ Ed25519 node pubkey (32)
/// transcript = SHA-256(initiator hello ‖ responder hello)
/// signature = Ed25519(node key, SignBytes(.handshake, chain_id, transcript))   (64 bytes, raw)
/// keys      = HKDF-SHA256(X25519 shared secret, salt: transcript, info: "gonka p2p i->r" | "gonka p2p r->i")
/// ```
/// The ephemeral keys give forward secrecy; signing the transcript (which holds both ephemeral keys
/// and both node keys) proves each side owns its node key and binds it to this very session, so a
/// hello or signature copied from another session never verifies.
public struct P2PHandshake: Sendable {
    /// The first bytes of every hello; a peer speaking anything else is dropped at once.
    public static let magic: [UInt8] = Array("GNKP2P1".utf8)
    /// Longest chain id a hello may carry, so a hello is small and bounded.
    public static let maxChainIDBytes = 128
    /// Length of the handshake signature.
    public static let signatureBytes = 64

    /// One side's hello.
    public struct Hello: Sendable, Equatable {
        public var chainID: String
        public var ephemeralKey: [UInt8]
        public var nodeKey: [UInt8]

        public init(chainID: String, ephemeralKey: [UInt8], nodeKey: [UInt8]) {
            self.chainID = chainID
            self.ephemeralKey = ephemeralKey
            self.nodeKey = nodeKey
        }

        public var encoded: [UInt8] {
            let chain = Array(chainID.utf8)
            var out = P2PHandshake.magic
            out.reserveCapacity(out.count + 2 + chain.count + 64)
            out.append(UInt8(truncatingIfNeeded: chain.count >> 8))
            out.append(UInt8(truncatingIfNeeded: chain.count))
            out += chain
            out += ephemeralKey
            out += nodeKey
            return out
        }

        /// Parses a hello from the front of `bytes`: nil while more bytes are needed, else the hello
        /// and how many bytes it took. Throws as soon as the bytes cannot be a hello.
        public static func parse(_ bytes: [UInt8]) throws(P2PError) -> (hello: Hello, length: Int)? {
            let magic = P2PHandshake.magic
            let checked = min(bytes.count, magic.count)
            guard bytes[0..<checked].elementsEqual(magic[0..<checked]) else { throw .badHello("bad magic") }
            guard bytes.count >= magic.count + 2 else { return nil }
            let chainLength = Int(bytes[magic.count]) << 8 | Int(bytes[magic.count + 1])
            guard chainLength <= P2PHandshake.maxChainIDBytes else { throw .badHello("chain id too long") }
            let total = magic.count + 2 + chainLength + 64
            guard bytes.count >= total else { return nil }
            var offset = magic.count + 2
            guard let chainID = String(validating: bytes[offset..<offset + chainLength], as: UTF8.self) else {
                throw .badHello("chain id is not UTF-8")
            }
            offset += chainLength
            let ephemeral = Array(bytes[offset..<offset + 32])
            let node = Array(bytes[offset + 32..<offset + 64])
            return (Hello(chainID: chainID, ephemeralKey: ephemeral, nodeKey: node), total)
        }
    }

    /// SHA-256 over both hellos, initiator first.
    public static func transcript(initiatorHello: [UInt8], responderHello: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: initiatorHello)
        hasher.update(data: responderHello)
        return Array(hasher.finalize())
    }

    /// What each side signs.
    public static func signedBytes(chainID: String, transcript: [UInt8]) -> [UInt8] {
        SignBytes.make(.handshake, chainID: chainID, transcript)
    }

    /// The two directional frame keys; `initiator` says which one this side sends with.
    public static func frameCodec(
        ephemeral: Curve25519.KeyAgreement.PrivateKey, peerEphemeral: [UInt8], transcript: [UInt8],
        initiator: Bool, maxFrameBytes: Int
    ) throws(P2PError) -> FrameCodec {
        let secret: SharedSecret
        do {
            let peerKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peerEphemeral)
            secret = try ephemeral.sharedSecretFromKeyAgreement(with: peerKey)
        } catch {
            throw .keyAgreementFailed
        }
        // A low-order ephemeral key from the peer yields the all-zero secret, which an attacker knows;
        // the Linux backend does not refuse it (a test caught this), so it is checked here (RFC 7748 §6.1).
        guard !secret.withUnsafeBytes({ $0.allSatisfy { $0 == 0 } }) else { throw .keyAgreementFailed }
        func key(_ info: String) -> SymmetricKey {
            secret.hkdfDerivedSymmetricKey(
                using: SHA256.self, salt: transcript, sharedInfo: Array(info.utf8), outputByteCount: 32)
        }
        let initiatorToResponder = key("gonka p2p i->r")
        let responderToInitiator = key("gonka p2p r->i")
        return FrameCodec(
            sendKey: initiator ? initiatorToResponder : responderToInitiator,
            receiveKey: initiator ? responderToInitiator : initiatorToResponder,
            maxFrameBytes: maxFrameBytes)
    }

    // MARK: - One side's progress

    public let chainID: String
    public let initiator: Bool
    private let nodeKey: SigningKey
    private let ephemeral: Curve25519.KeyAgreement.PrivateKey
    private let maxFrameBytes: Int
    /// Our hello, to send first.
    public let hello: [UInt8]
    private var peer: (hello: Hello, transcript: [UInt8])?

    public init(
        nodeKey: SigningKey, chainID: String, initiator: Bool, maxFrameBytes: Int,
        ephemeral: Curve25519.KeyAgreement.PrivateKey = .init()
    ) {
        self.nodeKey = nodeKey
        self.chainID = chainID
        self.initiator = initiator
        self.ephemeral = ephemeral
        self.maxFrameBytes = maxFrameBytes
        hello =
            Hello(
                chainID: chainID, ephemeralKey: Array(ephemeral.publicKey.rawRepresentation),
                nodeKey: nodeKey.publicKey.bytes
            ).encoded
    }

    /// Takes the peer's hello (its raw bytes as parsed) and returns the peer's claimed id and our
    /// signature to send. The id is not proven until `receiveSignature` succeeds.
    public mutating func receiveHello(
        _ peerHello: Hello, raw: [UInt8]
    ) throws(P2PError) -> (
        claimed: PeerID, signature: [UInt8]
    ) {
        guard peerHello.chainID == chainID else { throw .wrongChain(expected: chainID, got: peerHello.chainID) }
        let key: PublicKey
        do {
            key = try PublicKey(bytes: peerHello.nodeKey)
        } catch {
            throw .badHello("node key is not an Ed25519 public key")
        }
        guard peerHello.ephemeralKey.count == 32 else { throw .badHello("ephemeral key length") }
        let transcript =
            initiator
            ? Self.transcript(initiatorHello: hello, responderHello: raw)
            : Self.transcript(initiatorHello: raw, responderHello: hello)
        peer = (peerHello, transcript)
        return (PeerID(key), nodeKey.signature(for: Self.signedBytes(chainID: chainID, transcript: transcript)))
    }

    /// Verifies the peer's signature over the transcript and derives the frame keys.
    public func receiveSignature(_ signature: [UInt8]) throws(P2PError) -> (peer: PeerID, codec: FrameCodec) {
        guard let peer else { throw .badHello("signature before hello") }
        guard let key = try? PublicKey(bytes: peer.hello.nodeKey),
            key.isValidSignature(signature, for: Self.signedBytes(chainID: chainID, transcript: peer.transcript))
        else { throw .badSignature }
        let codec = try Self.frameCodec(
            ephemeral: ephemeral, peerEphemeral: peer.hello.ephemeralKey, transcript: peer.transcript,
            initiator: initiator, maxFrameBytes: maxFrameBytes)
        return (PeerID(key), codec)
    }
}
