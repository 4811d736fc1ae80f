import Dispatch
import Foundation
import GonkaCore
import Synchronization

/// The snapshots a node offers its peers (PROTOCOL §3.1 *State sync*), one directory each under
/// `directory`: `<height>/manifest.json` and `<height>/chunk-<i>`.
///
/// **Atomic.** A snapshot is written into `.tmp-<height>/` (each file fsync'd), then the directory
/// is renamed to `<height>/`: a process killed mid-snapshot leaves only a `.tmp-` directory, which
/// is never listed and is deleted when the store is next opened. The manifest is read back only
/// from renamed directories, so no half snapshot is ever offered.
///
/// **Off the commit path.** ``takeInBackground(chainID:reader:chunkBytes:)`` writes a snapshot on
/// a thread of its own from a ``VersionReader`` (a read transaction of the version, opened before
/// the next commit), so a block's commit never waits for it; one at a time (a snapshot due while
/// one is still being written is skipped).
///
/// `Sendable`: the list of finished snapshots is behind a lock; the commit path starts snapshots,
/// the serving side reads chunks (plain file reads).
public final class SnapshotStore: Sendable {
    public let directory: URL
    /// Snapshots kept; older ones are deleted after each new one.
    public let keepRecent: Int
    private struct State {
        var manifests: [UInt64: StateSnapshot.Manifest] = [:]
        /// The height being written in the background, if any.
        var writing: UInt64?
        /// Called on the writer's thread before it writes (tests hold it there).
        var beforeWrite: (@Sendable (UInt64) -> Void)?
    }
    private let state = Mutex(State())
    private let worker = DispatchQueue(label: "gonka.snapshots", qos: .utility)
    private let pending = DispatchGroup()

