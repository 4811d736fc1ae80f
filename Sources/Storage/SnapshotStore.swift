import Foundation
import GonkaCore

/// The snapshots a node offers its peers (PROTOCOL §3.1 *State sync*), one directory each under
/// `directory`: `<height>/manifest.json` and `<height>/chunk-<i>`.
///
/// **Atomic.** A snapshot is written into `.tmp-<height>/` (each file fsync'd), then the directory
/// is renamed to `<height>/`: a process killed mid-snapshot leaves only a `.tmp-` directory, which
/// is never listed and is deleted when the store is next opened. The manifest is read back only
/// from renamed directories, so no half snapshot is ever offered.
///
/// Not `Sendable`: one owner (the ledger application) writes it; its reads are plain file reads.
public final class SnapshotStore {
    public let directory: URL
    /// Snapshots kept; older ones are deleted after each new one.
    public let keepRecent: Int
    private var manifests: [UInt64: StateSnapshot.Manifest] = [:]

    /// Opens (creating) `directory`, deletes unfinished snapshots and loads the finished ones'
    /// manifests (a directory whose manifest does not decode is deleted too).
    public init(directory: URL, keepRecent: Int) throws {
        self.directory = directory
        self.keepRecent = max(keepRecent, 1)
        let files = FileManager.default
        do {
            try files.createDirectory(at: directory, withIntermediateDirectories: true)
            for name in try files.contentsOfDirectory(atPath: directory.path) {
                let url = directory.appendingPathComponent(name)
                if name.hasPrefix(".tmp-") {
                    try files.removeItem(at: url)
                    continue
                }
                guard let height = UInt64(name) else { continue }
                guard let data = try? Data(contentsOf: url.appendingPathComponent("manifest.json")),
                    let manifest = try? JSONDecoder().decode(StateSnapshot.Manifest.self, from: data),
                    manifest.height == height
                else {
                    try files.removeItem(at: url)
                    continue
                }
                manifests[height] = manifest
            }
        } catch {
            throw StorageError.database(path: directory.path, detail: "snapshots: \(error.localizedDescription)")
        }
    }

    /// The snapshots on offer, newest first.
    public var list: [StateSnapshot.Manifest] { manifests.values.sorted { $0.height > $1.height } }

    /// Chunk `index` of the snapshot at `height`, or `nil` when there is none.
    public func chunk(height: UInt64, index: Int) -> [UInt8]? {
        guard let manifest = manifests[height], index >= 0, index < manifest.chunkHashes.count else { return nil }
        let url = directory.appendingPathComponent("\(height)").appendingPathComponent("chunk-\(index)")
        return (try? Data(contentsOf: url)).map { [UInt8]($0) }
    }

    /// Writes a snapshot of `entries` (the state at `height`, in key order, whose root is `root`),
    /// then deletes snapshots beyond ``keepRecent``. A snapshot already there is left as it is.
    @discardableResult
    public func take(
        chainID: String, height: UInt64, root: Hash, entries: [AuthenticatedStore.Entry],
        chunkBytes: Int = StateSnapshot.defaultChunkBytes
    ) throws -> StateSnapshot.Manifest {
        if let existing = manifests[height] { return existing }
        let chunks = StateSnapshot.chunks(entries, chunkBytes: chunkBytes)
        let manifest = StateSnapshot.Manifest(
            chainID: chainID, height: height, format: StateSnapshot.format, root: root,
            chunkHashes: chunks.map { Hash.sha256($0) }, entries: UInt64(entries.count))
        let files = FileManager.default
        let temporary = directory.appendingPathComponent(".tmp-\(height)")
        let final = directory.appendingPathComponent("\(height)")
        do {
            try? files.removeItem(at: temporary)
            try files.createDirectory(at: temporary, withIntermediateDirectories: true)
            for (i, chunk) in chunks.enumerated() {
                try Self.writeSynced(Data(chunk), to: temporary.appendingPathComponent("chunk-\(i)"))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try Self.writeSynced(encoder.encode(manifest), to: temporary.appendingPathComponent("manifest.json"))
            try? files.removeItem(at: final)
            try files.moveItem(at: temporary, to: final)
        } catch {
            try? files.removeItem(at: temporary)
            throw StorageError.database(path: final.path, detail: "snapshot: \(error.localizedDescription)")
        }
        manifests[height] = manifest
        for old in manifests.keys.sorted(by: >).dropFirst(keepRecent) {
            manifests[old] = nil
            try? files.removeItem(at: directory.appendingPathComponent("\(old)"))
        }
        return manifest
    }

    private static func writeSynced(_ data: Data, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw StorageError.database(path: url.path, detail: "cannot create")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }
}
