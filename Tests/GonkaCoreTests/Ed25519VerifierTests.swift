import Crypto
import Testing

@testable import GonkaCore

/// ``Ed25519Verifier`` must give BoringSSL's answer for every input: the table path is an
/// optimisation, and a node taking it must never disagree with one that does not.
@Suite("Ed25519 verifier with per-key tables")
struct Ed25519VerifierTests {
    /// A verifier that has seen `key` once, so its next check takes the table path.
    private func warmed(_ key: PublicKey, capacity: Int = 16) -> Ed25519Verifier {
        let verifier = Ed25519Verifier(tableCapacity: capacity)
        _ = verifier.isValidSignature([UInt8](repeating: 0, count: 64), for: [], by: key)
        return verifier
    }

    @Test("RFC 8032 vectors verify on the table path", arguments: Ed25519Vector.all)
    func rfcVectors(_ vector: Ed25519Vector) throws {
        let key = try PublicKey(bytes: bytes(vector.publicKey))
        let verifier = warmed(key)
        #expect(verifier.isValidSignature(bytes(vector.signature), for: vector.message, by: key))
        #expect(verifier.tableCount == 1)
        var corrupted = bytes(vector.signature)
        corrupted[5] ^= 0x10
        #expect(!verifier.isValidSignature(corrupted, for: vector.message, by: key))
    }

