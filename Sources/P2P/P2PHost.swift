import GonkaCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The p2p transport of a chain node: listens, dials persistent peers, authenticates and encrypts
/// every connection, and multiplexes the `P2PChannel`s over it.
///
/// `run()` binds, dials persistent peers and serves until its task is cancelled (or a graceful
/// shutdown of its `ServiceGroup`), then closes every connection. A host runs once.
public final class P2PHost: Service, Sendable {
    let core: HostCore

    public init(configuration: P2PConfiguration, logger: Logger) {
        core = HostCore(configuration: configuration, logger: logger)
    }

    /// This host's identity (its node key's public key).
    public var id: PeerID { core.ownID }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await self.core.run()
        }
    }

    /// The bound TCP port; waits until `run()` has bound it, throws if the host stopped or failed to bind.
    public func listeningPort() async throws -> Int { try await core.listeningPort() }

    /// The bound TCP port while the host runs, else nil (never waits: for status pages).
    public var boundPort: Int? { core.boundPort }

    /// Messages from authenticated peers, in order per connection. Single consumer; ends once
    /// `run()` has returned and what was queued has been taken, or when the consuming task is
    /// cancelled. Keep consuming: with `inboundQueueLimit` messages unconsumed the host stops reading
    /// from the peers that delivered them (backpressure) until the backlog halves.
    public var inbound: AsyncStream<InboundMessage> { core.inbound }

    /// Peers connecting and disconnecting. Single consumer; finishes when `run()` returns. Keeps the
    /// newest 1024 events if nobody reads.
    public var events: AsyncStream<PeerEvent> { core.events }

    /// Queues `payload` for `peer` on `channel`. Never blocks: returns false (and counts a drop) if the
    /// peer is not connected, its queue holds `sendQueueLimit` messages, or the frame would exceed
    /// `maxFrameBytes`. Delivery is in order per peer while the connection lasts, at most once: a
    /// message queued when its connection closes (or is replaced by a duplicate's winner) is lost, so
    /// protocols on top re-send what matters (consensus re-gossips, block sync re-requests).
    @discardableResult
    public func send(_ payload: [UInt8], on channel: P2PChannel, to peer: PeerID) -> Bool {
        core.send(payload, on: channel, to: peer)
    }

    /// `send` to every connected peer except `except`.
    public func broadcast(_ payload: [UInt8], on channel: P2PChannel, except: PeerID? = nil) {
        for peer in core.connectedPeerIDs() where peer != except {
            _ = core.send(payload, on: channel, to: peer)
        }
    }

    /// The established connections.
    public func connectedPeers() -> [PeerInfo] { core.connectedPeers() }

    /// The application found this peer's data invalid: disconnect it and refuse it for `banDuration`.
    public func punish(_ peer: PeerID, reason: String) { core.ban(peer, reason: "punished: \(reason)") }

    /// Fault-test hook: while isolated, every connection is closed, nothing is sent or delivered and
    /// new connections are refused; healing lets the persistent-peer dialers reconnect at once.
    public func setIsolated(_ isolated: Bool) { core.setIsolated(isolated) }

    /// Counters since the host was created.
    public func statistics() -> P2PStatistics { core.counters.snapshot() }
}

/// One authenticated connection, shared between the host's peer table and its channel handler.
final class PeerConnection: Sendable {
    let id: PeerID
    let remoteAddress: String
    let outbound: Bool
    let channel: any Channel
    let handler: NIOLoopBound<PeerConnectionHandler>
    /// Messages accepted by `send` and not yet handed to the socket (the bounded send queue).
    let pending = Atomic<Int>(0)

    init(
        id: PeerID, remoteAddress: String, outbound: Bool, channel: any Channel,
        handler: NIOLoopBound<PeerConnectionHandler>
    ) {
        self.id = id
        self.remoteAddress = remoteAddress
        self.outbound = outbound
        self.channel = channel
        self.handler = handler
    }

    var info: PeerInfo { PeerInfo(id: id, remoteAddress: remoteAddress, outbound: outbound) }

    /// Closes the connection from any thread, recording why (the reason of the `disconnected` event).
    func close(reason: String) {
        let handler = handler
        channel.eventLoop.execute { handler.value.close(reason: reason) }
    }
}

/// Atomic counters behind `P2PStatistics`.
final class Counters: Sendable {
    let framesIn = Atomic<UInt64>(0)
    let framesOut = Atomic<UInt64>(0)
    let bytesIn = Atomic<UInt64>(0)
    let bytesOut = Atomic<UInt64>(0)
    let sendDrops = Atomic<UInt64>(0)
    let inboundDrops = Atomic<UInt64>(0)
    let bans = Atomic<UInt64>(0)
    let handshakeFailures = Atomic<UInt64>(0)
    let protocolViolations = Atomic<UInt64>(0)
    let connectionsEstablished = Atomic<UInt64>(0)

