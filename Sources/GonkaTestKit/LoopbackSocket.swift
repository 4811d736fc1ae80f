import Foundation
import Synchronization

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
    /// server starts (a genesis URL, a peer list). Never one this process handed out before.
    ///
    /// Taken from just below the kernel's ephemeral range (`ip_local_port_range`), so no port-0
    /// bind and no outgoing connection can take it between now and the server's bind. A port the
    /// kernel picked (bind to 0 and release) could be handed to the next outgoing connection: in a
    /// test process making thousands of them, one did, and a test network failed to start with
    /// "Address already in use".
    public static func freePort() throws(Failure) -> Int {
        let ephemeralStart = ephemeralRangeStart()
        let low = max(1_024, ephemeralStart - 12_000)
        guard low < ephemeralStart else { throw Failure(description: "no ports below the ephemeral range") }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let port = Int.random(in: low..<ephemeralStart, using: &generator)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if isFree(port) { return port }
        }
        throw Failure(description: "no free loopback port in \(low)..<\(ephemeralStart) after 200 tries")
    }

    /// Ports ``freePort()`` returned (or found taken), never handed out again by this process.
    private static let handedOut = Mutex<Set<Int>>([])

    /// The first port of the kernel's ephemeral range (32768 when it cannot be read).
    public static func ephemeralRangeStart() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) }
        return first.map { min(max($0, 2_048), 65_535) } ?? 32_768
    }

    /// Whether 127.0.0.1:`port` can be bound now.
    public static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
