import Foundation
import GonkaCore
import Storage
import Testing

@Suite struct StateCommitmentTests {
    let zero = StateCommitment.emptyRoot

    @Test func emptyTreeProvesAbsenceOnly() {
        let proof = StateProof(siblings: [], leaf: nil)
        #expect(StateCommitment.verify(proof, key: bytes("a"), value: nil, root: zero))
        #expect(!StateCommitment.verify(proof, key: bytes("a"), value: bytes("x"), root: zero))
        #expect(!StateCommitment.verify(proof, key: bytes("a"), value: nil, root: Hash.sha256("other")))
    }

    @Test func singleKeyTree() throws {
        let key = bytes("alice")
        let value = bytes("100")
        let leaf = StateProof.Leaf(keyHash: StateCommitment.keyHash(key), valueHash: StateCommitment.valueHash(value))
        let root = StateCommitment.leafHash(keyHash: leaf.keyHash, valueHash: leaf.valueHash)
        #expect(root == Hash.sha256([0x00] + leaf.keyHash.bytes + leaf.valueHash.bytes))

        let store = try AuthenticatedStore(inMemory: "single")
        try store.set(key, value)
        #expect(try store.commit(version: 1) == root)
        let proof = try store.proof(key)
        #expect(proof == StateProof(siblings: [], leaf: leaf))
        #expect(StateCommitment.verify(proof, key: key, value: value, root: root))
        #expect(!StateCommitment.verify(proof, key: key, value: bytes("101"), root: root))
        #expect(!StateCommitment.verify(proof, key: key, value: nil, root: root))
        // The single leaf also proves every other key absent.
        #expect(StateCommitment.verify(try store.proof(bytes("bob")), key: bytes("bob"), value: nil, root: root))
        #expect(StateCommitment.verify(proof, key: bytes("bob"), value: nil, root: root))
        #expect(!StateCommitment.verify(proof, key: bytes("bob"), value: value, root: root))
    }

