import Foundation
import ServerLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP socket bound to a port of its own on 127.0.0.1 (the kernel picks it), for tests that
/// need a port: one that refuses (close it), one taken (keep it), or one that accepts and never
/// answers (listen and never read).
public final class LoopbackSocket: Sendable {
    public let fd: Int32
    public let port: Int

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Binds; with `backlog` also listens, so connections complete their handshake and wait.
    public init(listening backlog: Int32? = nil) throws(Failure) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
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
        guard bound == 0, named == 0, backlog.map({ listen(fd, $0) == 0 }) ?? true else {
            let error = errno
            Glibc.close(fd)
            throw Failure(description: "cannot bind or listen on 127.0.0.1: errno \(error)")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    public func close() { Glibc.close(fd) }

    /// A TCP connection to 127.0.0.1:`port` (its file descriptor, the caller's to close); throws
    /// if it is refused.
    public static func connect(to port: Int) throws(Failure) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = errno
            Glibc.close(fd)
            throw Failure(description: "cannot connect to 127.0.0.1:\(port): errno \(error)")
        }
        return fd
    }

    /// A port nobody listens on right now, for an address that must be written down before its
    /// server starts: ``FreePorts/next()`` (shared with `gonka devnet`).
    public static func freePort() throws(Failure) -> Int {
        do {
            return try FreePorts.next()
        } catch {
            throw Failure(description: error.description)
        }
    }

    /// The first port of the kernel's ephemeral range: ``FreePorts/ephemeralRangeStart()``.
    public static func ephemeralRangeStart() -> Int { FreePorts.ephemeralRangeStart() }

    /// Whether 127.0.0.1:`port` can be bound now: ``FreePorts/isFree(_:)``.
    public static func isFree(_ port: Int) -> Bool { FreePorts.isFree(port) }
}