    @Test("the base point encodes as RFC 8032's B, and L·B is the identity")
    func basePoint() {
        #expect(Hex.encode(EdwardsPoint.base.encoded) == "58" + String(repeating: "66", count: 31))
        // L in signed radix-16 digits times B, through the same tables a verification uses.
        let order = Ed25519Verifier.order.flatMap { word in
            (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) }
        }
        let zero = [Int8](repeating: 0, count: 64)
        let table = PointTable(.base)
        let lb = PointTable.combination(PointTable.digits(order), table, zero, table)
        #expect(lb.encoded == EdwardsPoint.identity.encoded)
        // And 2·B by doubling equals B + B by addition, equals the table's digit 2.
        var two = [UInt8](repeating: 0, count: 32)
        two[0] = 2
        let viaTable = PointTable.combination(PointTable.digits(two), table, zero, table)
        #expect(EdwardsPoint.base.doubled().encoded == viaTable.encoded)
        #expect(EdwardsPoint.base.adding(.base).encoded == viaTable.encoded)
    }

    @Test("decoding then encoding a public key gives its bytes back")
    func decodeRoundTrip() throws {
        for _ in 0..<50 {
            let key = SigningKey().publicKey
            let point = try #require(EdwardsPoint(decoding: key.bytes))
            #expect(point.encoded == key.bytes)
            #expect(point.negated.negated.encoded == key.bytes)
        }
    }

    @Test("reduction mod L matches schoolbook long division")
    func reduction() {
        // Compare with a slow reference: repeated doubling and conditional subtraction, bit by bit.
        func slowReduce(_ wide: [UInt8]) -> [UInt8] {
            let order = Ed25519Verifier.order
            var r = [UInt64](repeating: 0, count: 5)
            for byteIndex in (0..<64).reversed() {
                for bit in (0..<8).reversed() {
                    // r = 2r + bit
                    var carry = UInt64((wide[byteIndex] >> UInt8(bit)) & 1)
                    for i in 0..<5 {
                        let next = r[i] >> 63
                        r[i] = r[i] << 1 | carry
                        carry = next
                    }
                    // if r ≥ L: r −= L
                    let l5 = order + [0]
                    var less = false
                    for i in (0..<5).reversed() where r[i] != l5[i] {
                        less = r[i] < l5[i]
                        break
                    }
                    let equal = r == l5
                    if !less || equal {
                        var borrow: UInt64 = 0
                        for i in 0..<5 {
                            let (d1, o1) = r[i].subtractingReportingOverflow(l5[i])
                            let (d2, o2) = d1.subtractingReportingOverflow(borrow)
                            r[i] = d2
                            borrow = (o1 || o2) ? 1 : 0
                        }
                    }
                }
            }
            return r.prefix(4).flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) } }
        }
        var generator = SystemRandomNumberGenerator()
        var cases: [[UInt8]] = [
            [UInt8](repeating: 0xFF, count: 64), [UInt8](repeating: 0, count: 64),
        ]
        for _ in 0..<200 { cases.append((0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        for wide in cases {
            #expect(Ed25519Verifier.reduceModOrder(wide) == slowReduce(wide))
        }
    }

    @Test("agrees with BoringSSL on valid, corrupted, re-targeted and wrong-key signatures")
    func differential() throws {
        var generator = SystemRandomNumberGenerator()
        let keys = (0..<6).map { _ in SigningKey() }
        let verifier = Ed25519Verifier(tableCapacity: 4)  // smaller than the key count: tables get evicted
        var checked = 0
        for round in 0..<120 {
            let signer = keys[round % keys.count]
            let other = keys[(round + 1) % keys.count].publicKey
            let message = (0..<Int.random(in: 0...200, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            let signature = signer.signature(for: message)
            var flipped = signature
            flipped[Int.random(in: 0..<64, using: &generator)] ^= 1 << UInt8.random(in: 0...7, using: &generator)
            var changedMessage = message + [0]
            changedMessage[0] ^= 0x01
            let cases: [([UInt8], [UInt8], PublicKey)] = [
                (signature, message, signer.publicKey), (flipped, message, signer.publicKey),
                (signature, changedMessage, signer.publicKey), (signature, message, other),
            ]
            for (sig, msg, key) in cases {
                #expect(
                    verifier.isValidSignature(sig, for: msg, by: key) == key.isValidSignature(sig, for: msg),
                    "round \(round)")
                checked += 1
            }
            #expect(verifier.isValidSignature(signature, for: message, by: signer.publicKey))
        }
        #expect(checked == 480)
        #expect(verifier.tableCount <= 4 && verifier.tableCount > 0)
    }

    @Test("S ≥ L and set top bits are refused, as BoringSSL does")
    func malleability() throws {
        let signer = SigningKey()
        let message = Array("malleable".utf8)
        let verifier = warmed(signer.publicKey)
        let signature = signer.signature(for: message)
        // S + L: the same point equation, but S is not reduced.
        let order = Ed25519Verifier.order
        var words = (0..<4).map { i in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(signature[32 + i * 8 + $1]) << (8 * UInt64($1)) }
        }
        var carry: UInt64 = 0
        for i in 0..<4 {
            let (s1, o1) = words[i].addingReportingOverflow(order[i])
            let (s2, o2) = s1.addingReportingOverflow(carry)
            words[i] = s2
            carry = (o1 || o2) ? 1 : 0
        }
        func littleEndian(_ words: [UInt64]) -> [UInt8] {
            words.flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * UInt64($0))) } }
        }
        let plusL = Array(signature[0..<32]) + littleEndian(words)
        var topBits = signature
        topBits[63] |= 0x80
        var cases = [plusL, topBits]
        // S = L exactly.
        cases.append(Array(signature[0..<32]) + littleEndian(order))
        for sig in cases {
            #expect(!signer.publicKey.isValidSignature(sig, for: message))
            #expect(!verifier.isValidSignature(sig, for: message, by: signer.publicKey))
        }
        #expect(verifier.isValidSignature(signature, for: message, by: signer.publicKey))
    }

    @Test("small-order keys: both paths accept and refuse the same forged signatures")
    func smallOrderKeys() throws {
        // The identity (y = 1) and the point of order 2 (y = −1): RFC 8032 decodes both, and
        // cofactorless verification accepts R = [S]B for them whenever [k]A is the identity.
        var minusOne = [UInt8](repeating: 0xFF, count: 32)
        minusOne[0] = 0xEC
        minusOne[31] = 0x7F
        var identity = [UInt8](repeating: 0, count: 32)
        identity[0] = 1
        var generator = SystemRandomNumberGenerator()
        let zero = [Int8](repeating: 0, count: 64)
        let base = PointTable(.base)
        var accepted = 0
        for keyBytes in [identity, minusOne] {
            let key = try PublicKey(bytes: keyBytes)
            let verifier = warmed(key)
            for i in 0..<20 {
                let wide = (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let s = Ed25519Verifier.reduceModOrder(wide)
                let r = PointTable.combination(PointTable.digits(s), base, zero, base).encoded
                let sig = r + s
                let message = Array("small order \(i)".utf8)
                let expected = key.isValidSignature(sig, for: message)
                #expect(verifier.isValidSignature(sig, for: message, by: key) == expected)
                if expected { accepted += 1 }
            }
        }
        // The identity key accepts every one of them (and y = −1 about half): the cases are not vacuous.
        #expect(accepted >= 20)
    }
}