    /// Two keys whose hashes share the first nibble (and maybe more bits): the tree is a chain of
    /// one-child internal nodes down to the bit where they split, built here by hand.
    @Test func twoKeysSharingTheFirstNibble() throws {
        let (first, second, shared) = try #require(Self.keysSharingFirstNibble())
        let value1 = bytes("one")
        let value2 = bytes("two")
        let h1 = StateCommitment.keyHash(first)
        let h2 = StateCommitment.keyHash(second)
        let leaf1 = StateCommitment.leafHash(keyHash: h1, valueHash: StateCommitment.valueHash(value1))
        let leaf2 = StateCommitment.leafHash(keyHash: h2, valueHash: StateCommitment.valueHash(value2))
        var expected =
            StateCommitment.bit(of: h1, at: shared) == 0
            ? StateCommitment.internalHash(left: leaf1, right: leaf2)
            : StateCommitment.internalHash(left: leaf2, right: leaf1)
        let split = expected
        for depth in stride(from: shared - 1, through: 0, by: -1) {
            expected =
                StateCommitment.bit(of: h1, at: depth) == 0
                ? StateCommitment.internalHash(left: expected, right: zero)
                : StateCommitment.internalHash(left: zero, right: expected)
        }
        let store = try AuthenticatedStore(inMemory: "two")
        try store.set(second, value2)
        try store.set(first, value1)
        let root = try store.commit(version: 7)
        #expect(root == expected)
        #expect(root == ReferenceTree.root(of: [first: value1, second: value2]))

        let proof1 = try store.proof(first)
        #expect(proof1.siblings == Array(repeating: zero, count: shared) + [leaf2])
        #expect(StateCommitment.verify(proof1, key: first, value: value1, root: root))
        #expect(!StateCommitment.verify(proof1, key: first, value: value2, root: root))
        #expect(StateCommitment.verify(try store.proof(second), key: second, value: value2, root: root))

        // A key that leaves the shared path early ends at an empty subtree whose sibling is the
        // subtree of both keys.
        let absent = try #require(
            (0..<10_000).lazy.map { bytes("absent-\($0)") }.first { key in
                let hash = StateCommitment.keyHash(key)
                return StateCommitment.sharePrefix(hash, h1, bits: 2)
                    && !StateCommitment.sharePrefix(hash, h1, bits: shared)
            })
        let absentProof = try store.proof(absent)
        #expect(absentProof.leaf == nil)
        #expect(absentProof.siblings.count > 2 && absentProof.siblings.count <= shared)
        #expect(absentProof.siblings.last != zero)
        #expect(StateCommitment.verify(absentProof, key: absent, value: nil, root: root))
        #expect(!StateCommitment.verify(absentProof, key: absent, value: bytes("x"), root: root))
        #expect(!StateCommitment.verify(absentProof, key: absent, value: nil, root: split))
    }

    @Test func nodeHashPullsLoneLeavesUp() {
        let a = Hash.sha256("a")
        let b = Hash.sha256("b")
        let n = Hash.sha256("n")
        func slots(_ pairs: [Int: StateCommitment.Slot]) -> [StateCommitment.Slot] {
            (0..<16).map { pairs[$0] ?? .empty }
        }
        #expect(StateCommitment.nodeHash(slots([:])) == zero)
        #expect(StateCommitment.nodeHash(slots([5: .leaf(a)])) == a)
        // A lone child *node* is not pulled up: it sits 4 levels below the node's top.
        var lone = n
        for bit in [1, 0, 1, 0] {  // slot 5 = 0b0101, walked from the bottom bit up
            lone =
                bit == 0
                ? StateCommitment.internalHash(left: lone, right: zero)
                : StateCommitment.internalHash(left: zero, right: lone)
        }
        #expect(StateCommitment.nodeHash(slots([5: .node(n)])) == lone)
        #expect(
            StateCommitment.nodeHash(slots([0: .leaf(a), 15: .leaf(b)]))
                == StateCommitment.internalHash(left: a, right: b))
        var pair = StateCommitment.internalHash(left: a, right: b)
        for _ in 0..<3 { pair = StateCommitment.internalHash(left: pair, right: zero) }
        #expect(StateCommitment.nodeHash(slots([0: .leaf(a), 1: .leaf(b)])) == pair)
    }

    @Test func serializedRoundTripsAndRejectsEveryTamperedByte() throws {
        let (store, state) = try Self.smallStore()
        let root = store.root
        for key in Self.probeKeys {
            let proof = try store.proof(key)
            let value = state[key]
            #expect(StateCommitment.verify(proof, key: key, value: value, root: root))
            let encoded = proof.serialized()
            #expect(try StateProof(serialized: encoded) == proof)
            for index in encoded.indices {
                for flip: UInt8 in [0x01, 0x80] {
                    var tampered = encoded
                    tampered[index] ^= flip
                    if let decoded = try? StateProof(serialized: tampered) {
                        #expect(
                            !StateCommitment.verify(decoded, key: key, value: value, root: root),
                            "byte \(index) ^ \(flip) of the proof for \(Hex.encode(key)) still verifies")
                    }
                }
            }
        }
    }

    @Test func jsonRoundTripsAndTamperingFails() throws {
        let (store, state) = try Self.smallStore()
        let key = try #require(state.keys.sorted { $0.lexicographicallyPrecedes($1) }.first)
        let proof = try store.proof(key)
        let json = try JSONEncoder().encode(proof)
        #expect(try JSONDecoder().decode(StateProof.self, from: json) == proof)
        let text = try #require(String(data: json, encoding: .utf8))
        #expect(text.contains("\"siblings\"") && text.contains("\"keyHash\"") && text.contains("\"valueHash\""))
        var tampered = proof
        tampered.siblings[tampered.siblings.count - 1] = Hash.sha256("forged")
        #expect(!StateCommitment.verify(tampered, key: key, value: state[key], root: store.root))
        tampered = proof
        tampered.leaf?.valueHash = Hash.sha256("forged")
        #expect(!StateCommitment.verify(tampered, key: key, value: state[key], root: store.root))
    }

    @Test func malformedSerializationsThrow() {
        let leaf = StateProof.Leaf(keyHash: Hash.sha256("k"), valueHash: Hash.sha256("v"))
        let good = StateProof(siblings: [zero, Hash.sha256("s"), zero], leaf: leaf).serialized()
        #expect(good.count == 4 + 1 + 32 + 64)
        #expect(throws: StateProofError.truncated) { try StateProof(serialized: good.dropLast()) }
        #expect(throws: StateProofError.trailingBytes(1)) { try StateProof(serialized: good + [0]) }
        #expect(throws: StateProofError.unsupportedFormat(2)) { try StateProof(serialized: [2] + good.dropFirst()) }
        #expect(throws: StateProofError.badKind(2)) { try StateProof(serialized: [1, 2, 0, 0]) }
        #expect(throws: StateProofError.tooDeep(257)) {
            try StateProof(serialized: [1, 0, 1, 1] + [UInt8](repeating: 0, count: 33))
        }
        #expect(throws: StateProofError.nonCanonical) {
            try StateProof(serialized: [1, 0, 0, 1, 0x80] + [UInt8](repeating: 0, count: 32))
        }
        #expect(throws: StateProofError.nonCanonical) { try StateProof(serialized: [1, 0, 0, 1, 0x40]) }
        #expect(throws: StateProofError.truncated) { try StateProof(serialized: [] as [UInt8]) }
    }

    @Test func overlongProofIsRejected() {
        let proof = StateProof(siblings: Array(repeating: zero, count: 257), leaf: nil)
        #expect(!StateCommitment.verify(proof, key: bytes("k"), value: nil, root: zero))
    }

    // MARK: Helpers

    static let probeKeys: [[UInt8]] = (0..<24).map { bytes("probe/\($0)") } + [[], bytes("k")]

    /// A store with 40 keys (a few of the probe keys among them), committed at version 1.
    static func smallStore() throws -> (AuthenticatedStore, [[UInt8]: [UInt8]]) {
        let store = try AuthenticatedStore(inMemory: "small")
        var state: [[UInt8]: [UInt8]] = [:]
        for index in 0..<40 {
            let key = index < 8 ? bytes("probe/\(index * 3)") : bytes("other/\(index)")
            let value = bytes("value-\(index)")
            try store.set(key, value)
            state[key] = value
        }
        _ = try store.commit(version: 1)
        return (store, state)
    }

    /// Two keys whose hashes share the first nibble, and how many leading bits they share.
    static func keysSharingFirstNibble() -> ([UInt8], [UInt8], Int)? {
        var seen: [Int: [UInt8]] = [:]
        for index in 0..<100 {
            let key = bytes("key-\(index)")
            let hash = StateCommitment.keyHash(key)
            let nibble = StateCommitment.nibble(of: hash, at: 0)
            if let other = seen[nibble] {
                let otherHash = StateCommitment.keyHash(other)
                var shared = 0
                while StateCommitment.bit(of: hash, at: shared) == StateCommitment.bit(of: otherHash, at: shared) {
                    shared += 1
                }
                return (other, key, shared)
            }
            seen[nibble] = key
        }
        return nil
    }
}
