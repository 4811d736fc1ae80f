import Foundation
import GonkaTestKit
import ServerLifecycle
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `LoopbackSocket.freePort()`: ports written down before their server binds (genesis URLs, peer
/// lists, the devnet's layout) come from below the kernel's ephemeral range, so no port-0 bind or
/// outgoing connection of this busy process can take one first, and never twice.
struct LoopbackSocketTests {
    @Test func freePortsAreDistinctBindableAndBelowTheEphemeralRange() throws {
        let ephemeralStart = LoopbackSocket.ephemeralRangeStart()
        let ports = try (0..<200).map { _ in try LoopbackSocket.freePort() }
        #expect(Set(ports).count == ports.count, "a port was handed out twice")
        #expect(ports.allSatisfy { $0 >= 1_024 && $0 < ephemeralStart })
        #expect(ports.allSatisfy { LoopbackSocket.isFree($0) })
    }

    @Test func aPortTheKernelPicksIsNeverAFreePort() throws {
        // Ports in use right now, bound the way servers and clients get theirs: to port 0.
        let sockets = try (0..<20).map { _ in try LoopbackSocket(listening: 1) }
        defer { for socket in sockets { socket.close() } }
        let kernelPicked = Set(sockets.map(\.port))
        let ports = try (0..<50).map { _ in try LoopbackSocket.freePort() }
        #expect(kernelPicked.isDisjoint(with: ports))
        #expect(!LoopbackSocket.isFree(sockets[0].port))
    }

    @Test func aPortHandedOutIsClaimedAcrossProcessesUntilTheClaimIsStale() throws {
        // Another process sees only the claim file: `claim` is what it would call.
        let port = try FreePorts.next()
        #expect(!FreePorts.claim(port), "a port handed out here could be handed out by another process")

        // A claim older than its lifetime (a process that drew the port and died) is taken over.
        let path = NSTemporaryDirectory() + "/gonka-ports-\(getuid())/\(port)"
        let old = Date().addingTimeInterval(-FreePorts.claimLifetime - 60)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path)
        #expect(FreePorts.claim(port))
        #expect(!FreePorts.claim(port))
    }
}
