import ChainNode
import GonkaCore
import Testing

@Suite struct MempoolTests {
    static func accept(_ tx: [UInt8]) -> (code: String, reason: String)? { nil }

    @Test func fifoAndDedupe() {
        var pool = Mempool(maxTxs: 10, maxBytes: 1_000)
        let txs: [[UInt8]] = (0..<5).map { [UInt8($0), 1, 2] }
        for tx in txs { #expect(pool.add(tx, check: Self.accept) == .added(Hash.sha256(tx))) }
        #expect(pool.add(txs[2], check: Self.accept) == .duplicate(Hash.sha256(txs[2])))
        #expect(pool.count == 5)
        #expect(pool.bytes == 15)
        #expect(pool.reap(maxCount: 3, maxBytes: 1_000) == Array(txs[0..<3]))
        #expect(pool.reap(maxCount: 10, maxBytes: 7) == Array(txs[0..<2]))
    }

    @Test func limitsAndRejections() {
        var pool = Mempool(maxTxs: 2, maxBytes: 10)
        #expect(pool.add([1, 1, 1, 1], check: Self.accept) == .added(Hash.sha256([1, 1, 1, 1])))
        // Bytes: 4 + 7 > 10.
        #expect(pool.add([UInt8](repeating: 2, count: 7), check: Self.accept) == .full)
        #expect(pool.add([3], check: Self.accept) == .added(Hash.sha256([3])))
        // Count.
        #expect(pool.add([4], check: Self.accept) == .full)
        var fresh = Mempool(maxTxs: 2, maxBytes: 10)
        let rejected = fresh.add([9]) { _ in ("bad_signature", "invalid signature") }
        #expect(rejected == .rejected(Hash.sha256([9]), code: "bad_signature", reason: "invalid signature"))
        #expect(fresh.count == 0)
    }

    @Test func updateDropsCommittedAndRecheckFailures() {
        var pool = Mempool(maxTxs: 10, maxBytes: 1_000)
        let txs: [[UInt8]] = (0..<4).map { [UInt8($0)] }
        for tx in txs { _ = pool.add(tx, check: Self.accept) }
        let dropped = pool.update(committed: [Hash.sha256(txs[0])]) { tx in tx != txs[2] }
        #expect(dropped == 1)
        #expect(pool.reap(maxCount: 10, maxBytes: 1_000) == [txs[1], txs[3]])
        #expect(pool.bytes == 2)
        // A committed tx is not taken again.
        #expect(pool.add(txs[0], check: Self.accept) == .committed(Hash.sha256(txs[0])))
        // Space freed by the update is usable again, order kept.
        _ = pool.add([7], check: Self.accept)
        #expect(pool.reap(maxCount: 10, maxBytes: 1_000) == [txs[1], txs[3], [7]])
    }

    @Test func recentCommittedMemoryIsBounded() {
        var pool = Mempool(maxTxs: 10, maxBytes: 1_000, recentLimit: 3)
        let hashes = (0..<10).map { Hash.sha256([UInt8($0)]) }
        pool.update(committed: hashes) { _ in true }
        // The oldest are forgotten, the newest remembered.
        #expect(pool.add([0], check: Self.accept) == .added(hashes[0]))
        #expect(pool.add([9], check: Self.accept) == .committed(hashes[9]))
    }
}
