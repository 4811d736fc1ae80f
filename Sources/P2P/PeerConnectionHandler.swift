import GonkaCore
import Logging
import NIOCore
import Synchronization

/// Drives one TCP connection: the `P2PHandshake`, then sealed frames both ways. Lives on its
/// channel's event loop; the host reaches it only through `NIOLoopBound` and `execute`.
///
/// Outbound messages wait in `queue` (its length is bounded by `PeerConnection.pending`, checked in
/// `send`) and are sealed and written only while the channel is writable, so a peer that stops
/// reading costs at most `sendQueueLimit` messages plus NIO's high-water mark, never unbounded memory.
final class PeerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase { case awaitingHello, awaitingSignature, established, closed }

    /// A hello is at most this long; more unparsed bytes than this before a hello is garbage.
    private static let maxHelloBytes = P2PHandshake.magic.count + 2 + P2PHandshake.maxChainIDBytes + 64

    private let core: HostCore
    private let initiator: Bool
    private let expected: PeerID?
    private var established: EventLoopPromise<PeerID>?
    private var phase = Phase.awaitingHello
    private var handshake: P2PHandshake
    private var claimed: PeerID?
    private var codec: FrameCodec?
    private var connection: PeerConnection?
    private var context: ChannelHandlerContext?
    private var cumulation: ByteBuffer?
    private var queue = CircularBuffer<(channel: P2PChannel, payload: [UInt8])>()
    private var timeout: Scheduled<Void>?
    private var closeReason: String?
    private var flushing = false
    private var logger: Logger
    private var remoteAddress = "?"

    init(core: HostCore, initiator: Bool, expected: PeerID?, established: EventLoopPromise<PeerID>?) {
        self.core = core
        self.initiator = initiator
        self.expected = expected
        self.established = established
        self.logger = core.logger
        handshake = P2PHandshake(
            nodeKey: core.configuration.nodeKey, chainID: core.configuration.chainID, initiator: initiator,
            maxFrameBytes: core.configuration.maxFrameBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(reason: closeReason ?? "handler removed")
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private var started = false

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if let address = context.channel.remoteAddress, let ip = address.ipAddress, let port = address.port {
            remoteAddress = ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
        logger[metadataKey: "peer.address"] = "\(remoteAddress)"
        if let refusal = core.track(context.channel, inbound: !initiator) {
            fail(refusal, context: context, handshake: true)
            return
        }
        let delay = TimeAmount.nanoseconds(nanoseconds(core.configuration.handshakeTimeout))
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: delay) {
            let handler = bound.value
            guard let context = handler.context, handler.phase != .established else { return }
            handler.fail(P2PError.handshakeTimeout, context: context, handshake: true)
        }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: handshake.hello)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(reason: closeReason ?? "connection closed by peer")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeReason == nil { closeReason = "socket error: \(error)" }
        logger.debug("p2p socket error", metadata: ["error": "\(error)"])
        close(reason: closeReason ?? "socket error")
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flushQueue() }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard phase != .closed else { return }
        var incoming = unwrapInboundIn(data)
        if phase == .established { core.counters.add(.bytesIn, incoming.readableBytes) }
        if cumulation == nil {
            cumulation = incoming
        } else {
            cumulation?.writeBuffer(&incoming)
        }
        process(context: context)
        if let buffer = cumulation, buffer.readableBytes == 0 {
            cumulation = nil
        } else if let buffer = cumulation, buffer.readerIndex > 1 << 16 {
            cumulation?.discardReadBytes()
        }
    }

    // MARK: - Input

    private func process(context: ChannelHandlerContext) {
        while var buffer = cumulation, phase != .closed {
            defer { if phase != .closed { cumulation = buffer } }
            switch phase {
            case .awaitingHello:
                let available = min(buffer.readableBytes, Self.maxHelloBytes)
                let bytes = buffer.getBytes(at: buffer.readerIndex, length: available) ?? []
                do {
                    guard let (hello, length) = try P2PHandshake.Hello.parse(bytes) else { return }
                    buffer.moveReaderIndex(forwardBy: length)
                    let (claimed, signature) = try handshake.receiveHello(hello, raw: Array(bytes[0..<length]))
                    guard claimed != core.ownID else { throw P2PError.selfConnection }
                    if let expected, expected != claimed {
                        throw P2PError.unexpectedPeer(expected: expected, got: claimed)
                    }
                    self.claimed = claimed
                    logger[metadataKey: "peer.id"] = "\(claimed.shortDescription)"
                    phase = .awaitingSignature
                    context.writeAndFlush(
                        wrapOutboundOut(context.channel.allocator.buffer(bytes: signature)), promise: nil)
                } catch {
                    fail(error, context: context, handshake: true)
                    return
                }
            case .awaitingSignature:
                guard let signature = buffer.readBytes(length: P2PHandshake.signatureBytes) else { return }
                do {
                    let (peer, codec) = try handshake.receiveSignature(signature)
                    let connection = PeerConnection(
                        id: peer, remoteAddress: remoteAddress, outbound: initiator, channel: context.channel,
                        handler: NIOLoopBound(self, eventLoop: context.eventLoop))
                    if let refusal = core.admit(connection) { throw refusal }
                    self.codec = codec
                    self.connection = connection
                    phase = .established
                    timeout?.cancel()
                    timeout = nil
                    core.counters.add(.bytesIn, buffer.readableBytes)
                    established?.succeed(peer)
                    established = nil
                } catch {
                    fail(error, context: context, handshake: true)
                    return
                }
            case .established:
                guard !readingPaused else { return }
                guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self), let codecNow = codec
                else { return }
                do {
                    try codecNow.checkLength(Int(length))
                    guard buffer.readableBytes >= FrameCodec.lengthPrefixBytes + Int(length) else { return }
                    buffer.moveReaderIndex(forwardBy: FrameCodec.lengthPrefixBytes)
                    let sealed = buffer.readBytes(length: Int(length)) ?? []
                    let (channel, payload) = try codec!.open(sealed)
                    core.counters.add(.framesIn)
                    if let connection,
                        core.deliver(
                            InboundMessage(peer: connection.id, channel: channel, payload: payload),
                            from: context.channel, resume: resumeCallback(context))
                    {
                        // Backpressure: the consumer is behind. Stop reading the socket and stop
                        // opening frames already read (they wait in `cumulation`) until it catches up.
                        readingPaused = true
                        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
                    }
                } catch {
                    fail(error, context: context, handshake: false)
                    return
                }
            case .closed:
                return
            }
        }
    }

    private var readingPaused = false

    private func resumeCallback(_ context: ChannelHandlerContext) -> @Sendable () -> Void {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        return { loop.execute { bound.value.resumeReading() } }
    }

    /// The consumer of `inbound` caught up: open what is buffered, then read the socket again.
    private func resumeReading() {
        guard readingPaused, let context else { return }
        readingPaused = false
        process(context: context)
        if !readingPaused, phase == .established {
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        }
    }

    // MARK: - Output

    /// Queues a message accepted by `HostCore.send` (its slot is already counted in `pending`).
    func enqueue(_ payload: [UInt8], on channel: P2PChannel) {
        guard phase == .established else {
            connection?.pending.wrappingSubtract(1, ordering: .relaxed)
            return
        }
        queue.append((channel, payload))
        flushQueue()
    }

    private func flushQueue() {
        guard !flushing, phase == .established, let context, let connection else { return }
        flushing = true
        defer { flushing = false }
        var wrote = false
        while context.channel.isWritable, phase == .established, let (channel, payload) = queue.popFirst() {
            connection.pending.wrappingSubtract(1, ordering: .relaxed)
            guard let frame = try? codec?.seal(payload, on: channel) else {
                // Oversized payloads are refused in `send`; nothing else makes sealing fail.
                core.counters.add(.sendDrops)
                continue
            }
            core.counters.add(.framesOut)
            core.counters.add(.bytesOut, frame.count)
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: frame)), promise: nil)
            wrote = true
        }
        if wrote { scheduleFlush(context) }
    }

    private var flushScheduled = false

    /// One flush (one syscall) per event-loop tick for all the messages queued in it, instead of
    /// one per message: `send` hops here once per message, so small messages arrive in bursts.
    private func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = bound.value
            handler.flushScheduled = false
            handler.context?.flush()
        }
    }

    // MARK: - Closing

    /// Closes the connection with `reason` (punish, isolation, replacement); from the event loop.
    func close(reason: String) {
        guard phase != .closed, let context else { return }
        if closeReason == nil { closeReason = reason }
        phase = .closed
        context.close(promise: nil)
    }

    /// A handshake failure closes the socket; a bad frame from an authenticated peer also bans it.
    /// Unauthenticated failures never ban: the id in an unverified hello proves nothing, and banning
    /// it would let anyone lock a real peer out.
    private func fail(_ error: any Error, context: ChannelHandlerContext, handshake: Bool) {
        guard phase != .closed else { return }
        let description = "\(error)"
        if closeReason == nil { closeReason = description }
        if handshake {
            core.counters.add(.handshakeFailures)
            logger.info("p2p handshake failed", metadata: ["error": "\(description)"])
        } else {
            core.counters.add(.protocolViolations)
            logger.info("p2p peer sent invalid data", metadata: ["error": "\(description)"])
            if let connection { core.ban(connection.id, reason: description) }
        }
        established?.fail(error)
        established = nil
        phase = .closed
        context.close(promise: nil)
    }

    private func finish(reason: String) {
        phase = .closed
        timeout?.cancel()
        timeout = nil
        established?.fail(P2PError.connectionClosed)
        established = nil
        if let connection {
            core.closed(connection, reason: reason)
            // Drop queued messages and break the handler <-> connection cycle.
            connection.pending.wrappingSubtract(queue.count, ordering: .relaxed)
            queue.removeAll()
            self.connection = nil
        }
        if let context { core.untrack(context.channel) }
        cumulation = nil
    }
}
