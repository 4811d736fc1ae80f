import GonkaCore

/// Settings of one `P2PHost`.
public struct P2PConfiguration: Sendable {
    /// The Ed25519 node key; its public key is this host's `PeerID`.
    public var nodeKey: SigningKey
    /// Part of the handshake transcript; a peer of another chain is refused.
    public var chainID: String
    public var listenHost: String = "127.0.0.1"
    /// 0 = any free port; read the bound port from `P2PHost.listeningPort()`.
    public var listenPort: Int = 0
    /// Dialled at start and re-dialled with backoff while disconnected.
    public var persistentPeers: [PeerAddress] = []
    /// nil = accept any authenticated peer; otherwise only these (inbound and outbound).
    public var allowedPeers: Set<PeerID>? = nil
    /// The largest sealed frame (ciphertext + tag, without the length prefix) accepted or sent.
    public var maxFrameBytes: Int = 16 << 20
    /// Messages queued per peer before new ones are dropped (`send` returns false).
    public var sendQueueLimit: Int = 4096
    /// Messages received but not yet consumed from `P2PHost.inbound` before the host stops reading
    /// from the sockets (backpressure: senders' queues fill up instead); reading resumes at half.
    public var inboundQueueLimit: Int = 4096
    public var handshakeTimeout: Duration = .seconds(5)
    /// Redial delay: starts at `min`, doubles after each failure, capped at `max`.
    public var reconnectBackoff: (min: Duration, max: Duration) = (.milliseconds(100), .seconds(5))
    /// How long a punished or misbehaving peer is refused.
    public var banDuration: Duration = .seconds(60)
    /// Inbound connections accepted at most (outbound persistent peers are always dialled).
    public var maxPeers: Int = 64

    public init(nodeKey: SigningKey, chainID: String) {
        self.nodeKey = nodeKey
        self.chainID = chainID
    }
}
