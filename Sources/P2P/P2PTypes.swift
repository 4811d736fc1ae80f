import GonkaCore

/// The logical streams multiplexed on one connection. Raw values are the channel byte inside every
/// sealed frame (part of the wire format).
public enum P2PChannel: UInt8, Sendable, CaseIterable {
    case consensus = 1
    case mempool = 2
    case blockSync = 3
    case evidence = 4
    case stateSync = 5
}

/// A peer's identity: its Ed25519 node (p2p) public key, proven by the handshake signature.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public let publicKey: PublicKey

    public init(_ key: PublicKey) { publicKey = key }

    /// Hex of the public key (64 characters).
    public var description: String { publicKey.hex }

    /// The first 8 hex characters, for log metadata.
    var shortDescription: String { String(publicKey.hex.prefix(8)) }
}

/// Where to dial a peer: `"HEXPUBKEY@host:port"` (the key is checked during the handshake) or
/// `"host:port"` (any authenticated id is accepted).
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var id: PeerID?

    public init(host: String, port: Int, id: PeerID? = nil) {
        self.host = host
        self.port = port
        self.id = id
    }

    /// Parses `"HEXPUBKEY@host:port"` or `"host:port"`; IPv6 hosts are written in brackets
    /// (`"[::1]:26656"`).
    public init(parsing text: String) throws(P2PError) {
        var rest = Substring(text)
        var id: PeerID?
        if let at = rest.firstIndex(of: "@") {
            let hex = String(rest[..<at])
            guard let bytes = Hex.decode(hex), let key = try? PublicKey(bytes: bytes) else {
                throw .invalidAddress(text)
            }
            id = PeerID(key)
            rest = rest[rest.index(after: at)...]
        }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
            (1...65535).contains(port)
        else { throw .invalidAddress(text) }
        var host = rest[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = host.dropFirst().dropLast()
        }
        guard !host.isEmpty, !host.contains("@") else { throw .invalidAddress(text) }
        self.init(host: String(host), port: port, id: id)
    }

    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        if let id { return "\(id)@\(hostPart):\(port)" }
        return "\(hostPart):\(port)"
    }
}

/// One application message received from an authenticated peer.
public struct InboundMessage: Sendable {
    public let peer: PeerID
    public let channel: P2PChannel
    public let payload: [UInt8]

    public init(peer: PeerID, channel: P2PChannel, payload: [UInt8]) {
        self.peer = peer
        self.channel = channel
        self.payload = payload
    }
}

/// A change in the set of connected (authenticated) peers.
public enum PeerEvent: Sendable, Equatable {
    case connected(PeerID)
    case disconnected(PeerID, reason: String)
}

/// An established connection as seen by `P2PHost.connectedPeers()`.
public struct PeerInfo: Sendable, Hashable {
    public let id: PeerID
    /// `host:port` of the remote end of the socket.
    public let remoteAddress: String
    /// Whether this side dialled the connection.
    public let outbound: Bool
}

/// Counters for metrics; monotonic since the host was created.
public struct P2PStatistics: Sendable, Hashable {
    /// Sealed frames received and opened successfully.
    public var framesIn: UInt64 = 0
    /// Sealed frames handed to the socket.
    public var framesOut: UInt64 = 0
    /// Bytes received on established connections (length prefixes included).
    public var bytesIn: UInt64 = 0
    /// Bytes handed to the socket on established connections (length prefixes included).
    public var bytesOut: UInt64 = 0
    /// Messages refused by `send`/`broadcast` because a peer's queue was full or the peer unknown.
    public var sendDrops: UInt64 = 0
    /// Inbound messages dropped because one read burst overshot twice `inboundQueueLimit` while the
    /// application was not consuming `inbound` (reading pauses at the limit, so this stays rare).
    public var inboundDrops: UInt64 = 0
    /// Peers banned (protocol violations and `punish`).
    public var bans: UInt64 = 0
    /// Connections refused or closed during the handshake (bad hello, bad signature, policy).
    public var handshakeFailures: UInt64 = 0
    /// Established connections closed because the peer sent bad frames.
    public var protocolViolations: UInt64 = 0
    /// Connections authenticated (both directions).
    public var connectionsEstablished: UInt64 = 0

    public init() {}
}
