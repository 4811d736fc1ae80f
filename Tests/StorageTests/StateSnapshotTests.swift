import Foundation
import GonkaCore
import Synchronization
import Testing

@testable import Storage

/// State snapshots (issue 23, PROTOCOL §3.1 *State sync*): the chunks of a version restore to its
/// root in an empty store; a chunk that is cut short or out of order is refused; a snapshot is
/// written atomically and only the newest `keep_recent` are kept; one written in the background
/// from a ``VersionReader`` is of its version, whatever the store commits and prunes meanwhile.
@Suite struct StateSnapshotTests {
    /// A store with `count` keys committed over a few versions (overwrites and deletes included).
    static func source(count: Int) throws -> AuthenticatedStore {
        let store = try AuthenticatedStore(inMemory: "snapshot-source")
        for version in UInt64(1)...3 {
            for i in 0..<count { try store.set(Array("k/\(i)".utf8), Array("v\(version)/\(i)".utf8)) }
            if version == 3 { for i in stride(from: 0, to: count, by: 7) { try store.delete(Array("k/\(i)".utf8)) } }
            _ = try store.commit(version: version)
        }
        try store.set([], [1, 2, 3])  // the empty key and an empty value travel too
        try store.set([0xFF], [])
        _ = try store.commit(version: 4)
        return store
    }

