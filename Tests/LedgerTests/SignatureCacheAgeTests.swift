import GonkaCore
import Testing

@testable import Ledger

/// The signature cache forgets what no transaction uses any more (issue 23), within its capacity.
@Suite struct SignatureCacheAgeTests {
    static func entry(_ n: Int) -> SignatureCache.Entry {
        SignatureCache.key(publicKey: [UInt8(n & 0xFF)], signature: [1, 2], message: Array("m\(n)".utf8))
    }

    @Test func anEntryInUseStaysAndAnUnusedOneGoesAfterOneToTwoRetentions() {
        let cache = SignatureCache(capacity: 1_000, retentionBlocks: 10)
        cache.insert(Self.entry(1))  // used every block
        cache.insert(Self.entry(2))  // never again
        var goneAt: UInt64?
        for height in UInt64(1)...40 {
            #expect(cache.contains(Self.entry(1)), "in use at \(height)")
            cache.advance(toHeight: height)
            if goneAt == nil, !cache.holds(Self.entry(2)) { goneAt = height }
        }
        #expect(goneAt.map { $0 >= 11 && $0 <= 21 } == true, "forgotten at \(String(describing: goneAt))")
        #expect(cache.count == 1)
    }

    @Test func itHoldsAtMostItsCapacity() {
        let cache = SignatureCache(capacity: 6, retentionBlocks: 1_000)
        for n in 0..<50 { cache.insert(Self.entry(n)) }
        #expect(cache.count <= 6)
        #expect(cache.holds(Self.entry(49)), "the newest is kept")
        #expect(!cache.holds(Self.entry(0)), "the oldest went")
        #expect(cache.bytes <= 6 * SignatureCache.bytesPerEntry, "\(cache.bytes)")
    }
}
