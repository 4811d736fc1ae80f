import Foundation
import GonkaCore
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import P2P

let testChain = "p2p-test-chain"

/// Drains an `AsyncStream` into an array the test can poll, so waiting with a deadline never
/// cancels the (single-consumer) stream.
final class Collector<Element: Sendable>: Sendable {
    private final class Storage: Sendable {
        let items = Mutex<[Element]>([])
    }
    private let storage = Storage()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<Element>) {
        let storage = storage
        task = Task { for await item in stream { storage.items.withLock { $0.append(item) } } }
    }

    var all: [Element] { storage.items.withLock { $0 } }

    func waitForEnd() async { await task.value }
}

/// A running `P2PHost` with its streams collected.
final class TestHost: Sendable {
    let key: SigningKey
    let host: P2PHost
    let messages: Collector<InboundMessage>
    let events: Collector<PeerEvent>
    private let task: Task<Void, any Error>

    init(configuration: P2PConfiguration) {
        key = configuration.nodeKey
        // P2P_TEST_LOG=debug (or info, …) shows the hosts' logs on stderr when chasing a failure.
        let level = ProcessInfo.processInfo.environment["P2P_TEST_LOG"].flatMap(Logger.Level.init(rawValue:))
        var logger = Logger(label: "p2p-test.\(PeerID(configuration.nodeKey.publicKey).shortDescription)") {
            StreamLogHandler.standardError(label: $0)
        }
        logger.logLevel = level ?? .critical
        let host = P2PHost(configuration: configuration, logger: logger)
        self.host = host
        messages = Collector(host.inbound)
        events = Collector(host.events)
        task = Task { try await host.run() }
    }

    var id: PeerID { host.id }

    func port() async throws -> Int { try await host.listeningPort() }

    func address(withID: Bool = true) async throws -> PeerAddress {
        PeerAddress(host: "127.0.0.1", port: try await port(), id: withID ? id : nil)
    }

    func isConnected(to other: PeerID) -> Bool { host.connectedPeers().contains { $0.id == other } }

    func payloads(from peer: PeerID, on channel: P2PChannel) -> [[UInt8]] {
        messages.all.filter { $0.peer == peer && $0.channel == channel }.map(\.payload)
    }

    /// Cancels `run()` and waits until it has closed everything.
    func stop() async {
        task.cancel()
        _ = await task.result
        await messages.waitForEnd()
        await events.waitForEnd()
    }
}

/// Starts hosts and stops every one of them when the body ends, on every path.
final class TestNetwork: Sendable {
    private let hosts = Mutex<[TestHost]>([])

    static func with(_ body: (TestNetwork) async throws -> Void) async throws {
        let network = TestNetwork()
        do {
            try await body(network)
        } catch {
            await network.stopAll()
            throw error
        }
        await network.stopAll()
    }

    func start(
        key: SigningKey = SigningKey(), chainID: String = testChain, peers: [PeerAddress] = [],
        configure: (inout P2PConfiguration) -> Void = { _ in }
    ) -> TestHost {
        var configuration = P2PConfiguration(nodeKey: key, chainID: chainID)
        configuration.persistentPeers = peers
        configuration.reconnectBackoff = (.milliseconds(20), .milliseconds(200))
        configuration.handshakeTimeout = .seconds(10)
        configure(&configuration)
        let host = TestHost(configuration: configuration)
        hosts.withLock { $0.append(host) }
        return host
    }

    func stopAll() async {
        for host in hosts.withLock({ $0 }) { await host.stop() }
    }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes. The default is long: on 2
/// cores shared with a dozen node processes starting at once, a loopback handshake has taken
/// over 10 s (CI, 2026-12-06); a condition that holds returns at once, so only a failure waits.
func eventually(
    _ what: String, timeout: Duration = .seconds(60), _ condition: () throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Checks that `condition` stays false for `duration`.
func never(_ duration: Duration, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + duration
    while ContinuousClock.now < deadline {
        if condition() { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
    return !condition()
}

/// A hand-driven TCP client for playing malicious peers.
struct RawClient: ~Copyable {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffered: [UInt8] = []

    init(
        iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) {
        self.iterator = iterator
        self.outbound = outbound
    }

    static func with<R: Sendable>(port: Int, _ body: (inout RawClient) async throws -> R) async throws -> R {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var client = RawClient(iterator: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&client)
        }
    }

    func send(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    /// The next `count` bytes, or nil if the connection ends first.
    mutating func read(_ count: Int) async throws -> [UInt8]? {
        while buffered.count < count {
            guard var chunk = try await iterator.next() else { return nil }
            buffered += chunk.readBytes(length: chunk.readableBytes) ?? []
        }
        defer { buffered.removeFirst(count) }
        return Array(buffered.prefix(count))
    }

    mutating func readHello() async throws -> (hello: P2PHandshake.Hello, raw: [UInt8]) {
        while true {
            if let (hello, length) = try P2PHandshake.Hello.parse(buffered) {
                let raw = Array(buffered.prefix(length))
                buffered.removeFirst(length)
                return (hello, raw)
            }
            guard var chunk = try await iterator.next() else { throw P2PError.connectionClosed }
            buffered += chunk.readBytes(length: chunk.readableBytes) ?? []
        }
    }

    /// True once the other side has closed the connection (reads until end of stream or error).
    mutating func closedByPeer() async -> Bool {
        do {
            while try await iterator.next() != nil {}
        } catch {}
        return true
    }

    /// Plays an honest initiator; returns the codec to talk over the established connection.
    mutating func handshake(
        key: SigningKey, chainID: String = testChain, maxFrameBytes: Int = 16 << 20
    )
        async throws -> FrameCodec
    {
        var handshake = P2PHandshake(nodeKey: key, chainID: chainID, initiator: true, maxFrameBytes: maxFrameBytes)
        try await send(handshake.hello)
        let (hello, raw) = try await readHello()
        let (_, signature) = try handshake.receiveHello(hello, raw: raw)
        try await send(signature)
        guard let theirs = try await read(P2PHandshake.signatureBytes) else { throw P2PError.connectionClosed }
        return try handshake.receiveSignature(theirs).codec
    }
}
