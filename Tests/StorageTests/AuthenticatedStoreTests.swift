import Foundation
import GRDB
import GonkaCore
import GonkaTestKit
import Ledger
import Storage
import Testing

@Suite struct AuthenticatedStoreTests {
    // MARK: Determinism

    @Test func writeOrderWithinACommitDoesNotMatter() throws {
        var rng = SplitMix64(seed: 7)
        var writes = (0..<300).map { index in (bytes("key/\(index)"), rng.bytes(1 + rng.below(40))) }
        let first = try AuthenticatedStore(inMemory: "order-1")
        for (key, value) in writes { try first.set(key, value) }
        rng.shuffle(&writes)
        let second = try AuthenticatedStore(inMemory: "order-2")
        for (key, value) in writes { try second.set(key, value) }
        #expect(try first.commit(version: 1) == second.commit(version: 1))
    }

    @Test func sameHistoryGivesSameRoots() throws {
        let stores = [try AuthenticatedStore(inMemory: "a"), try AuthenticatedStore(inMemory: "b")]
        var roots: [[Hash]] = [[], []]
        for (index, store) in stores.enumerated() {
            var rng = SplitMix64(seed: 99)
            for version in 1...20 as ClosedRange<UInt64> {
                for _ in 0..<50 {
                    let key = bytes("k\(rng.below(120))")
                    if rng.chance(30) { try store.delete(key) } else { try store.set(key, rng.bytes(8)) }
                }
                roots[index].append(try store.commit(version: version))
                if index == 1, version % 3 == 0 { try store.prune(keepingRecent: 2) }  // pruning never changes roots
            }
        }
        #expect(roots[0] == roots[1])
        #expect(Set(roots[0]).count == 20)
    }

    @Test func rootDependsOnlyOnTheCurrentEntries() throws {
        let churned = try AuthenticatedStore(inMemory: "churned")
        let clean = try AuthenticatedStore(inMemory: "clean")
        for index in 0..<200 { try churned.set(bytes("k\(index)"), bytes("v\(index)")) }
        _ = try churned.commit(version: 1)
        for index in 0..<200 where index % 10 != 0 { try churned.delete(bytes("k\(index)")) }
        try churned.set(bytes("late"), bytes("x"))
        _ = try churned.commit(version: 2)
        try churned.delete(bytes("late"))
        let churnedRoot = try churned.commit(version: 3)

        for index in stride(from: 0, to: 200, by: 10) { try clean.set(bytes("k\(index)"), bytes("v\(index)")) }
        #expect(try clean.commit(version: 1) == churnedRoot)

        // A key set then deleted leaves the root as if never set; deleting everything gives the empty root.
        for index in stride(from: 0, to: 200, by: 10) { try churned.delete(bytes("k\(index)")) }
        #expect(try churned.commit(version: 4) == StateCommitment.emptyRoot)
        try churned.verifyIntegrity()
    }