    enum Name {
        case framesIn, framesOut, bytesIn, bytesOut, sendDrops, inboundDrops, bans, handshakeFailures
        case protocolViolations, connectionsEstablished
    }

    func add(_ name: Name, _ value: Int = 1) {
        let value = UInt64(max(0, value))
        switch name {
        case .framesIn: framesIn.wrappingAdd(value, ordering: .relaxed)
        case .framesOut: framesOut.wrappingAdd(value, ordering: .relaxed)
        case .bytesIn: bytesIn.wrappingAdd(value, ordering: .relaxed)
        case .bytesOut: bytesOut.wrappingAdd(value, ordering: .relaxed)
        case .sendDrops: sendDrops.wrappingAdd(value, ordering: .relaxed)
        case .inboundDrops: inboundDrops.wrappingAdd(value, ordering: .relaxed)
        case .bans: bans.wrappingAdd(value, ordering: .relaxed)
        case .handshakeFailures: handshakeFailures.wrappingAdd(value, ordering: .relaxed)
        case .protocolViolations: protocolViolations.wrappingAdd(value, ordering: .relaxed)
        case .connectionsEstablished: connectionsEstablished.wrappingAdd(value, ordering: .relaxed)
        }
    }

    func snapshot() -> P2PStatistics {
        var s = P2PStatistics()
        s.framesIn = framesIn.load(ordering: .relaxed)
        s.framesOut = framesOut.load(ordering: .relaxed)
        s.bytesIn = bytesIn.load(ordering: .relaxed)
        s.bytesOut = bytesOut.load(ordering: .relaxed)
        s.sendDrops = sendDrops.load(ordering: .relaxed)
        s.inboundDrops = inboundDrops.load(ordering: .relaxed)
        s.bans = bans.load(ordering: .relaxed)
        s.handshakeFailures = handshakeFailures.load(ordering: .relaxed)
        s.protocolViolations = protocolViolations.load(ordering: .relaxed)
        s.connectionsEstablished = connectionsEstablished.load(ordering: .relaxed)
        return s
    }
}

/// The host's shared state and its operations; the channel handlers call into it from event loops,
/// the public API from any thread, so everything mutable sits behind one `Mutex` (short critical
/// sections, no I/O inside) or in atomics.
final class HostCore: Sendable {
    let configuration: P2PConfiguration
    let logger: Logger
    let ownID: PeerID
    let counters = Counters()
    let inbound: AsyncStream<InboundMessage>
    let events: AsyncStream<PeerEvent>
    let inboundQueue: InboundQueue
    private let eventsContinuation: AsyncStream<PeerEvent>.Continuation
    private let group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    private let state = Mutex(State())

    private struct State {
        enum Phase { case idle, running(port: Int), stopped }
        var phase = Phase.idle
        var portWaiters: [CheckedContinuation<Int, any Error>] = []
        var peers: [PeerID: PeerConnection] = [:]
        var bans: [PeerID: ContinuousClock.Instant] = [:]
        var isolated = false
        /// Every open socket, handshaking or established, so isolation and shutdown reach them all.
        var channels: [ObjectIdentifier: any Channel] = [:]
        var server: (any Channel)?
    }

    init(configuration: P2PConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        ownID = PeerID(configuration.nodeKey.publicKey)
        inboundQueue = InboundQueue(limit: configuration.inboundQueueLimit)
        inbound = inboundQueue.makeStream()
        (events, eventsContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
    }

    // MARK: - Lifecycle

    func run() async throws {
        let startError: P2PError? = state.withLock { state in
            guard case .idle = state.phase else { return .alreadyRunning }
            state.phase = .running(port: 0)
            return nil
        }
        if let startError { throw startError }
        let server: any Channel
        do {
            server = try await bind()
        } catch {
            let waiters = state.withLock { state in
                state.phase = .stopped
                defer { state.portWaiters = [] }
                return state.portWaiters
            }
            for waiter in waiters { waiter.resume(throwing: error) }
            finishStreams()
            throw error
        }
        let port = server.localAddress?.port ?? 0
        let waiters = state.withLock { state in
            state.phase = .running(port: port)
            state.server = server
            defer { state.portWaiters = [] }
            return state.portWaiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
        logger.info("p2p listening", metadata: ["p2p.port": "\(port)", "p2p.id": "\(ownID.shortDescription)"])

        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for address in configuration.persistentPeers {
                    group.addTask { await self.dialLoop(address) }
                }
                group.addTask {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                }
            }
        } onCancel: {
            self.shutdown()
        }
        shutdown()
        let closing = state.withLock { state in Array(state.channels.values) + (state.server.map { [$0] } ?? []) }
        for channel in closing { try? await channel.closeFuture.get() }
        finishStreams()
        logger.info("p2p stopped", metadata: ["p2p.id": "\(ownID.shortDescription)"])
    }

