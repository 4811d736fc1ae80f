import Foundation
import GonkaCore

/// A snapshot of the state tree (PROTOCOL §3.1 *State sync*): every entry of one committed version,
/// in bytewise key order, cut into chunks. Since the tree's root depends only on the entries
/// (``AuthenticatedStore``), a store that commits exactly these entries has the snapshot's root.
///
/// **Chunk format** (format 1): a sequence of entries, each `u32 key length, key, u32 value
/// length, value` (big-endian lengths). A chunk holds whole entries only, at most
/// ``maxChunkBytes`` unless a single entry is larger; its name is the SHA-256 of its bytes.
public enum StateSnapshot {
    /// The chunk format this code writes and reads.
    public static let format: UInt32 = 1
    /// The target size of a chunk (entries are never split, so one large entry may exceed it).
    public static let defaultChunkBytes = 1 << 20
    /// The most a chunk may hold on the wire (a peer's larger chunk is refused unread).
    public static let maxChunkBytes = 8 << 20

    /// What a snapshot is: the version, its root, the chain, and each chunk's hash.
    public struct Manifest: Sendable, Hashable, Codable {
        public var chainID: String
        public var height: UInt64
        public var format: UInt32
        public var root: Hash
        public var chunkHashes: [Hash]
        /// Entries in the whole snapshot.
        public var entries: UInt64

        public init(chainID: String, height: UInt64, format: UInt32, root: Hash, chunkHashes: [Hash], entries: UInt64) {
            self.chainID = chainID
            self.height = height
            self.format = format
            self.root = root
            self.chunkHashes = chunkHashes
            self.entries = entries
        }
    }

    /// Cuts `entries` (in key order) into chunks of about `chunkBytes` each; an empty state is one
    /// empty chunk, so every snapshot has at least one.
    public static func chunks(_ entries: [AuthenticatedStore.Entry], chunkBytes: Int = defaultChunkBytes) -> [[UInt8]] {
        var builder = ChunkBuilder(chunkBytes: chunkBytes)
        var out: [[UInt8]] = []
        for entry in entries {
            if let chunk = builder.append(entry) { out.append(chunk) }
        }
        if let last = builder.finish() { out.append(last) }
        return out
    }

    /// Cuts entries into chunks as they come (``chunks(_:chunkBytes:)`` one entry at a time), so a
    /// snapshot of any size is written holding one chunk in memory.
    public struct ChunkBuilder: Sendable {
        public let chunkBytes: Int
        private var current: [UInt8] = []
        private var emitted = 0

        public init(chunkBytes: Int = StateSnapshot.defaultChunkBytes) {
            self.chunkBytes = chunkBytes
        }

        /// Adds `entry`; returns the chunk it closed, if it did not fit the current one.
        public mutating func append(_ entry: AuthenticatedStore.Entry) -> [UInt8]? {
            let size = 8 + entry.key.count + entry.value.count
            var closed: [UInt8]?
            if !current.isEmpty, current.count + size > chunkBytes {
                closed = current
                current = []
                emitted += 1
            }
            StateSnapshot.append(UInt32(entry.key.count), to: &current)
            current += entry.key
            StateSnapshot.append(UInt32(entry.value.count), to: &current)
            current += entry.value
            return closed
        }

        /// The last chunk (an empty one if there were no entries at all), or `nil` when every
        /// entry is already in a returned chunk.
        public mutating func finish() -> [UInt8]? {
            guard !current.isEmpty || emitted == 0 else { return nil }
            defer {
                current = []
                emitted += 1
            }
            return current
        }
    }

    fileprivate static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// Why a chunk was refused (``decode(_:after:)``).
    public enum ChunkProblem: Error, Sendable, Hashable, CustomStringConvertible {
        /// The bytes end inside an entry.
        case truncated
        /// A key not above the one before it (within the chunk or across chunks).
        case outOfOrder

        public var description: String {
            switch self {
            case .truncated: "the chunk ends inside an entry"
            case .outOfOrder: "entries are not in strictly ascending key order"
            }
        }
    }

    /// The entries of a chunk; each key must be above `previousKey` (the last key of the chunk
    /// before) and above the one before it.
    public static func decode(
        _ chunk: [UInt8], after previousKey: [UInt8]? = nil
    ) -> Result<[AuthenticatedStore.Entry], ChunkProblem> {
        var out: [AuthenticatedStore.Entry] = []
        var index = 0
        var last = previousKey
        func readLength() -> Int? {
            guard chunk.count - index >= 4 else { return nil }
            let value =
                UInt32(chunk[index]) << 24 | UInt32(chunk[index + 1]) << 16 | UInt32(chunk[index + 2]) << 8
                | UInt32(chunk[index + 3])
            index += 4
            return Int(value)
        }
        while index < chunk.count {
            guard let keyLength = readLength(), chunk.count - index >= keyLength else { return .failure(.truncated) }
            let key = Array(chunk[index..<index + keyLength])
            index += keyLength
            guard let valueLength = readLength(), chunk.count - index >= valueLength else {
                return .failure(.truncated)
            }
            let value = Array(chunk[index..<index + valueLength])
            index += valueLength
            if let last, !last.lexicographicallyPrecedes(key) { return .failure(.outOfOrder) }
            last = key
            out.append((key, value))
        }
        return .success(out)
    }
}

extension AuthenticatedStore {
    /// Writes `entries` (a snapshot's, in key order) into this store, which must be empty, and
    /// commits them as `version` if they hash to `expectedRoot`; otherwise throws
    /// ``StorageError/rootMismatch(expected:got:)`` and the store stays empty (the transaction is
    /// rolled back), so the next snapshot can be tried in it.
    public func restore(entries: [Entry], version: UInt64, expectedRoot: Hash) throws {
        guard latestVersion == nil, staged.isEmpty else {
            throw StorageError.invalidArgument("a snapshot is restored into an empty store only")
        }
        for entry in entries { try set(entry.key, entry.value) }
        defer { discardStaged() }
        _ = try commit(version: version, expectedRoot: expectedRoot)
    }
}
