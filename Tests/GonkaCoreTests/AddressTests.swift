import Foundation
import GonkaCore
import Testing

@Suite("Address")
struct AddressTests {
    @Test("a key's address: gonka1 prefix, 20-byte SHA-256 prefix payload, round trip")
    func roundTrip() throws {
        let key = SigningKey().publicKey
        let address = key.address
        let text = address.description
        #expect(text.hasPrefix("gonka1"))
        #expect(text.count == 5 + 1 + 32 + 6)
        #expect(address.bytes == Array(Hash.sha256(key.bytes).bytes.prefix(20)))
        #expect(try Address(text) == address)
        #expect(try Address(text.uppercased()) == address)  // BIP-173 allows all upper case
    }

    @Test("the RFC 8032 TEST 1 key has a fixed address")
    func knownAddress() throws {
        let key = try PublicKey(bytes: bytes(Ed25519Vector.all[0].publicKey))
        let payload = Array(Hash.sha256(key.bytes).bytes.prefix(20))
        let expected = Bech32.encode(
            hrp: "gonka", data: try #require(Bech32.convertBits(payload, from: 8, to: 5, pad: true)))
        #expect(key.address.description == expected)
        #expect(Address(bytes: payload) == key.address)
    }

    @Test("wrong human-readable part")
    func wrongPrefix() throws {
        let payload = [UInt8](repeating: 0xAB, count: 20)
        let cosmos = Bech32.encode(
            hrp: "cosmos", data: try #require(Bech32.convertBits(payload, from: 8, to: 5, pad: true)))
        #expect(throws: AddressError.wrongPrefix("cosmos")) { try Address(cosmos) }
    }

    @Test("wrong payload length", arguments: [0, 19, 21, 32])
    func wrongLength(_ count: Int) throws {
        let payload = [UInt8](repeating: 0x5A, count: count)
        let text = Bech32.encode(
            hrp: "gonka", data: try #require(Bech32.convertBits(payload, from: 8, to: 5, pad: true)))
        #expect(throws: AddressError.wrongLength(count)) { try Address(text) }
        #expect(Address(bytes: payload) == nil)
    }

    @Test("non-zero padding bits are rejected")
    func badPadding() {
        // 31 groups = 155 bits = 19 bytes + 3 padding bits; the last group 0b00001 sets one of them.
        let groups = [UInt8](repeating: 0, count: 30) + [1]
        #expect(throws: AddressError.badPadding) { try Address(Bech32.encode(hrp: "gonka", data: groups)) }
        // 33 groups = 165 bits: 5 leftover bits are a whole group, not padding.
        let tooMany = [UInt8](repeating: 0, count: 33)
        #expect(throws: AddressError.badPadding) { try Address(Bech32.encode(hrp: "gonka", data: tooMany)) }
    }

    @Test("bech32 errors are wrapped")
    func bech32Errors() {
        #expect(throws: AddressError.bech32(.missingSeparator)) { try Address("gonka") }
        #expect(throws: AddressError.bech32(.badChecksum)) { try Address("gonka1qqqqqqqq") }
    }

    @Test("module addresses are fixed and distinct")
    func moduleAddresses() {
        #expect(Address.module("escrow").bytes == Array(Hash.sha256("module/escrow").bytes.prefix(20)))
        #expect(Address.module("escrow") != Address.module("fee_collector"))
    }

    @Test("Codable as the bech32 string")
    func codable() throws {
        let address = SigningKey().publicKey.address
        let json = try JSONEncoder().encode([address])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(address)\"]")
        #expect(try JSONDecoder().decode([Address].self, from: json) == [address])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Address].self, from: Data("[\"gonka1xyz\"]".utf8))
        }
    }

    @Test("ordering is by bytes")
    func ordering() throws {
        let low = try #require(Address(bytes: [UInt8](repeating: 1, count: 20)))
        let high = try #require(Address(bytes: [UInt8](repeating: 2, count: 20)))
        #expect(low < high)
    }
}

/// The allocation-free canonical paths of ``Address`` against the general bech32 code.
@Suite("Address fast paths")
struct AddressFastPathTests {
    @Test("description and parsing agree with the general bech32 encoder and decoder")
    func agreeWithBech32() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let payload = (0..<20).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let address = try #require(Address(bytes: payload))
            let general = Bech32.encode(
                hrp: "gonka", data: try #require(Bech32.convertBits(payload, from: 8, to: 5, pad: true)))
            #expect(address.description == general)
            #expect(try Address(general).bytes == payload)
            // Upper case is valid bech32 too: it takes the general path to the same address.
            #expect(try Address(general.uppercased()).bytes == payload)
            // A changed data character breaks the checksum either way.
            var broken = Array(general.utf8)
            broken[10] = broken[10] == UInt8(ascii: "q") ? UInt8(ascii: "p") : UInt8(ascii: "q")
            #expect(throws: AddressError.bech32(.badChecksum)) { try Address(String(decoding: broken, as: UTF8.self)) }
        }
    }
}
