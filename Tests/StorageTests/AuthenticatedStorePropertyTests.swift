import GonkaCore
import GonkaTestKit
import Storage
import Testing

/// The store against a plain dictionary model, driven by seeded random operations.
@Suite struct AuthenticatedStorePropertyTests {
    /// Keys: prefix-sharing families, the empty key, one-byte keys, and 32-byte random-looking keys.
    static func keyPool(_ rng: inout SplitMix64) -> [[UInt8]] {
        var pool: [[UInt8]] = [[], [0x00], [0xFF], [0xFF, 0xFF], bytes("a"), bytes("ab"), bytes("abc")]
        for index in 0..<20 { pool.append(bytes("acct/\(index)")) }
        for index in 0..<10 { pool.append(bytes("acct/\(index)/sub")) }
        for _ in 0..<20 { pool.append(rng.bytes(32)) }
        return pool
    }

    static let prefixes: [[UInt8]] = [[], bytes("a"), bytes("acct/"), bytes("acct/1"), [0xFF], [0x00], bytes("zzz")]

    @Test(arguments: [1, 2, 3, 42, 2024, 0xDEAD_BEEF] as [UInt64])
    func matchesTheModel(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let pool = Self.keyPool(&rng)
        // Even seeds run with a tiny node cache, so eviction and reloading are exercised too.
        let options = AuthenticatedStore.Options(nodeCacheBytes: seed % 2 == 0 ? 4 << 10 : 128 << 20)
        let store = try AuthenticatedStore(inMemory: "property-\(seed)", options: options)
        var model: [[UInt8]: [UInt8]] = [:]
        var snapshots: [UInt64: (root: Hash, state: [[UInt8]: [UInt8]])] = [:]
        var version: UInt64 = 0
        let context = Comment(rawValue: "seed \(seed)")

        for _ in 0..<30 {
            // Stage a random batch; the model sees it only through `pending` until commit.
            var pending = model
            for _ in 0..<(1 + rng.below(25)) {
                let key = pool[rng.below(pool.count)]
                switch rng.below(10) {
                case 0..<3:
                    try store.delete(key)
                    pending[key] = nil
                case 3:
                    try store.set(key, [])
                    pending[key] = []
                default:
                    let value = rng.bytes(rng.below(9))
                    try store.set(key, value)
                    pending[key] = value
                }
                if rng.chance(10) {
                    // Read-your-writes before commit.
                    #expect(try store.get(key) == pending[key], context)
                }
            }
            if rng.chance(10) {
                store.discardStaged()
                pending = model
            }
            let prefix = Self.prefixes[rng.below(Self.prefixes.count)]
            #expect(
                try store.entries(withPrefix: prefix).map(\.key) == Self.sortedKeys(pending, prefix: prefix), context)

            version += UInt64(1 + rng.below(3))  // versions may skip numbers
            let root = try store.commit(version: version)
            model = pending
            snapshots[version] = (root, model)
            #expect(root == ReferenceTree.root(of: model), context)
            #expect(store.root == root && store.latestVersion == version, context)
            try Self.checkLatest(store, model: model, pool: pool, context: context)

            // A random older kept version still reads as it was.
            let kept = snapshots.keys.filter { $0 >= (store.oldestVersion ?? 0) }.sorted()
            let old = kept[rng.below(kept.count)]
            try Self.checkVersion(store, version: old, snapshot: snapshots[old]!, pool: pool, context: context)

            if rng.chance(25) {
                let keep = UInt64(1 + rng.below(5))
                try store.prune(keepingRecent: keep)
                let cutoff = version >= keep ? version - keep + 1 : 0
                for (old, snapshot) in snapshots {
                    if old >= cutoff {
                        try Self.checkVersion(store, version: old, snapshot: snapshot, pool: pool, context: context)
                    } else {
                        #expect(throws: StorageError.versionPruned(old, oldest: store.oldestVersion ?? 0), context) {
                            try store.get(pool[0], atVersion: old)
                        }
                        #expect(throws: StorageError.self, context) { try store.proof(pool[0], atVersion: old) }
                        #expect(throws: StorageError.self, context) { try store.root(atVersion: old) }
                        #expect(throws: StorageError.self, context) {
                            try store.entries(withPrefix: [], atVersion: old)
                        }
                    }
                }
                snapshots = snapshots.filter { $0.key >= cutoff }
            }
        }
        try store.verifyIntegrity()
    }

    static func sortedKeys(_ state: [[UInt8]: [UInt8]], prefix: [UInt8]) -> [[UInt8]] {
        state.keys.filter { $0.starts(with: prefix) }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    static func checkLatest(
        _ store: AuthenticatedStore, model: [[UInt8]: [UInt8]], pool: [[UInt8]], context: Comment
    ) throws {
        let root = store.root
        let wrongRoot = Hash.sha256(root.bytes)
        for key in pool {
            let value = model[key]
            #expect(try store.get(key) == value, context)
            let proof = try store.proof(key)
            #expect(StateCommitment.verify(proof, key: key, value: value, root: root), context)
            #expect(!StateCommitment.verify(proof, key: key, value: value, root: wrongRoot), context)
            // A wrong value (present keys), or a claimed value (absent keys), must fail.
            #expect(!StateCommitment.verify(proof, key: key, value: (value ?? []) + [1], root: root), context)
            if value != nil {
                #expect(!StateCommitment.verify(proof, key: key, value: nil, root: root), context)
            }
            let binary = try StateProof(serialized: proof.serialized())
            #expect(binary == proof, context)
        }
        for prefix in prefixes {
            let entries = try store.entries(withPrefix: prefix)
            let expected = sortedKeys(model, prefix: prefix)
            #expect(entries.map(\.key) == expected, context)
            #expect(entries.map(\.value) == expected.map { model[$0]! }, context)
        }
    }

    static func checkVersion(
        _ store: AuthenticatedStore, version: UInt64, snapshot: (root: Hash, state: [[UInt8]: [UInt8]]),
        pool: [[UInt8]],
        context: Comment
    ) throws {
        #expect(try store.root(atVersion: version) == snapshot.root, context)
        for key in pool {
            let value = snapshot.state[key]
            #expect(try store.get(key, atVersion: version) == value, context)
            let proof = try store.proof(key, atVersion: version)
            #expect(StateCommitment.verify(proof, key: key, value: value, root: snapshot.root), context)
            let both = try store.getWithProof(key, atVersion: version)
            #expect(both.value == value && both.proof == proof, context)
        }
        for prefix in prefixes {
            let entries = try store.entries(withPrefix: prefix, atVersion: version)
            let expected = sortedKeys(snapshot.state, prefix: prefix)
            #expect(entries.map(\.key) == expected, context)
            #expect(entries.map(\.value) == expected.map { snapshot.state[$0]! }, context)
        }
    }
}