    @Test func chunksRestoreToTheSameRoot() throws {
        let source = try Self.source(count: 500)
        let entries = try source.entries(withPrefix: [])
        let chunks = StateSnapshot.chunks(entries, chunkBytes: 1_000)
        #expect(chunks.count > 5, "several chunks")
        #expect(chunks.allSatisfy { $0.count <= 1_000 })
        var decoded: [AuthenticatedStore.Entry] = []
        for chunk in chunks {
            decoded += try StateSnapshot.decode(chunk, after: decoded.last?.key).get()
        }
        #expect(decoded.map(\.key) == entries.map(\.key))
        let target = try AuthenticatedStore(inMemory: "snapshot-target")
        // Entries that do not hash to the expected root: nothing written, the store still empty.
        #expect(throws: StorageError.rootMismatch(expected: Hash.sha256("other"), got: source.root)) {
            try target.restore(entries: decoded, version: 4, expectedRoot: Hash.sha256("other"))
        }
        #expect(target.latestVersion == nil)
        #expect(try target.get(Array("k/1".utf8)) == nil)
        try target.restore(entries: decoded, version: 4, expectedRoot: source.root)
        #expect(target.root == source.root)
        #expect(target.latestVersion == 4)
        #expect(try target.get(Array("k/1".utf8)) == Array("v3/1".utf8))
        #expect(try target.get(Array("k/7".utf8)) == nil)
        // Only into an empty store.
        #expect(throws: StorageError.self) {
            try target.restore(entries: decoded, version: 5, expectedRoot: source.root)
        }
        // An empty state is one empty chunk, restoring to the empty root.
        #expect(StateSnapshot.chunks([]) == [[]])
    }

    @Test func aCutOrDisorderedChunkIsRefused() throws {
        let entries = try Self.source(count: 50).entries(withPrefix: [])
        let chunk = try #require(StateSnapshot.chunks(entries).first)
        func problem(_ bytes: [UInt8], after: [UInt8]? = nil) -> StateSnapshot.ChunkProblem? {
            if case .failure(let problem) = StateSnapshot.decode(bytes, after: after) { return problem }
            return nil
        }
        // Cut inside the first entry, or inside the last one. (A cut between entries decodes, but
        // the client checks a chunk's hash before decoding it.)
        for cut in [1, 3, 5, 9, chunk.count - 1] {
            #expect(problem(Array(chunk.prefix(cut))) == .truncated, "cut at \(cut)")
        }
        // Keys must ascend, also across chunks.
        let reversed = StateSnapshot.chunks(entries.reversed())[0]
        #expect(problem(reversed) == .outOfOrder)
        let last = try #require(entries.last?.key)
        #expect(problem(chunk, after: last) == .outOfOrder)
        // A huge length field cannot read past the end.
        #expect(problem([0xFF, 0xFF, 0xFF, 0xFF, 1]) == .truncated)
    }

    @Test func snapshotsAreAtomicAndOnlyTheNewestAreKept() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("snapshots-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try Self.source(count: 100)
        let entries = try source.entries(withPrefix: [])
        let store = try SnapshotStore(directory: directory, keepRecent: 2)
        #expect(store.list.isEmpty)
        for height in [UInt64(10), 20, 30] {
            let manifest = try store.take(
                chainID: "c", height: height, root: source.root, entries: entries, chunkBytes: 512)
            #expect(manifest.chunkHashes.count > 1)
            #expect(manifest.entries == UInt64(entries.count))
        }
        #expect(store.list.map(\.height) == [30, 20])
        #expect(store.chunk(height: 10, index: 0) == nil, "dropped beyond keep_recent")
        let manifest = store.list[0]
        for (i, hash) in manifest.chunkHashes.enumerated() {
            #expect(try Hash.sha256(#require(store.chunk(height: 30, index: i))) == hash)
        }
        #expect(store.chunk(height: 30, index: manifest.chunkHashes.count) == nil)
        #expect(store.chunk(height: 30, index: -1) == nil)

        // A snapshot cut short by a crash (its temporary directory, no manifest renamed into
        // place) and a directory without a readable manifest are never offered, and are removed.
        let half = directory.appendingPathComponent(".tmp-40")
        try FileManager.default.createDirectory(at: half, withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: half.appendingPathComponent("chunk-0"))
        let broken = directory.appendingPathComponent("50")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try Data("{".utf8).write(to: broken.appendingPathComponent("manifest.json"))
        let reopened = try SnapshotStore(directory: directory, keepRecent: 2)
        #expect(reopened.list.map(\.height) == [30, 20])
        #expect(!FileManager.default.fileExists(atPath: half.path))
        #expect(!FileManager.default.fileExists(atPath: broken.path))
        #expect(reopened.list[0] == manifest)
    }

    /// A reader opened at version 3 sees version 3 while the writer goes on: commits that
    /// overwrite and delete its keys and prune version 3 itself. The snapshot written from it in
    /// the background (held back until the writer is done) restores to version 3's root.
    @Test(.timeLimit(.minutes(1))) func aBackgroundSnapshotIsOfItsVersionWhileCommitsGoOn() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try AuthenticatedStore(path: directory.path("state.sqlite"))
        for version in UInt64(1)...3 {
            for i in 0..<400 { try store.set(Array("k/\(i)".utf8), Array("v\(version)/\(i)".utf8)) }
            if version == 3 { for i in stride(from: 0, to: 400, by: 5) { try store.delete(Array("k/\(i)".utf8)) } }
            _ = try store.commit(version: version)
        }
        let expected = try store.entries(withPrefix: [])
        let root3 = store.root
        let reader = try store.versionReader()
        #expect(reader.version == 3 && reader.root == root3)

        let snapshots = try SnapshotStore(directory: directory.url.appendingPathComponent("snapshots"), keepRecent: 2)
        let gate = DispatchSemaphore(value: 0)
        snapshots.setBeforeWrite { _ in gate.wait() }
        let outcome = Mutex<Result<StateSnapshot.Manifest, any Error>?>(nil)
        #expect(
            snapshots.takeInBackground(chainID: "c", reader: reader, chunkBytes: 1_000) { result in
                outcome.withLock { $0 = result }
            })
        #expect(snapshots.writing == 3)
        #expect(!snapshots.isDue(height: 4), "one snapshot at a time")
        // The writer commits on while the snapshot is held: every key rewritten, some deleted,
        // new ones added, and version 3 pruned.
        for version in UInt64(4)...12 {
            for i in 0..<400 where i % 3 != 0 { try store.set(Array("k/\(i)".utf8), Array("v\(version)/\(i)".utf8)) }
            for i in stride(from: 0, to: 400, by: 3) { try store.delete(Array("k/\(i)".utf8)) }
            try store.set(Array("new/\(version)".utf8), [UInt8(version)])
            _ = try store.commit(version: version)
            try store.prune(keepingRecent: 2)
        }
        #expect(store.oldestVersion == 11)
        #expect(throws: StorageError.self) { try store.get(Array("k/1".utf8), atVersion: 3) }
        #expect(snapshots.list.isEmpty, "nothing offered before it is written")
        gate.signal()
        await snapshots.waitForPending()
        #expect(snapshots.writing == nil)

        let manifest = try #require(try outcome.withLock { try $0?.get() })
        #expect(manifest.height == 3 && manifest.root == root3)
        #expect(manifest.entries == UInt64(expected.count))
        #expect(manifest.chunkHashes.count > 3)
        #expect(snapshots.list == [manifest])
        var decoded: [AuthenticatedStore.Entry] = []
        for (i, hash) in manifest.chunkHashes.enumerated() {
            let chunk = try #require(snapshots.chunk(height: 3, index: i))
            #expect(Hash.sha256(chunk) == hash)
            decoded += try StateSnapshot.decode(chunk, after: decoded.last?.key).get()
        }
        #expect(decoded.map(\.key) == expected.map(\.key))
        #expect(decoded.map(\.value) == expected.map(\.value))
        let target = try AuthenticatedStore(inMemory: "restored")
        try target.restore(entries: decoded, version: 3, expectedRoot: root3)
        #expect(target.root == root3)
        // The reader was closed with the snapshot; the store goes on.
        #expect(throws: (any Error).self) { try reader.forEachEntry { _ in } }
        _ = try store.commit(version: 13)
    }

    /// An in-memory store has no second connection; a reader is refused, not wrong.
    @Test func anInMemoryStoreHasNoReader() throws {
        let store = try Self.source(count: 10)
        #expect(throws: StorageError.self) { try store.versionReader() }
    }
}