    @Test func pruningToOneVersionLeavesExactlyTheLatestState() throws {
        let store = try AuthenticatedStore(inMemory: "prune")
        var rng = SplitMix64(seed: 31)
        var model: [[UInt8]: [UInt8]] = [:]
        for version in 1...40 as ClosedRange<UInt64> {
            for _ in 0..<60 {
                let key = bytes("k\(rng.below(150))")
                if rng.chance(35) {
                    try store.delete(key)
                    model[key] = nil
                } else {
                    let value = rng.bytes(rng.below(20))
                    try store.set(key, value)
                    model[key] = value
                }
            }
            _ = try store.commit(version: version)
            if version % 7 == 0 { try store.prune(keepingRecent: 3) }
        }
        let before = try store.statistics()
        #expect(before.versions == 3 + 40 % 7 && before.values > model.count)
        try store.prune(keepingRecent: 1)
        let report = try store.verifyIntegrity()
        let after = try store.statistics()
        #expect(report.entries == model.count)
        #expect(after.versions == 1)
        #expect(after.nodes == report.nodes)
        #expect(after.values == model.count && after.keys == model.count && after.liveKeys == model.count)
        #expect(store.root == ReferenceTree.root(of: model))
        for (key, value) in model { #expect(try store.get(key) == value) }
    }

    @Test func noOpWritesKeepTheRootAndWriteNothing() throws {
        let store = try AuthenticatedStore(inMemory: "noop")
        try store.set(bytes("a"), bytes("1"))
        let root = try store.commit(version: 1)
        let before = try store.statistics()
        try store.set(bytes("a"), bytes("1"))
        try store.delete(bytes("missing"))
        #expect(try store.commit(version: 2) == root)
        let after = try store.statistics()
        #expect(after.values == before.values && after.keys == before.keys && after.nodes == before.nodes)
        #expect(try store.commit(version: 3) == root)  // an empty commit is fine too
        #expect(try store.root(atVersion: 2) == root)
        #expect(try store.get(bytes("a"), atVersion: 1) == bytes("1"))
    }

    @Test func emptyStoreBehaves() throws {
        let store = try AuthenticatedStore(inMemory: "empty")
        #expect(store.latestVersion == nil)
        #expect(store.root == StateCommitment.emptyRoot)
        #expect(try store.get(bytes("x")) == nil)
        #expect(try store.entries(withPrefix: []).isEmpty)
        let proof = try store.proof(bytes("x"))
        #expect(StateCommitment.verify(proof, key: bytes("x"), value: nil, root: store.root))
        #expect(throws: StorageError.versionInFuture(0, latest: nil)) { try store.get(bytes("x"), atVersion: 0) }
        try store.prune(keepingRecent: 1)
    }

    // MARK: Bad input

    @Test func badVersionsAreClearErrorsAndChangeNothing() throws {
        let store = try AuthenticatedStore(inMemory: "versions")
        try store.set(bytes("a"), bytes("1"))
        let root5 = try store.commit(version: 5)
        try store.set(bytes("a"), bytes("2"))
        #expect(throws: StorageError.versionNotIncreasing(version: 5, latest: 5)) { try store.commit(version: 5) }
        #expect(throws: StorageError.versionNotIncreasing(version: 3, latest: 5)) { try store.commit(version: 3) }
        #expect(throws: StorageError.versionOutOfRange(UInt64.max)) { try store.commit(version: .max) }
        #expect(store.latestVersion == 5 && store.root == root5)
        #expect(try store.get(bytes("a")) == bytes("2"))  // still staged
        #expect(try store.get(bytes("a"), atVersion: 5) == bytes("1"))
        #expect(throws: StorageError.versionInFuture(6, latest: 5)) { try store.get(bytes("a"), atVersion: 6) }
        #expect(throws: StorageError.versionInFuture(9, latest: 5)) { try store.proof(bytes("a"), atVersion: 9) }
        #expect(throws: StorageError.versionNotCommitted(4)) { try store.root(atVersion: 4) }
        #expect(throws: StorageError.invalidArgument("prune(keepingRecent:) needs at least 1 version")) {
            try store.prune(keepingRecent: 0)
        }
        let root7 = try store.commit(version: 7)
        #expect(root7 != root5)
        try store.prune(keepingRecent: 1)
        #expect(throws: StorageError.versionPruned(5, oldest: 7)) { try store.get(bytes("a"), atVersion: 5) }
        #expect(throws: StorageError.versionPruned(5, oldest: 7)) { try store.root(atVersion: 5) }
        #expect(try store.get(bytes("a"), atVersion: 7) == bytes("2"))
        let message = StorageError.versionPruned(5, oldest: 7).description
        #expect(message.contains("5") && message.contains("7") && message.contains("pruned"))
    }

