import GonkaCore
import Testing

@Suite("Bech32 (BIP-173)")
struct Bech32Tests {
    /// BIP-173 "Test vectors": valid Bech32 strings.
    static let valid = [
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    ]

    @Test("valid strings decode, and re-encode to their lower-case form", arguments: valid)
    func validVector(_ text: String) throws {
        let decoded = try Bech32.decode(text)
        #expect(Bech32.encode(hrp: decoded.hrp, data: decoded.data) == text.lowercased())
    }

    @Test("decoded parts of known vectors")
    func decodedParts() throws {
        let abcdef = try Bech32.decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")
        #expect(abcdef.hrp == "abcdef")
        #expect(abcdef.data == Array(0..<32))
        let empty = try Bech32.decode("A12UEL5L")
        #expect(empty.hrp == "a")
        #expect(empty.data.isEmpty)
        let ones = try Bech32.decode(Self.valid[4])
        #expect(ones.hrp == "1")
        #expect(ones.data == [UInt8](repeating: 0, count: 82))
    }

    /// BIP-173 "Test vectors": invalid Bech32 strings, with the reason BIP-173 gives.
    static let invalid: [(text: String, reason: String, error: Bech32.DecodeError)] = [
        ("\u{20}1nwldj5", "HRP character out of range", .invalidCharacter(position: 0)),
        ("\u{7F}1axkwrx", "HRP character out of range", .invalidCharacter(position: 0)),
        ("\u{80}1eym55h", "HRP character out of range", .invalidCharacter(position: 0)),
        (
            "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
            "overall max length exceeded", .tooLong(91)
        ),
        ("pzry9x0s0muk", "No separator character", .missingSeparator),
        ("1pzry9x0s0muk", "Empty HRP", .emptyHumanReadablePart),
        ("x1b4n0q5v", "Invalid data character", .invalidCharacter(position: 2)),
        ("li1dgmt3", "Too short checksum", .tooShortChecksum),
        ("de1lg7wt\u{FF}", "Invalid character in checksum", .invalidCharacter(position: 8)),
        ("A1G7SGD8", "checksum calculated with uppercase form of HRP", .badChecksum),
        ("10a06t8", "empty HRP", .emptyHumanReadablePart),
        ("1qzzfhee", "empty HRP", .emptyHumanReadablePart),
        // Not in the BIP's list but required by its text: no mixed case.
        ("a12UEL5L", "mixed case", .mixedCase),
        ("A12uEL5L", "mixed case", .mixedCase),
    ]

    @Test("invalid strings throw the matching error", arguments: invalid)
    func invalidVector(_ vector: (text: String, reason: String, error: Bech32.DecodeError)) {
        #expect(throws: vector.error, "\(vector.reason)") { try Bech32.decode(vector.text) }
    }

    @Test("a single changed character breaks the checksum")
    func checksumDetectsChange() {
        var text = Array("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")
        text[10] = text[10] == "q" ? "p" : "q"
        #expect(throws: Bech32.DecodeError.badChecksum) { try Bech32.decode(String(text)) }
    }

    @Test("convertBits round trips bytes of every length, including long inputs", arguments: [0, 1, 2, 5, 20, 32, 100])
    func convertBitsRoundTrip(_ count: Int) throws {
        let data = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let fives = try #require(Bech32.convertBits(data, from: 8, to: 5, pad: true))
        #expect(fives.count == (count * 8 + 4) / 5)
        #expect(fives.allSatisfy { $0 < 32 })
        #expect(Bech32.convertBits(fives, from: 5, to: 8, pad: false) == data)
    }

    @Test("convertBits rejects out-of-range input and bad padding")
    func convertBitsRejects() {
        #expect(Bech32.convertBits([32], from: 5, to: 8, pad: false) == nil)
        // 2 groups = 10 bits: 1 byte + 2 leftover bits that must be zero.
        #expect(Bech32.convertBits([0, 1], from: 5, to: 8, pad: false) == nil)
        #expect(Bech32.convertBits([0, 0], from: 5, to: 8, pad: false) == [0])
        // 1 group = 5 leftover bits ≥ 5: a whole extra group is not padding.
        #expect(Bech32.convertBits([0], from: 5, to: 8, pad: false) == nil)
    }
}