    private func finishStreams() {
        inboundQueue.finish()
        eventsContinuation.finish()
    }

    /// Stops accepting and closes every connection; safe from any thread, idempotent.
    private func shutdown() {
        let (server, channels, waiters) = state.withLock { state in
            state.phase = .stopped
            defer { state.portWaiters = [] }
            return (state.server, Array(state.channels.values), state.portWaiters)
        }
        for waiter in waiters { waiter.resume(throwing: P2PError.notRunning) }
        server?.close(promise: nil)
        for channel in channels { channel.close(promise: nil) }
    }

    var boundPort: Int? {
        state.withLock { state in
            if case .running(let port) = state.phase, port != 0 { return port }
            return nil
        }
    }

    func listeningPort() async throws -> Int {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            let ready: Result<Int, P2PError>? = state.withLock { state in
                switch state.phase {
                case .running(let port) where port != 0: return .success(port)
                case .stopped: return .failure(.notRunning)
                case .idle, .running:
                    state.portWaiters.append(continuation)
                    return nil
                }
            }
            if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
        }
    }

    private func bind() async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 128)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        PeerConnectionHandler(core: self, initiator: false, expected: nil, established: nil))
                }
            }
            .bind(host: configuration.listenHost, port: configuration.listenPort)
            .get()
    }

    // MARK: - Dialling

    /// Keeps one persistent peer connected: dial, wait for the connection to end, redial; failures
    /// back off exponentially (capped). While isolated it waits; healing resets the backoff.
    private func dialLoop(_ address: PeerAddress) async {
        let (minimum, maximum) = configuration.reconnectBackoff
        var backoff = minimum
        var known = address.id
        while !Task.isCancelled {
            if isIsolated {
                backoff = minimum
                try? await Task.sleep(for: minimum)
                continue
            }
            if let known, let existing = connection(known) {
                // Connected already (perhaps by the peer dialling us): wait for that connection to end.
                try? await existing.channel.closeFuture.get()
                continue
            }
            let started = ContinuousClock.now
            do {
                let (peer, channel) = try await dial(address)
                known = known ?? peer
                try? await channel.closeFuture.get()
                // A connection that lived a while resets the backoff; one closed at once (a peer
                // that accepts then drops us) keeps backing off, so we never spin.
                if ContinuousClock.now - started > maximum { backoff = minimum }
            } catch {
                logger.debug(
                    "p2p dial failed",
                    metadata: ["peer.address": "\(address)", "error": "\(error)", "p2p.backoff": "\(backoff)"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, maximum)
        }
    }

    /// Connects and completes the handshake; returns the authenticated peer and its channel.
    func dial(_ address: PeerAddress) async throws -> (PeerID, any Channel) {
        let loop = group.next()
        let established = loop.makePromise(of: PeerID.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(TimeAmount.nanoseconds(nanoseconds(configuration.handshakeTimeout)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            PeerConnectionHandler(
                                core: self, initiator: true, expected: address.id, established: established))
                    }
                }
                .connect(host: address.host, port: address.port)
                .get()
        } catch {
            established.fail(error)
            throw error
        }
        let peer = try await established.futureResult.get()
        return (peer, channel)
    }

    // MARK: - Connections (called by the handlers on their event loops)

    var isIsolated: Bool { state.withLock { $0.isolated } }

    /// Registers a new socket, or says why it must be closed at once: the host is stopping or
    /// isolated, or (inbound only) too many sockets are open, so a flood of connections that never
    /// finish their handshake cannot exhaust the host before the handshake timeout reaps them.
    func track(_ channel: any Channel, inbound: Bool) -> P2PError? {
        state.withLock { state in
            guard case .running = state.phase else { return .notRunning }
            guard !state.isolated else { return .isolated }
            let socketLimit = 2 * configuration.maxPeers + configuration.persistentPeers.count
            if inbound && state.channels.count >= socketLimit { return .tooManyPeers(configuration.maxPeers) }
            state.channels[ObjectIdentifier(channel)] = channel
            return nil
        }
    }

    func untrack(_ channel: any Channel) {
        _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Admits an authenticated connection into the peer table, or says why not. Of two connections
    /// to the same peer, both ends keep the one dialled by the lower key (so simultaneous dials
    /// converge on one connection); a new connection in the same direction replaces the old one
    /// (the old one is usually a dead socket the peer has already given up).
    func admit(_ connection: PeerConnection) -> P2PError? {
        let id = connection.id
        let now = ContinuousClock.now
        let outcome: Result<PeerConnection?, P2PError> = state.withLock { state in
            guard case .running = state.phase else { return .failure(.notRunning) }
            guard !state.isolated else { return .failure(.isolated) }
            guard id != ownID else { return .failure(.selfConnection) }
            if let allowed = configuration.allowedPeers, !allowed.contains(id) { return .failure(.notAllowed(id)) }
            if let until = state.bans[id] {
                if now < until { return .failure(.banned(id)) }
                state.bans[id] = nil
            }
            let existing = state.peers[id]
            if !connection.outbound && existing == nil {
                let inboundCount = state.peers.values.count { !$0.outbound }
                if inboundCount >= configuration.maxPeers { return .failure(.tooManyPeers(configuration.maxPeers)) }
            }
            if let existing {
                let existingDialler = existing.outbound ? ownID : existing.id
                let newDialler = connection.outbound ? ownID : connection.id
                if existingDialler != newDialler
                    && existingDialler.publicKey.bytes.lexicographicallyPrecedes(newDialler.publicKey.bytes)
                {
                    return .failure(.duplicate(id))
                }
            }
            state.peers[id] = connection
            return .success(existing)
        }
        switch outcome {
        case .failure(let error): return error
        case .success(let replaced):
            counters.add(.connectionsEstablished)
            logger.info(
                "p2p peer connected",
                metadata: [
                    "peer.id": "\(id.shortDescription)", "peer.address": "\(connection.remoteAddress)",
                    "peer.outbound": "\(connection.outbound)",
                ])
            if let replaced {
                replaced.close(reason: "replaced by a newer connection")
            } else {
                eventsContinuation.yield(.connected(id))
            }
            return nil
        }
    }

    /// The handler's connection ended; emits `disconnected` if it was the peer's current connection.
    func closed(_ connection: PeerConnection, reason: String) {
        let removed = state.withLock { state in
            guard state.peers[connection.id] === connection else { return false }
            state.peers[connection.id] = nil
            return true
        }
        if removed {
            logger.info(
                "p2p peer disconnected",
                metadata: [
                    "peer.id": "\(connection.id.shortDescription)", "peer.address": "\(connection.remoteAddress)",
                    "reason": "\(reason)",
                ])
            eventsContinuation.yield(.disconnected(connection.id, reason: reason))
        }
    }

    /// Hands a message to `inbound`; true if the connection should stop reading for now.
    func deliver(
        _ message: InboundMessage, from channel: any Channel, resume: @escaping @Sendable () -> Void
    ) -> Bool {
        switch inboundQueue.push(message, from: channel, resume: resume) {
        case .queued: return false
        case .queuedPauseReading: return true
        case .dropped:
            counters.add(.inboundDrops)
            return false
        }
    }

    func connection(_ id: PeerID) -> PeerConnection? { state.withLock { $0.peers[id] } }

    func connectedPeerIDs() -> [PeerID] { state.withLock { Array($0.peers.keys) } }

    func connectedPeers() -> [PeerInfo] { state.withLock { $0.peers.values.map(\.info) } }

    /// Bans `peer` for `banDuration` and closes its connection.
    func ban(_ peer: PeerID, reason: String) {
        let now = ContinuousClock.now
        let until = now + configuration.banDuration
        let connection = state.withLock { state in
            // Expired bans are pruned here, so keys made up to get banned cannot grow the list forever.
            state.bans = state.bans.filter { $0.value > now }
            state.bans[peer] = until
            return state.peers[peer]
        }
        counters.add(.bans)
        logger.info("p2p peer banned", metadata: ["peer.id": "\(peer.shortDescription)", "reason": "\(reason)"])
        connection?.close(reason: reason)
    }

    func setIsolated(_ isolated: Bool) {
        let (connections, channels) = state.withLock { state in
            state.isolated = isolated
            return isolated ? (Array(state.peers.values), Array(state.channels.values)) : ([], [])
        }
        logger.info("p2p isolation changed", metadata: ["p2p.isolated": "\(isolated)"])
        for connection in connections { connection.close(reason: "isolated") }
        for channel in channels { channel.close(promise: nil) }
    }

    func send(_ payload: [UInt8], on channel: P2PChannel, to peer: PeerID) -> Bool {
        let connection = state.withLock { $0.isolated ? nil : $0.peers[peer] }
        guard let connection,
            FrameCodec.sealedSize(payloadBytes: payload.count) <= configuration.maxFrameBytes
        else {
            counters.add(.sendDrops)
            return false
        }
        let queued = connection.pending.wrappingAdd(1, ordering: .relaxed).newValue
        guard queued <= configuration.sendQueueLimit else {
            connection.pending.wrappingSubtract(1, ordering: .relaxed)
            counters.add(.sendDrops)
            return false
        }
        let handler = connection.handler
        connection.channel.eventLoop.execute { handler.value.enqueue(payload, on: channel) }
        return true
    }
}

/// Nanoseconds in a `Duration` (saturating), for NIO's `TimeAmount`.
func nanoseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    return overflow ? (seconds < 0 ? .min : .max) : scaled + attoseconds / 1_000_000_000
}
