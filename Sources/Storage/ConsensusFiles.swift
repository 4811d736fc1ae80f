import Consensus
import Foundation
import GonkaCore

#if canImport(Glibc)
    import Glibc
#endif

/// The consensus WAL on disk: one append-only file, written with POSIX `write` and made durable
/// with `fsync`. It lives here, not in `Consensus`, so the consensus module stays free of file I/O.
public final class ConsensusWALFile: Consensus.WALStorage {
    public let path: String
    private let fd: Int32

    /// Opens (creating, mode 0600) the file at `path` for appending.
    public init(path: String) throws(ConsensusError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw .storage("open \(path): errno \(errno)") }
        self.fd = fd
    }

    deinit { close(fd) }

    public func append(_ bytes: [UInt8]) throws(ConsensusError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw .storage("write: errno \(errno)") }
            offset += n
        }
    }

    public func sync() throws(ConsensusError) {
        guard fsync(fd) == 0 else { throw .storage("fsync: errno \(errno)") }
    }

    public func contents() throws(ConsensusError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw .storage("read \(path)") }
        return Array(data)
    }

    public func truncate(to length: Int) throws(ConsensusError) {
        guard ftruncate(fd, off_t(length)) == 0, fsync(fd) == 0 else { throw .storage("truncate: errno \(errno)") }
    }
}

/// The last-signed state on disk: replaced atomically (temporary file, fsync, rename) on every save.
public struct SignStateFile: Consensus.SignStateStore, Sendable {
    public let url: URL

    public init(url: URL) { self.url = url }

    public func load() throws(ConsensusError) -> Consensus.SignState? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try Consensus.SignState(encoded: Array(data))
    }

    public mutating func save(_ state: Consensus.SignState) throws(ConsensusError) {
        do {
            try SecureFile.write(Data(state.encoded), to: url)
        } catch {
            throw .storage("sign state: \(error)")
        }
    }
}
