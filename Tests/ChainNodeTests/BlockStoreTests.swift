import Foundation
import GonkaCore
import Storage
import Testing

@Suite struct BlockStoreTests {
    static func block(_ height: UInt64, _ tag: String = "") -> BlockStore.StoredBlock {
        let bytes = Array("block \(height) \(tag)".utf8)
        return BlockStore.StoredBlock(
            height: height, hash: Hash.sha256(bytes), block: bytes, commit: [1, 2, UInt8(height)])
    }

    @Test func savesAndReadsBlocksInOrder() throws {
        let store = try BlockStore(inMemory: "t")
        #expect(try store.latestHeight() == 0)
        #expect(try store.block(at: 1) == nil)
        try store.save(Self.block(1))
        try store.save(Self.block(2))
        #expect(try store.latestHeight() == 2)
        #expect(try store.block(at: 2) == Self.block(2))
        #expect(try store.block(hash: Self.block(1).hash) == Self.block(1))
        #expect(try store.block(at: UInt64.max) == nil)
        // A gap, or a different block at a stored height, is refused and changes nothing.
        #expect(throws: StorageError.self) { try store.save(Self.block(4)) }
        #expect(throws: StorageError.self) { try store.save(Self.block(2, "other")) }
        #expect(try store.latestHeight() == 2)
        try store.replaceCommit(height: 2, commit: [9, 9])
        #expect(try store.block(at: 2)?.commit == [9, 9])
    }

    @Test func indexesTxResults() throws {
        let store = try BlockStore(inMemory: "t")
        let hash = Hash.sha256("tx")
        #expect(try store.tx(hash: hash) == nil)
        let record = BlockStore.TxRecord(
            hash: hash, height: 3, index: 1, code: 1, log: "bad_sequence: expected 1",
            events: [BlockStore.TxEvent(type: "transfer", attributes: ["from": "a", "to": "b"])])
        try store.index([record])
        #expect(try store.tx(hash: hash) == record)
    }

    @Test func survivesReopen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bs-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("blocks.sqlite").path
        do {
            let store = try BlockStore(path: path)
            try store.save(Self.block(1))
        }
        let reopened = try BlockStore(path: path)
        #expect(try reopened.latestHeight() == 1)
        #expect(try reopened.block(at: 1) == Self.block(1))
    }

    @Test func garbageFileIsAClearError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bs-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("blocks.sqlite").path
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(throws: StorageError.notADatabase(path: path)) { try BlockStore(path: path) }
        // A state store is SQLite but not a block store.
        let statePath = dir.appendingPathComponent("state.sqlite").path
        _ = try AuthenticatedStore(path: statePath)
        let error = #expect(throws: StorageError.self) { try BlockStore(path: statePath) }
        #expect(error?.description.contains("state.sqlite") == true)
    }
}
