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
        let taken = try ListeningSocket()
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

    /// A TCP socket listening on a port of its own on 127.0.0.1.
    final class ListeningSocket {
        let fd: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.EIO) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard bound == 0, named == 0, listen(fd, 1) == 0 else {
                Glibc.close(fd)
                throw POSIXError(.EADDRINUSE)
            }
            self.fd = fd
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        func close() { Glibc.close(fd) }
    }
}
