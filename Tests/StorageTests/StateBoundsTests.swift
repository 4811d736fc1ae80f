import Foundation
import GonkaCore
import Testing

@testable import Storage

/// What the state store holds is bounded in bytes (issue 23): its node and value caches stay within
/// `[memory] state_node_cache_mb` / `state_value_cache_mb`, and its WAL file is cut back after a
/// checkpoint instead of keeping the largest size it ever reached.
@Suite struct StateBoundsTests {
    static func fill(_ store: AuthenticatedStore, keys: Int, from version: UInt64, valueBytes: Int = 40) throws {
        var version = version
        for start in stride(from: 0, to: keys, by: 1_000) {
            for i in start..<min(start + 1_000, keys) {
                try store.set(Array("key/\(i)".utf8), [UInt8](repeating: UInt8(i & 0xFF), count: valueBytes))
            }
            _ = try store.commit(version: version)
            version += 1
        }
    }

    @Test func theNodeAndValueCachesStayWithinTheirBytes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = AuthenticatedStore.Options(
            durability: .normal, nodeCacheBytes: 1 << 20, valueCacheBytes: 64 << 10)
        let store = try AuthenticatedStore(path: directory.path("state.sqlite"), options: options)
        try Self.fill(store, keys: 20_000, from: 1)
        for i in stride(from: 0, to: 20_000, by: 7) { _ = try store.get(Array("key/\(i)".utf8)) }
        // The top three levels (≤ 273 nodes) always stay; past the budget by at most one node.
        #expect(store.cacheBytes <= options.nodeCacheBytes + 2_048, "\(store.cacheBytes)")
        #expect(store.cacheBytes == store.cache.values.reduce(0) { $0 + $1.estimatedBytes })
        #expect(store.latestValues.bytes <= options.valueCacheBytes)
        let values = Array(store.latestValues.current) + Array(store.latestValues.previous)
        #expect(store.latestValues.bytes == values.reduce(0) { $0 + RecentValues.cost(key: $1.key, value: $1.value) })
        #expect(store.latestValues.count > 0)
        // A full node is ~1.8 KiB, a bottom one with three children ~0.4 KiB (the doc's numbers).
        let sizes = store.cache.values.map(\.estimatedBytes)
        #expect(sizes.max() ?? 0 <= 1_900 && sizes.min() ?? 0 >= 200)
    }

    /// `memory` (what `gonka_cache_bytes` exports) says what each cache holds: the node and value
    /// caches' own counts, and SQLite's page cache as SQLite counts it, which fills with what was
    /// read and stays within `cache_size`.
    @Test func theStoreReportsWhatItsCachesHold() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = AuthenticatedStore.Options(
            durability: .normal, nodeCacheBytes: 1 << 20, valueCacheBytes: 64 << 10, pageCacheBytes: 512 << 10)
        let store = try AuthenticatedStore(path: directory.path("state.sqlite"), options: options)
        let empty = store.memory
        try Self.fill(store, keys: 20_000, from: 1, valueBytes: 200)
        for i in stride(from: 0, to: 20_000, by: 7) { _ = try store.get(Array("key/\(i)".utf8)) }
        let full = store.memory
        #expect(full.nodeCacheBytes == store.cacheBytes && full.valueCacheBytes == store.latestValues.bytes)
        #expect(full.nodeCacheBytes > 0 && full.valueCacheBytes > 0)
        // ~4 MiB of values went through a 512 KiB page cache: it is full, not past it (SQLite counts
        // each page with its header, a few percent over the page size).
        #expect(full.pageCacheBytes > empty.pageCacheBytes, "\(empty) → \(full)")
        #expect(full.pageCacheBytes >= options.pageCacheBytes / 2, "\(full.pageCacheBytes)")
        #expect(full.pageCacheBytes <= options.pageCacheBytes * 11 / 10, "\(full.pageCacheBytes)")
    }

    /// `journal_size_limit`: once a checkpoint has copied the WAL back and the next commit starts
    /// it over, the file shrinks to the limit. Without it (-1, SQLite's default) it stays at the
    /// largest size it reached.
    @Test(arguments: [(limit: 256 << 10, shrinks: true), (limit: -1, shrinks: false)])
    func theWALShrinksAfterACheckpoint(limit: Int, shrinks: Bool) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("state.sqlite")
        let options = AuthenticatedStore.Options(
            durability: .normal, walCheckpointBytes: 1 << 20, walSizeLimitBytes: limit)
        let store = try AuthenticatedStore(path: path, options: options)
        func walSize() throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        }
        // One large commit (~3 MiB of values) grows the WAL well past the checkpoint size…
        for i in 0..<3_000 { try store.set(Array("key/\(i)".utf8), [UInt8](repeating: 7, count: 1_000)) }
        _ = try store.commit(version: 1)
        let peak = try walSize()
        #expect(peak > 2 << 20, "\(peak)")
        // …then small commits: the next checkpoint resets the WAL, and the limit cuts the file.
        var version: UInt64 = 10
        for i in 0..<300 {
            try store.set(Array("small/\(i)".utf8), [1])
            _ = try store.commit(version: version)
            version += 1
        }
        let after = try walSize()
        print("WAL: peak \(peak >> 10) KiB, after small commits \(after >> 10) KiB (journal_size_limit \(limit))")
        if shrinks {
            // At most what has been written since the last checkpoint: its threshold and a commit.
            #expect(after <= options.walCheckpointBytes + (128 << 10), "\(after)")
            #expect(after < peak / 2)
        } else {
            #expect(after >= peak, "\(after)")
        }
    }
}
