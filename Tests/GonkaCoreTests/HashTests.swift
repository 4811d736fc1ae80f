import Foundation
import GonkaCore
import Testing

@Suite("Hash")
struct HashTests {
    @Test(
        "SHA-256 known digests (FIPS 180-2 examples)",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ])
    func knownDigests(_ input: String, _ digest: String) {
        #expect(Hash.sha256(input).hex == digest)
        #expect(Hash.sha256(Array(input.utf8)).hex == digest)
    }

    @Test("sha256(parts:) hashes the concatenation")
    func parts() {
        #expect(Hash.sha256(parts: [Array("a".utf8), [], Array("bc".utf8)]) == Hash.sha256("abc"))
        #expect(Hash.sha256(parts: []) == Hash.sha256(""))
    }

    @Test("hex round trip, upper case accepted, bad lengths refused")
    func hex() {
        let hash = Hash.sha256("abc")
        #expect(Hash(hex: hash.hex) == hash)
        #expect(Hash(hex: hash.hex.uppercased()) == hash)
        #expect(hash.description == hash.hex)
        #expect(Hash(hex: String(hash.hex.dropLast(2))) == nil)
        #expect(Hash(hex: hash.hex + "00") == nil)
        #expect(Hash(hex: "zz" + String(hash.hex.dropFirst(2))) == nil)
        #expect(Hash(bytes: [UInt8](repeating: 0, count: 31)) == nil)
        #expect(Hash(bytes: [UInt8](repeating: 0, count: 32)) == .zero)
    }

    @Test("leadingUInt64 is the first 8 bytes, big-endian")
    func leadingUInt64() {
        #expect(Hash.sha256("abc").leadingUInt64 == 0xba78_16bf_8f01_cfea)
        #expect(Hash.zero.leadingUInt64 == 0)
    }

    @Test("ordering is lexicographic by bytes")
    func ordering() throws {
        let low = try #require(Hash(hex: "00" + String(repeating: "ff", count: 31)))
        let high = try #require(Hash(hex: "01" + String(repeating: "00", count: 31)))
        #expect(low < high)
        #expect(Hash.zero < low)
    }

    @Test("Codable as 64 hex digits")
    func codable() throws {
        let hash = Hash.sha256("abc")
        let json = try JSONEncoder().encode([hash])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(hash.hex)\"]")
        #expect(try JSONDecoder().decode([Hash].self, from: json) == [hash])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Hash].self, from: Data("[\"abcd\"]".utf8)) }
    }
}

@Suite("Hex")
struct HexTests {
    @Test("encode is lower case, decode accepts both cases")
    func roundTrip() {
        let all = (0...255).map(UInt8.init)
        let text = Hex.encode(all)
        #expect(text.count == 512)
        #expect(text == text.lowercased())
        #expect(text.hasPrefix("000102") && text.hasSuffix("fdfeff"))
        #expect(Hex.decode(text) == all)
        #expect(Hex.decode(text.uppercased()) == all)
        #expect(Hex.encode([]) == "")
        #expect(Hex.decode("") == [])
    }

    @Test("bad hex is refused", arguments: ["0", "abc", "0g", "g0", " 00", "00 ", "0x00", "é0", "+1"])
    func badHex(_ text: String) {
        #expect(Hex.decode(text) == nil)
    }
}
