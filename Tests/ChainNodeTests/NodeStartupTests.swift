import ChainNode
import Foundation
import GonkaTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Starting a node that cannot start.
@Suite(.hangGuard) struct NodeStartupTests {
    /// A node whose RPC cannot listen (its port is taken) fails its run, and a caller waiting for
    /// the RPC's port gets that error. It used to wait forever: a test harness did, and the whole
    /// test run stalled with that test's other nodes still up.
    @Test(.timeLimit(.minutes(3))) func rpcPortThrowsWhenTheRPCCannotListen() async throws {
        let net = try TestNetwork(validators: 1)
        defer { net.cleanup() }
        let taken = try LoopbackSocket(listening: 1)
        defer { taken.close() }
        var config = NodeConfig(moniker: "node0", chainID: TestChain.chainID)
        config.p2pListen = "127.0.0.1:0"
        config.rpcListen = "127.0.0.1:\(taken.port)"
        config.timeouts = "fast"
        try config.toml.write(to: net.homes[0].appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
        let node = try Node(home: net.homes[0], logger: TestNetwork.logger("taken"))
        let running = Task { try await node.run() }
        defer { running.cancel() }
        do {
            let port = try await node.rpcPort()
            Issue.record("the RPC listened on \(port), a port already taken")
        } catch {
            #expect(!(error is CancellationError), "\(error)")
            #expect("\(error)".contains("in use"), "\(error)")
        }
        if case .success = await running.result { Issue.record("run() returned normally") }
    }
}
