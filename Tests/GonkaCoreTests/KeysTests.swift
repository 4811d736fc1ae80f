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

@Suite("Ed25519 public key encodings (RFC 8032 §5.1.3)")
struct PublicKeyEncodingTests {
    /// 32-byte encodings and whether RFC 8032 §5.1.3 decodes them to a point: y < p, x² = (y² − 1) /
    /// (d·y² + 1) has a root, and not (x = 0 with the sign bit set). Classified independently with the
    /// RFC's own `recover_x` (Python, §6), not with this code.
    static let encodings: [(hex: String, valid: Bool, what: String)] = [
        ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", true, "RFC TEST 1 key"),
        ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", true, "RFC TEST 2 key"),
        ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", true, "RFC TEST 3 key"),
        ("278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e", true, "RFC TEST 1024 key"),
        ("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf", true, "RFC TEST SHA(abc) key"),
        ("5866666666666666666666666666666666666666666666666666666666666666", true, "base point"),
        ("0100000000000000000000000000000000000000000000000000000000000000", true, "identity, y = 1"),
        ("0100000000000000000000000000000000000000000000000000000000000080", false, "y = 1, x = 0 with sign"),
        ("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true, "y = −1"),
        ("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false, "y = −1, x = 0 with sign"),
        ("0000000000000000000000000000000000000000000000000000000000000000", true, "y = 0"),
        ("0000000000000000000000000000000000000000000000000000000000000080", true, "y = 0 with sign"),
        ("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false, "y = p, not canonical"),
        ("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false, "y = p + 1, not canonical"),
        ("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false, "y = 2²⁵⁵ − 1"),
        ("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false, "all ones"),
        ("0200000000000000000000000000000000000000000000000000000000000000", false, "y = 2, no root"),
        ("0300000000000000000000000000000000000000000000000000000000000000", true, "y = 3"),
        ("0400000000000000000000000000000000000000000000000000000000000000", true, "y = 4"),
        ("2a04853c676297f49960af089e606d3f5ebaed8958ee04100851e410f3f575e9", false, "random 0"),
        ("b4693e84556d48b57f9f5a160b9d111fe1922c13fb47ac76808f60cd2c3d84e6", false, "random 1"),
        ("4045c613a42ddf63a9025192753fe88988698039e5571078be15ec8a191f9fe7", true, "random 2"),
        ("5a66746bf147a470437fe3e5e2022afe697829040f9abf3e6b02b4fbb3016e86", true, "random 3"),
        ("4bac693563a9d52672dcb0e1f6e275a19d8b8104ebf76f108d13aa4b074e19b6", true, "random 4"),
        ("3ed3b2b73e9df58b7c7fb7a4dc25ce5f423378120aab991e6ff98935a3ee0bb0", true, "random 5"),
        ("4f3bd4e3d28c5a3f8e3013a8b36d3cb207a6404313dbd32184de28293a4bedfb", true, "random 6"),
        ("2184a5f5556fb0f6df819bf1f2df76d2b13efca0ad49fa6281bb3a9da00e25f9", true, "random 7"),
        ("d362f8a2f95213838d6093ce33627edd601aad0ffe1a316afcd6b0c4ba11dc0b", false, "random 8"),
        ("57ebf08bf7647111f7367afc9bc226cb1392b09ef19ea38f3fce92ed54f8f652", false, "random 9"),
        ("9393343f7dd16f829ac805d63cbc03b61eab90d56dadc00e19ea4c9ac4042e93", false, "random 10"),
        ("1067238d67f1a018488847b2d5cc9801368223447b66f2799f8383cc272f24e9", false, "random 11"),
    ]

    @Test("PublicKey(bytes:) accepts exactly the encodings that decode to a point", arguments: encodings)
    func decoding(_ encoding: (hex: String, valid: Bool, what: String)) {
        if encoding.valid {
            #expect(throws: Never.self, "\(encoding.what)") { try PublicKey(bytes: bytes(encoding.hex)) }
        } else {
            #expect(throws: KeyError.invalidPublicKey, "\(encoding.what)") { try PublicKey(bytes: bytes(encoding.hex)) }
        }
    }

    @Test("every generated key is accepted")
    func generatedKeys() throws {
        for _ in 0..<50 {
            let key = SigningKey().publicKey
            #expect(try PublicKey(bytes: key.bytes) == key)
        }
    }
}