    @Test func openingGarbageThrowsNamingThePath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("garbage.sqlite")
        var rng = SplitMix64(seed: 5)
        try Data(rng.bytes(64 * 1024)).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: StorageError.self) { try AuthenticatedStore(path: path) }
        #expect(error == .notADatabase(path: path))
        #expect(error.description.contains(path))
        #expect(error.shortDescription == "not_a_database")
    }

    @Test func openingAForeignDatabaseThrows() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("other.sqlite")
        let other = try DatabaseQueue(path: path)
        try other.write { db in try db.execute(sql: "CREATE TABLE t (x INTEGER)") }
        try other.close()
        let error = try #require(throws: StorageError.self) { try AuthenticatedStore(path: path) }
        #expect(error.shortDescription == "foreign_database")
        #expect(error.description.contains(path))
    }

    @Test func reopenKeepsEverything() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("state.sqlite")
        var roots: [Hash] = []
        do {
            let store = try AuthenticatedStore(path: path)
            for version in 1...5 as ClosedRange<UInt64> {
                for index in 0..<100 { try store.set(bytes("k\(index)"), bytes("v\(index)@\(version)")) }
                roots.append(try store.commit(version: version))
            }
            try store.prune(keepingRecent: 3)
            try store.set(bytes("staged"), bytes("lost on close"))
            try store.close()
            #expect(throws: StorageError.closed(path: path)) { try store.get(bytes("k1")) }
        }
        let store = try AuthenticatedStore(path: path)
        #expect(store.latestVersion == 5 && store.root == roots[4] && store.oldestVersion == 3)
        #expect(try store.get(bytes("staged")) == nil)
        #expect(try store.get(bytes("k7"), atVersion: 3) == bytes("v7@3"))
        #expect(try store.root(atVersion: 4) == roots[3])
        #expect(throws: StorageError.versionPruned(2, oldest: 3)) { try store.get(bytes("k7"), atVersion: 2) }
        try store.verifyIntegrity()
    }

    @Test func corruptedFileIsAClearErrorNeverACrash() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("state.sqlite")
        do {
            let store = try AuthenticatedStore(path: path)
            var rng = SplitMix64(seed: 11)
            for version in 1...3 as ClosedRange<UInt64> {
                for _ in 0..<500 { try store.set(rng.bytes(32), rng.bytes(64)) }
                _ = try store.commit(version: version)
            }
            try store.close()
        }
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(original.count > 64 * 1024)

        // Garbage over the middle pages: opening may still work (the header is intact), but a full
        // check must then report corruption, naming the file.
        var damaged = original
        var rng = SplitMix64(seed: 12)
        for offset in stride(from: 8192, to: damaged.count - 4096, by: 12_288) {
            damaged.replaceSubrange(offset..<(offset + 2048), with: rng.bytes(2048))
        }
        try damaged.write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: StorageError.self) {
            let store = try AuthenticatedStore(path: path)
            try store.verifyIntegrity()
        }
        #expect(error.description.contains(path))
        #expect(["corrupted", "not_a_database"].contains(error.shortDescription))

        // Garbage over the header: not a database at all.
        var headless = original
        headless.replaceSubrange(0..<100, with: rng.bytes(100))
        try headless.write(to: URL(fileURLWithPath: path))
        #expect(throws: StorageError.notADatabase(path: path)) { try AuthenticatedStore(path: path) }
    }

    @Test func worksAsALedgerStateStore() throws {
        let store: any StateStore = try AuthenticatedStore(inMemory: "ledger")
        try store.set(bytes("b"), bytes("2"))
        try store.set(bytes("a"), bytes("1"))
        #expect(try store.entries(withPrefix: []).map(\.key) == [bytes("a"), bytes("b")])
        let root = try store.commit(version: 1)
        #expect(store.root == root && store.latestVersion == 1)
        try store.delete(bytes("a"))
        #expect(try store.get(bytes("a")) == nil)
        store.discardStaged()
        #expect(try store.get(bytes("a")) == bytes("1"))
    }
}
