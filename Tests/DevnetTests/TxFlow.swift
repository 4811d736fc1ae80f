import Foundation
import GonkaClient
import GonkaCore
import GonkaWire

/// A stream of bank sends from one funded key while the fault tests crash and partition nodes:
/// each tx goes to a node that answers, and counts as committed only once `/tx/{hash}` finds it.
/// At the end every recorded tx must still be on every node.
actor TxFlow {
    private let net: DevnetHarness
    private let key = SigningKey()
    private let recipient = SigningKey().publicKey.address
    private(set) var committed: [String: UInt64] = [:]
    private(set) var failures = 0
    private var stopped = false

    init(net: DevnetHarness) { self.net = net }

    var address: Address { key.publicKey.address }

    func stop() { stopped = true }

    /// Funds the key from the faucet through the CLI (before the flow, so the faucet's sequence is
    /// never used twice at once).
    func fund() async throws {
        let funded = try await net.faucetSend(to: address.description, amount: "100gnk")
        committed[funded.hash] = funded.height
    }

    /// Sends until `stop()` or cancellation.
    func run() async {
        var sequence: UInt64 = 0
        var round = 0
        while !stopped, !Task.isCancelled {
            round += 1
            let node = round % net.nodeCount
            do {
                let client = try net.client(node, timeout: .seconds(3))
                let params = try await client.params()
                let builder = TxBuilder(chainID: "gonka-devnet", key: key, minGasPrice: params.minGasPrice)
                let tx = try builder.send(to: recipient, amount: Amount(ngonka: 1_000), sequence: sequence)
                _ = try await client.broadcast(tx.bytes, mode: .sync)
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(15)
                while clock.now < deadline, !stopped {
                    if let found = try? await client.tx(tx.hash) {
                        committed[tx.hash] = found.height
                        sequence += 1
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
            } catch {
                // The node is down, halted or isolated: resync the sequence from any node and go on.
                failures += 1
                try? await Task.sleep(for: .milliseconds(500))
                for other in 0..<net.nodeCount {
                    if let account = try? await net.client(other, timeout: .seconds(2)).account(address) {
                        sequence = account.sequence
                        break
                    }
                }
            }
        }
    }
}
