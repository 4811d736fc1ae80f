import Foundation

/// `GET /snapshots`: the state snapshots a node offers for state sync (PROTOCOL §3.1), newest
/// first; empty when it takes none (`[state_sync] snapshot_interval = 0`) or has none yet.
public struct SnapshotList: Codable, Hashable, Sendable {
    public var snapshots: [SnapshotInfo]

    public init(snapshots: [SnapshotInfo]) { self.snapshots = snapshots }
}

/// One snapshot: the state after block `height`, whose app hash (`root`) block `height + 1` carries.
public struct SnapshotInfo: Codable, Hashable, Sendable {
    public var height: UInt64
    public var format: UInt32
    /// Hex of the state root (the app hash after `height`).
    public var root: String
    public var chunks: Int
    public var entries: UInt64

    public init(height: UInt64, format: UInt32, root: String, chunks: Int, entries: UInt64) {
        self.height = height
        self.format = format
        self.root = root
        self.chunks = chunks
        self.entries = entries
    }
}
