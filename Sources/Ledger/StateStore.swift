import GonkaCore

/// The ledger's only view of state: a key-value map with read-your-writes, committed in versions
/// by an authenticated tree whose root is the chain's `app_hash` (PROTOCOL §3.3).
///
/// Implementations live outside the ledger (`Storage.AuthenticatedStore` on SQLite). The ledger
/// buffers a block's writes itself and hands them over in key order just before `commit`, so an
/// implementation may assume writes arrive sorted but must not rely on it.
public protocol StateStore: AnyObject {
    /// The last committed version, or `nil` for a store that has never been committed.
    var latestVersion: UInt64? { get }
    /// The root of the last committed version (`Hash.zero`-based empty root before any commit).
    var root: Hash { get }

    /// The value at the latest committed version, overlaid by uncommitted writes.
    func get(_ key: [UInt8]) throws -> [UInt8]?
    /// Stages a write for the next commit.
    func set(_ key: [UInt8], _ value: [UInt8]) throws
    /// Stages a delete for the next commit (deleting a missing key is a no-op).
    func delete(_ key: [UInt8]) throws
    /// Every entry whose key starts with `prefix`, in bytewise key order, uncommitted writes included.
    func entries(withPrefix prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])]
    /// Atomically writes the staged changes as `version` (greater than `latestVersion`) and returns
    /// the new root. Either all of it is durable or none of it is.
    func commit(version: UInt64) throws -> Hash
    /// Drops staged writes.
    func discardStaged()
}
