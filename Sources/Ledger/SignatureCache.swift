import GonkaCore

/// Transaction signatures a ledger has already verified, bounded (oldest forgotten first). A node
/// checks each transaction for its mempool, re-checks it after every commit while it waits, and
/// executes it in a block: with the cache the Ed25519 verification (the bulk of a transfer's cost)
/// runs once. It holds only facts that never change (this key signed these exact bytes), so results
/// are identical with or without it; the entry is keyed by SHA-256 over key, signature and the
/// domain-separated sign bytes (chain id included).
public final class SignatureCache {
    public let capacity: Int
    /// Verifies what the cache does not hold yet, with tables for keys seen repeatedly (the
    /// participants' and frequent developers' keys): same answers as ``PublicKey``, ~2.5× cheaper.
    public let verifier = Ed25519Verifier()
    private var entries: Set<Hash> = []
    private var order: [Hash] = []
    private var head = 0

    public init(capacity: Int = 200_000) {
        self.capacity = max(capacity, 1)
    }

    /// About what one entry takes: its 32-byte hash in a heap array (~80 bytes with the array
    /// header and the allocator's), the set's bucket and the order array's slot.
    public static let bytesPerEntry = 112

    /// A cache of about `bytes` (`[memory] signature_cache_mb`): ``bytesPerEntry`` each.
    public convenience init(bytes: Int) {
        self.init(capacity: bytes / Self.bytesPerEntry)
    }

    public var count: Int { entries.count }

    static func key(publicKey: some Collection<UInt8>, signature: some Collection<UInt8>, message: [UInt8]) -> Hash {
        // Each part length-prefixed, so no split of the same bytes into (key, signature, message)
        // can stand for another.
        func length(_ count: Int) -> [UInt8] {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: count).bigEndian, Array.init)
        }
        return Hash.sha256(parts: [
            length(publicKey.count), Array(publicKey), length(signature.count), Array(signature), message,
        ])
    }

    func contains(_ key: Hash) -> Bool { entries.contains(key) }

    func insert(_ key: Hash) {
        guard entries.insert(key).inserted else { return }
        order.append(key)
        if entries.count > capacity {
            entries.remove(order[head])
            head += 1
            if head >= capacity {
                order.removeFirst(head)
                head = 0
            }
        }
    }
}
