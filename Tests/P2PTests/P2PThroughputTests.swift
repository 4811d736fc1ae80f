import Foundation
import GonkaCore
import Testing

@testable import P2P

/// Throughput between two hosts on loopback; measured, never asserted. Opt-in:
/// `P2P_BENCH=1 swift test --filter P2PThroughputTests`.
@Suite(
    .serialized, .timeLimit(.minutes(5)), .hangGuard,
    .enabled(if: ProcessInfo.processInfo.environment["P2P_BENCH"] != nil))
struct P2PThroughputTests {
    @Test(arguments: [(100, 20_000), (64 << 10, 400), (1 << 20, 40)])
    func oneWay(payloadBytes: Int, count: Int) async throws {
        try await TestNetwork.with { network in
            let b = network.start()
            let a = network.start(peers: [try await b.address()]) { $0.sendQueueLimit = count + 1 }
            try await eventually("connected") { a.isConnected(to: b.id) && b.isConnected(to: a.id) }
            let payload = [UInt8](repeating: 0x42, count: payloadBytes)
            let start = ContinuousClock.now
            for _ in 0..<count { #expect(a.host.send(payload, on: .blockSync, to: b.id)) }
            try await eventually("all delivered", timeout: .seconds(120)) { b.messages.all.count == count }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(count) / seconds
            let mib = Double(count * payloadBytes) / seconds / Double(1 << 20)
            print(
                "p2p throughput: \(payloadBytes) B x \(count): \(String(format: "%.0f", rate)) msg/s, "
                    + "\(String(format: "%.1f", mib)) MiB/s (\(elapsed))")
        }
    }

    @Test func handshakeLatency() async throws {
        try await TestNetwork.with { network in
            let a = network.start()
            let port = try await a.port()
            let rounds = 50
            let start = ContinuousClock.now
            for _ in 0..<rounds {
                _ = try await RawClient.with(port: port) { client in try await client.handshake(key: SigningKey()) }
            }
            let elapsed = ContinuousClock.now - start
            print("p2p handshake (raw client, sequential, incl. TCP connect): \(elapsed / rounds) each")
        }
    }
}
