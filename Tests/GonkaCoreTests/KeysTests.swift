import GonkaCore
import Testing

@Suite("Ed25519 keys (RFC 8032)")
struct KeysTests {
    @Test("seed → public key", arguments: Ed25519Vector.all)
    func publicKeyFromSeed(_ vector: Ed25519Vector) throws {
        let key = try SigningKey(seed: bytes(vector.seed))
        #expect(key.publicKey.hex == vector.publicKey)
        #expect(key.seed == bytes(vector.seed))
    }

    @Test("signature equals the RFC's (deterministic signing)", arguments: Ed25519Vector.all)
    func signatureMatches(_ vector: Ed25519Vector) throws {
        let key = try SigningKey(seed: bytes(vector.seed))
        #expect(Hex.encode(key.signature(for: vector.message)) == vector.signature)
    }

    @Test("the RFC's signature verifies under the RFC's public key", arguments: Ed25519Vector.all)
    func verifies(_ vector: Ed25519Vector) throws {
        let publicKey = try PublicKey(bytes: bytes(vector.publicKey))
        #expect(publicKey.isValidSignature(bytes(vector.signature), for: vector.message))
    }

    @Test("a flipped bit in message, signature or key fails", arguments: Ed25519Vector.all)
    func flippedBitsFail(_ vector: Ed25519Vector) throws {
        let publicKey = try PublicKey(bytes: bytes(vector.publicKey))
        let signature = bytes(vector.signature)

        var message = vector.message
        if message.isEmpty {
            message = [0]  // the empty message has no bit to flip: any extra byte changes it
        } else {
            message[message.count / 2] ^= 0x10
        }
        #expect(!publicKey.isValidSignature(signature, for: message))

        for position in [0, 31, 32, 63] {
            var tampered = signature
            tampered[position] ^= 0x01
            #expect(!publicKey.isValidSignature(tampered, for: vector.message), "signature byte \(position)")
        }

        var keyBytes = bytes(vector.publicKey)
        keyBytes[5] ^= 0x04
        // A tampered key may fail to decode as a point at all; either way it must not verify.
        if let tamperedKey = try? PublicKey(bytes: keyBytes) {
            #expect(!tamperedKey.isValidSignature(signature, for: vector.message))
        }
    }

    @Test("signature of the wrong length is rejected, not truncated or padded")
    func signatureLengths() throws {
        let vector = Ed25519Vector.all[1]
        let publicKey = try PublicKey(bytes: bytes(vector.publicKey))
        let signature = bytes(vector.signature)
        #expect(!publicKey.isValidSignature(Array(signature.dropLast()), for: vector.message))
        #expect(!publicKey.isValidSignature(signature + [0], for: vector.message))
        #expect(!publicKey.isValidSignature([UInt8](), for: vector.message))
    }

    @Test("wrong public key and seed lengths throw the typed error", arguments: [0, 1, 31, 33, 64])
    func wrongLengths(_ count: Int) {
        let raw = [UInt8](repeating: 7, count: count)
        #expect(throws: KeyError.wrongPublicKeyLength(count)) { try PublicKey(bytes: raw) }
        #expect(throws: KeyError.wrongSeedLength(count)) { try SigningKey(seed: raw) }
    }

    @Test("a fresh key signs and verifies; its seed restores it")
    func freshKey() throws {
        let key = SigningKey()
        let message = Array("gonka".utf8)
        let signature = key.signature(for: message)
        #expect(signature.count == 64)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        let restored = try SigningKey(seed: key.seed)
        #expect(restored.publicKey == key.publicKey)
        #expect(SigningKey().publicKey != key.publicKey)
    }

    @Test("public keys compare and hash by bytes")
    func publicKeyEquality() throws {
        let a = try PublicKey(bytes: bytes(Ed25519Vector.all[0].publicKey))
        let b = try PublicKey(bytes: bytes(Ed25519Vector.all[0].publicKey))
        let c = try PublicKey(bytes: bytes(Ed25519Vector.all[1].publicKey))
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
        #expect(a.description == Ed25519Vector.all[0].publicKey)
    }

    @Test("a signing key never prints its secret")
    func descriptionHidesSeed() throws {
        let vector = Ed25519Vector.all[0]
        let key = try SigningKey(seed: bytes(vector.seed))
        #expect(!key.description.contains(vector.seed))
        #expect(key.description.contains(key.publicKey.address.description))
    }
}
