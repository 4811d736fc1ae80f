/// Errors of the P2P transport. `shortDescription` carries no associated values (safe as a metric label).
public struct P2PError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case invalidAddress(String)
        case badHello(String)
        case wrongChain(expected: String, got: String)
        case badSignature
        case unexpectedPeer(expected: String, got: String)
        case notAllowed(String)
        case banned(String)
        case selfConnection
        case duplicate(String)
        case tooManyPeers(Int)
        case frameTooLarge(size: Int, max: Int)
        case frameTooSmall(Int)
        case decryptionFailed
        case unknownChannel(UInt8)
        case handshakeTimeout
        case isolated
        case keyAgreementFailed
        case notRunning
        case alreadyRunning
        case connectionClosed
    }

    private let code: Code

    private init(code: Code) { self.code = code }

    public static func invalidAddress(_ text: String) -> Self { Self(code: .invalidAddress(text)) }
    public static func badHello(_ why: String) -> Self { Self(code: .badHello(why)) }
    public static func wrongChain(expected: String, got: String) -> Self {
        Self(code: .wrongChain(expected: expected, got: got))
    }
    public static var badSignature: Self { Self(code: .badSignature) }
    public static func unexpectedPeer(expected: PeerID, got: PeerID) -> Self {
        Self(code: .unexpectedPeer(expected: expected.description, got: got.description))
    }
    public static func notAllowed(_ peer: PeerID) -> Self { Self(code: .notAllowed(peer.description)) }
    public static func banned(_ peer: PeerID) -> Self { Self(code: .banned(peer.description)) }
    public static var selfConnection: Self { Self(code: .selfConnection) }
    public static func duplicate(_ peer: PeerID) -> Self { Self(code: .duplicate(peer.description)) }
    public static func tooManyPeers(_ max: Int) -> Self { Self(code: .tooManyPeers(max)) }
    public static func frameTooLarge(size: Int, max: Int) -> Self { Self(code: .frameTooLarge(size: size, max: max)) }
    public static func frameTooSmall(_ size: Int) -> Self { Self(code: .frameTooSmall(size)) }
    public static var decryptionFailed: Self { Self(code: .decryptionFailed) }
    public static func unknownChannel(_ byte: UInt8) -> Self { Self(code: .unknownChannel(byte)) }
    public static var handshakeTimeout: Self { Self(code: .handshakeTimeout) }
    public static var isolated: Self { Self(code: .isolated) }
    public static var keyAgreementFailed: Self { Self(code: .keyAgreementFailed) }
    public static var notRunning: Self { Self(code: .notRunning) }
    public static var alreadyRunning: Self { Self(code: .alreadyRunning) }
    public static var connectionClosed: Self { Self(code: .connectionClosed) }

    /// A stable label without associated values.
    public var shortDescription: String {
        switch code {
        case .invalidAddress: "invalid_address"
        case .badHello: "bad_hello"
        case .wrongChain: "wrong_chain"
        case .badSignature: "bad_signature"
        case .unexpectedPeer: "unexpected_peer"
        case .notAllowed: "not_allowed"
        case .banned: "banned"
        case .selfConnection: "self_connection"
        case .duplicate: "duplicate_connection"
        case .tooManyPeers: "too_many_peers"
        case .frameTooLarge: "frame_too_large"
        case .frameTooSmall: "frame_too_small"
        case .decryptionFailed: "decryption_failed"
        case .unknownChannel: "unknown_channel"
        case .handshakeTimeout: "handshake_timeout"
        case .isolated: "isolated"
        case .keyAgreementFailed: "key_agreement_failed"
        case .notRunning: "not_running"
        case .alreadyRunning: "already_running"
        case .connectionClosed: "connection_closed"
        }
    }

    public var description: String {
        switch code {
        case .invalidAddress(let text): "invalid peer address \"\(text)\" (want HEXPUBKEY@host:port or host:port)"
        case .badHello(let why): "malformed handshake hello: \(why)"
        case .wrongChain(let expected, let got): "peer is on chain \"\(got)\", this node on \"\(expected)\""
        case .badSignature: "handshake signature does not verify against the announced node key"
        case .unexpectedPeer(let expected, let got): "dialled peer \(expected) but \(got) answered"
        case .notAllowed(let peer): "peer \(peer) is not in the allowed peers"
        case .banned(let peer): "peer \(peer) is banned"
        case .selfConnection: "connection to self"
        case .duplicate(let peer): "already connected to peer \(peer)"
        case .tooManyPeers(let max): "too many peers (max \(max))"
        case .frameTooLarge(let size, let max): "frame of \(size) bytes exceeds the maximum of \(max)"
        case .frameTooSmall(let size): "frame of \(size) bytes is shorter than a sealed channel byte"
        case .decryptionFailed: "frame failed to authenticate (corrupt, replayed or reordered)"
        case .unknownChannel(let byte): "unknown channel \(byte)"
        case .handshakeTimeout: "handshake timed out"
        case .isolated: "host is isolated (fault-test hook)"
        case .keyAgreementFailed: "X25519 key agreement failed (invalid ephemeral key)"
        case .notRunning: "host is not running"
        case .alreadyRunning: "host is already running"
        case .connectionClosed: "connection closed"
        }
    }
}
