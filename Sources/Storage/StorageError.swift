import GonkaCore

/// Everything that can go wrong opening, reading or committing a store. Errors about a file name its
/// path (or `memory:<name>` for an in-memory store) so an operator knows which file to look at.
public struct StorageError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case notADatabase(path: String)
        case foreignDatabase(path: String, detail: String)
        case unsupportedSchema(path: String, found: Int, supported: Int)
        case corrupted(path: String, detail: String)
        case database(path: String, detail: String)
        case versionNotIncreasing(version: UInt64, latest: UInt64)
        case versionOutOfRange(version: UInt64)
        case versionPruned(version: UInt64, oldest: UInt64)
        case versionInFuture(version: UInt64, latest: UInt64?)
        case versionNotCommitted(version: UInt64)
        case invalidArgument(detail: String)
        case closed(path: String)
        case rootMismatch(expected: Hash, got: Hash)
    }

    private let code: Code

    /// The file exists but is not an SQLite database (garbage, truncated header, encrypted…).
    public static func notADatabase(path: String) -> Self { Self(code: .notADatabase(path: path)) }
    /// An SQLite database, but not a state store.
    public static func foreignDatabase(path: String, detail: String) -> Self {
        Self(code: .foreignDatabase(path: path, detail: detail))
    }
    /// A state store written by a newer (or unknown) schema.
    public static func unsupportedSchema(path: String, found: Int, supported: Int) -> Self {
        Self(code: .unsupportedSchema(path: path, found: found, supported: supported))
    }
    /// The file is ours but its content is damaged (SQLite reports corruption, a node does not
    /// decode, a hash does not match).
    public static func corrupted(path: String, detail: String) -> Self {
        Self(code: .corrupted(path: path, detail: detail))
    }
    /// Any other SQLite failure (I/O error, disk full, locked…).
    public static func database(path: String, detail: String) -> Self {
        Self(code: .database(path: path, detail: detail))
    }
    /// `commit(version:)` with a version not above the latest one.
    public static func versionNotIncreasing(version: UInt64, latest: UInt64) -> Self {
        Self(code: .versionNotIncreasing(version: version, latest: latest))
    }
    /// Versions are stored as SQLite integers, so they must fit `Int64`.
    public static func versionOutOfRange(_ version: UInt64) -> Self { Self(code: .versionOutOfRange(version: version)) }
    /// A read of a version that `prune` removed.
    public static func versionPruned(_ version: UInt64, oldest: UInt64) -> Self {
        Self(code: .versionPruned(version: version, oldest: oldest))
    }
    /// A read of a version after the latest committed one.
    public static func versionInFuture(_ version: UInt64, latest: UInt64?) -> Self {
        Self(code: .versionInFuture(version: version, latest: latest))
    }
    /// A root or proof asked for a version number that was skipped (never committed).
    public static func versionNotCommitted(_ version: UInt64) -> Self {
        Self(code: .versionNotCommitted(version: version))
    }
    /// A restored snapshot's entries do not hash to the root they were to have (nothing written).
    public static func rootMismatch(expected: Hash, got: Hash) -> Self {
        Self(code: .rootMismatch(expected: expected, got: got))
    }
    /// A call with an argument outside its domain (for example `prune(keepingRecent: 0)`).
    public static func invalidArgument(_ detail: String) -> Self { Self(code: .invalidArgument(detail: detail)) }
    /// The store was closed.
    public static func closed(path: String) -> Self { Self(code: .closed(path: path)) }

    /// A label without data, safe for metrics.
    public var shortDescription: String {
        switch code {
        case .notADatabase: "not_a_database"
        case .foreignDatabase: "foreign_database"
        case .unsupportedSchema: "unsupported_schema"
        case .corrupted: "corrupted"
        case .database: "database"
        case .versionNotIncreasing: "version_not_increasing"
        case .versionOutOfRange: "version_out_of_range"
        case .versionPruned: "version_pruned"
        case .versionInFuture: "version_in_future"
        case .versionNotCommitted: "version_not_committed"
        case .invalidArgument: "invalid_argument"
        case .closed: "closed"
        case .rootMismatch: "root_mismatch"
        }
    }

    public var description: String {
        switch code {
        case .notADatabase(let path):
            "\(path): not a state database (the file is not SQLite, or its header is damaged)"
        case .foreignDatabase(let path, let detail):
            "\(path): an SQLite database, but not a gonka state store (\(detail))"
        case .unsupportedSchema(let path, let found, let supported):
            "\(path): state store schema \(found) is not supported (this build reads schema \(supported))"
        case .corrupted(let path, let detail):
            "\(path): state database is corrupted: \(detail)"
        case .database(let path, let detail):
            "\(path): database error: \(detail)"
        case .versionNotIncreasing(let version, let latest):
            "cannot commit version \(version): the latest committed version is \(latest)"
        case .versionOutOfRange(let version):
            "version \(version) is out of range (at most \(Int64.max))"
        case .versionPruned(let version, let oldest):
            "version \(version) was pruned (the oldest kept version is \(oldest))"
        case .versionInFuture(let version, let latest):
            "version \(version) is not committed yet (latest is \(latest.map(String.init) ?? "none"))"
        case .versionNotCommitted(let version):
            "version \(version) was never committed"
        case .invalidArgument(let detail):
            "invalid argument: \(detail)"
        case .closed(let path):
            "\(path): the store is closed"
        case .rootMismatch(let expected, let got):
            "the entries hash to root \(got), not the expected \(expected); nothing was written"
        }
    }
}
