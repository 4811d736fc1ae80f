import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Free TCP ports on 127.0.0.1 for addresses that must be written down before their server
/// starts (a genesis URL, a peer list, a devnet's node ports). Never one this process handed out
/// before.
///
/// Taken from just below the kernel's ephemeral range (`ip_local_port_range`), so no port-0 bind
/// and no outgoing connection can take one between now and the server's bind. A port the kernel
/// picked (bind to 0 and release) could be handed to the next outgoing connection: in a test
/// process making thousands of them, one did, and a test network failed to start with "Address
/// already in use". Processes that allocate at the same time (several `gonka devnet up` and a test
/// process, in CI) could draw the same port before either binds it: each port handed out is also
/// claimed by a file in a shared directory for ``claimLifetime``, created exclusively, so no two
/// processes hand out the same port within that window. Another program could still take one;
/// its server then fails to bind and says so.
public enum FreePorts {
    /// Why no port was found.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// What went wrong, in a sentence.
        public let description: String
    }

    /// One free port.
    public static func next() throws(Failure) -> Int {
        let ephemeralStart = ephemeralRangeStart()
        let low = max(1_024, ephemeralStart - 12_000)
        guard low < ephemeralStart else { throw Failure(description: "no ports below the ephemeral range") }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let port = Int.random(in: low..<ephemeralStart, using: &generator)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if isFree(port) && claim(port) { return port }
        }
        throw Failure(description: "no free loopback port in \(low)..<\(ephemeralStart) after 200 tries")
    }

    /// `count` free ports, all different.
    public static func allocate(_ count: Int) throws(Failure) -> [Int] {
        var ports: [Int] = []
        for _ in 0..<count { ports.append(try next()) }
        return ports
    }

    /// Ports ``next()`` returned (or found taken), never handed out again by this process.
    private static let handedOut = Mutex<Set<Int>>([])

    /// How long a port stays claimed by the process that drew it: time enough to write its
    /// configuration, start its server and bind.
    public static let claimLifetime: TimeInterval = 300

    /// Claims `port` for this process by creating its file exclusively; a claim older than
    /// ``claimLifetime`` is stale and taken over. Where the directory cannot be written, claims
    /// are skipped (the bind check alone still holds).
    public static func claim(_ port: Int) -> Bool {
        let directory = NSTemporaryDirectory() + "/gonka-ports-\(getuid())"
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else { return true }
        let path = "\(directory)/\(port)"
        for _ in 0..<2 {
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0o600)
            if fd >= 0 {
                close(fd)
                return true
            }
            guard errno == EEXIST else { return true }
            var info = stat()
            guard stat(path, &info) == 0 else { continue }
            let age = Date().timeIntervalSince1970 - TimeInterval(info.st_mtim.tv_sec)
            guard age > claimLifetime else { return false }
            // Stale: move it aside under a name of our own (atomic, so of two processes taking
            // it over only one succeeds), then claim afresh.
            let aside = "\(path).stale.\(getpid())"
            guard rename(path, aside) == 0 else { return false }
            unlink(aside)
        }
        return false
    }

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
        defer { close(fd) }
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