    /// Opens (creating) `directory`, deletes unfinished snapshots and loads the finished ones'
    /// manifests (a directory whose manifest does not decode is deleted too).
    public init(directory: URL, keepRecent: Int) throws {
        self.directory = directory
        self.keepRecent = max(keepRecent, 1)
        let files = FileManager.default
        var loaded: [UInt64: StateSnapshot.Manifest] = [:]
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
                loaded[height] = manifest
            }
        } catch {
            throw StorageError.database(path: directory.path, detail: "snapshots: \(error.localizedDescription)")
        }
        state.withLock { $0.manifests = loaded }
    }

    /// The snapshots on offer, newest first.
    public var list: [StateSnapshot.Manifest] {
        state.withLock { $0.manifests.values.sorted { $0.height > $1.height } }
    }

    /// Chunk `index` of the snapshot at `height`, or `nil` when there is none.
    public func chunk(height: UInt64, index: Int) -> [UInt8]? {
        guard let manifest = state.withLock({ $0.manifests[height] }), index >= 0, index < manifest.chunkHashes.count
        else { return nil }
        let url = directory.appendingPathComponent("\(height)").appendingPathComponent("chunk-\(index)")
        return (try? Data(contentsOf: url)).map { [UInt8]($0) }
    }

    /// Whether a snapshot of `height` should be started now: there is none of that height and no
    /// snapshot is being written.
    public func isDue(height: UInt64) -> Bool {
        state.withLock { $0.writing == nil && $0.manifests[height] == nil }
    }

    /// The height of the snapshot being written in the background, if any.
    public var writing: UInt64? { state.withLock { $0.writing } }

    /// Writes a snapshot of `entries` (the state at `height`, in key order, whose root is `root`)
    /// now, then deletes snapshots beyond ``keepRecent``. A snapshot already there is left as it is.
    @discardableResult
    public func take(
        chainID: String, height: UInt64, root: Hash, entries: [AuthenticatedStore.Entry],
        chunkBytes: Int = StateSnapshot.defaultChunkBytes
    ) throws -> StateSnapshot.Manifest {
        if let existing = state.withLock({ $0.manifests[height] }) { return existing }
        return try write(chainID: chainID, height: height, root: root, chunkBytes: chunkBytes) { body in
            for entry in entries { try body(entry) }
        }
    }

    /// Starts writing a snapshot of `reader`'s version on the store's own thread and returns at
    /// once; the reader is closed when it is done. Returns `false` (and closes the reader) when
    /// one is being written already or that height exists. `done` gets the outcome on that thread.
    @discardableResult
    public func takeInBackground(
        chainID: String, reader: VersionReader, chunkBytes: Int = StateSnapshot.defaultChunkBytes,
        done: (@Sendable (Result<StateSnapshot.Manifest, any Error>) -> Void)? = nil
    ) -> Bool {
        let height = reader.version
        let hook = state.withLock { s -> (@Sendable (UInt64) -> Void)?? in
            guard s.writing == nil, s.manifests[height] == nil else { return .none }
            s.writing = height
            return .some(s.beforeWrite)
        }
        guard let hook else {
            reader.close()
            return false
        }
        pending.enter()
        worker.async { [self] in
            defer {
                reader.close()
                state.withLock { $0.writing = nil }
                pending.leave()
            }
            hook?(height)
            let result = Result {
                try write(chainID: chainID, height: height, root: reader.root, chunkBytes: chunkBytes) { body in
                    try reader.forEachEntry(body)
                }
            }
            done?(result)
        }
        return true
    }

    /// Returns once no snapshot is being written (at shutdown: a snapshot cut short is only a
    /// `.tmp-` directory, but one that is nearly done may as well finish).
    public func waitForPending() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            pending.notify(queue: .global()) { continuation.resume() }
        }
    }

    /// Tests: `hook` runs on the writer's thread before each background snapshot is written.
    func setBeforeWrite(_ hook: (@Sendable (UInt64) -> Void)?) {
        state.withLock { $0.beforeWrite = hook }
    }

    /// Streams the entries `forEachEntry` yields into chunk files in `.tmp-<height>/`, writes the
    /// manifest, renames the directory into place, and drops snapshots beyond ``keepRecent``.
    private func write(
        chainID: String, height: UInt64, root: Hash, chunkBytes: Int,
        forEachEntry: (_ body: (AuthenticatedStore.Entry) throws -> Void) throws -> Void
    ) throws -> StateSnapshot.Manifest {
        let files = FileManager.default
        let temporary = directory.appendingPathComponent(".tmp-\(height)")
        let final = directory.appendingPathComponent("\(height)")
        let manifest: StateSnapshot.Manifest
        do {
            try? files.removeItem(at: temporary)
            try files.createDirectory(at: temporary, withIntermediateDirectories: true)
            var builder = StateSnapshot.ChunkBuilder(chunkBytes: chunkBytes)
            var hashes: [Hash] = []
            var count: UInt64 = 0
            func flush(_ chunk: [UInt8]) throws {
                try Self.writeSynced(Data(chunk), to: temporary.appendingPathComponent("chunk-\(hashes.count)"))
                hashes.append(Hash.sha256(chunk))
            }
            try forEachEntry { entry in
                count += 1
                if let chunk = builder.append(entry) { try flush(chunk) }
            }
            if let last = builder.finish() { try flush(last) }
            manifest = StateSnapshot.Manifest(
                chainID: chainID, height: height, format: StateSnapshot.format, root: root, chunkHashes: hashes,
                entries: count)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try Self.writeSynced(encoder.encode(manifest), to: temporary.appendingPathComponent("manifest.json"))
            try? files.removeItem(at: final)
            try files.moveItem(at: temporary, to: final)
        } catch {
            try? files.removeItem(at: temporary)
            throw StorageError.database(path: final.path, detail: "snapshot: \(error)")
        }
        let dropped = state.withLock { s -> [UInt64] in
            s.manifests[height] = manifest
            let old = Array(s.manifests.keys.sorted(by: >).dropFirst(keepRecent))
            for height in old { s.manifests[height] = nil }
            return old
        }
        for old in dropped { try? files.removeItem(at: directory.appendingPathComponent("\(old)")) }
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
