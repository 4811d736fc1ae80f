import GonkaCore

/// Transaction signatures a ledger has already verified, bounded by a byte budget and by age. A
/// node checks each transaction for its mempool, re-checks it after every commit while it waits,
/// and executes it in a block (an inference's Start is checked in the mempool and again in its
/// block): with the cache the Ed25519 verification (the bulk of a transfer's cost) runs once. It
/// holds only facts that never change (this key signed these exact bytes), so results are identical
/// with or without it; the entry is keyed by SHA-256 over key, signature and the domain-separated
/// sign bytes (chain id included).
///
/// Every use of an entry is within a transaction's life in the mempool and its block, so an entry
/// unused for ``retentionBlocks`` blocks is dead weight: the cache keeps two generations, the
/// current one and the one before, and drops the older one each time the current one is
/// ``retentionBlocks`` blocks old (or holds half the budget). An entry used again moves to the
/// current generation. So an entry lives `retentionBlocks` to twice that after its last use, and
/// the cache holds a few minutes of traffic instead of filling its budget over hours (issue 23: at
/// 4 requests/s the first-in-first-out cache before it held 5.4 MiB at minute 30 and 11 at minute
/// 60, still filling its 24; this one held 1.0 MiB from minute 15 on).
public final class SignatureCache {
    /// A cache key: the 32 bytes of its SHA-256, stored inline (no allocation of its own, so a
    /// quarter of a million entries are two contiguous tables, not as many small heap blocks
    /// scattered between short-lived ones).
    struct Entry: Hashable {
        var words: (UInt64, UInt64, UInt64, UInt64)

        init(_ hash: Hash) {
            words = hash.bytes.withUnsafeBytes { raw in
                (
                    raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                    raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                    raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                    raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                )
            }
        }

        static func == (a: Entry, b: Entry) -> Bool {
            a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
        }

        func hash(into hasher: inout Hasher) {
            // The words are already uniformly distributed; one of them is as good a hash as four.
            hasher.combine(words.0)
        }
    }

    /// At most this many entries in both generations together (even, at least 2).
    public let capacity: Int
    /// Blocks a generation stays current; an entry is kept this long after its last use at least.
    public var retentionBlocks: UInt64 { clock.span }
    /// Verifies what the cache does not hold yet, with tables for keys seen repeatedly (the
    /// participants' and frequent developers' keys): same answers as ``PublicKey``, ~2.5× cheaper.
    public let verifier = Ed25519Verifier()
    private var current: Set<Entry> = []
    private var previous: Set<Entry> = []
    private var clock: GenerationClock

    /// `capacity` entries; entries unused for `retentionBlocks` to twice that are forgotten.
    public init(capacity: Int = 200_000, retentionBlocks: UInt64 = GenerationClock.recentSpan) {
        self.capacity = max(capacity / 2, 1) * 2
        clock = GenerationClock(span: retentionBlocks)
    }

    /// What one entry may take at most: 32 bytes in a hash table kept under 3/4 full, just after it
    /// doubled (32 × 2 / 0.75 ≈ 86). A budget divided by it is never exceeded.
    public static let bytesPerEntry = 86

    /// A cache of at most `bytes` (`[memory] signature_cache_mb`): ``bytesPerEntry`` each.
    public convenience init(bytes: Int, retentionBlocks: UInt64 = GenerationClock.recentSpan) {
        self.init(capacity: bytes / Self.bytesPerEntry, retentionBlocks: retentionBlocks)
    }

    /// Entries held, both generations.
    public var count: Int { current.count + previous.count }

    /// The bytes the two tables hold now (what the node reports as the cache's use): 32 per slot,
    /// a slot per 3/4 of the table's room.
    public var bytes: Int { (current.capacity + previous.capacity) * 32 * 4 / 3 }

    static func key(publicKey: some Collection<UInt8>, signature: some Collection<UInt8>, message: [UInt8]) -> Entry {
        // Each part length-prefixed, so no split of the same bytes into (key, signature, message)
        // can stand for another.
        func length(_ count: Int) -> [UInt8] {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: count).bigEndian, Array.init)
        }
        return Entry(
            Hash.sha256(parts: [
                length(publicKey.count), Array(publicKey), length(signature.count), Array(signature), message,
            ]))
    }

    /// Whether the signature was verified before; a hit in the older generation moves to the
    /// current one (it is in use again).
    func contains(_ key: Entry) -> Bool {
        if current.contains(key) { return true }
        guard previous.remove(key) != nil else { return false }
        insert(key)
        return true
    }

    /// Whether `key` is held, without counting it as a use.
    func holds(_ key: Entry) -> Bool { current.contains(key) || previous.contains(key) }

    func insert(_ key: Entry) {
        if current.count >= capacity / 2 { rotate() }
        current.insert(key)
    }

    /// Called once a block at `height` is committed: the current generation becomes the older one
    /// once it is ``retentionBlocks`` old, and the older one is dropped.
    public func advance(toHeight height: UInt64) {
        if clock.tick(height) { rotate() }
    }

    /// The tables are swapped and emptied in place: their storage is reused, never reallocated.
    private func rotate() {
        swap(&current, &previous)
        current.removeAll(keepingCapacity: true)
    }
}
