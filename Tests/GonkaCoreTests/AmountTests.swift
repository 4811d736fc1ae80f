import Foundation
import GonkaCore
import Testing

@Suite("Amount")
struct AmountTests {
    @Test(
        "parses amounts with a unit",
        arguments: [
            ("1.5gnk", 1_500_000_000),
            ("1500000000ngonka", 1_500_000_000),
            ("0.000000001gnk", 1),
            ("1gnk", 1_000_000_000),
            ("  2GNK ", 2_000_000_000),
            ("0gnk", 0),
            ("0ngonka", 0),
            ("1.000000000gnk", 1_000_000_000),
            ("007ngonka", 7),
            ("1500000000NGonka", 1_500_000_000),
            ("18446744073709551615ngonka", UInt64.max),
            ("18446744073.709551615gnk", UInt64.max),
            ("1000000000gnk", 1_000_000_000_000_000_000),
        ] as [(String, UInt64)])
    func parses(_ text: String, _ ngonka: UInt64) throws {
        #expect(try Amount(parsing: text) == Amount(ngonka: ngonka))
    }

    @Test(
        "refuses malformed amounts with the right error",
        arguments: [
            ("", AmountError.malformed("")),
            ("1", .missingUnit("1")),
            ("1.5", .missingUnit("1.5")),
            ("1.0000000001gnk", .tooPrecise("1.0000000001gnk")),
            ("abc", .malformed("abc")),
            ("1..5gnk", .malformed("1..5gnk")),
            ("-1gnk", .malformed("-1gnk")),
            ("1.5ngonka", .malformed("1.5ngonka")),
            ("18446744073709551616ngonka", .overflow),
            ("18446744074gnk", .overflow),
            ("18446744073.709551616gnk", .overflow),
            ("1.gnk", .malformed("1.gnk")),
            (".5gnk", .malformed(".5gnk")),
            ("5usd", .unknownUnit("usd")),
            ("gnk", .malformed("gnk")),
        ] as [(String, AmountError)])
    func refuses(_ text: String, _ error: AmountError) {
        #expect(throws: error) { try Amount(parsing: text) }
    }

    @Test(
        "gnkString and description",
        arguments: [
            (1_500_000_000, "1.5gnk"),
            (1, "0.000000001gnk"),
            (3_000_000_000, "3gnk"),
            (0, "0gnk"),
            (1_000_000_001, "1.000000001gnk"),
            (120_000_000, "0.12gnk"),
            (UInt64.max, "18446744073.709551615gnk"),
        ] as [(UInt64, String)])
    func printing(_ ngonka: UInt64, _ gnk: String) throws {
        let amount = Amount(ngonka: ngonka)
        #expect(amount.gnkString == gnk)
        #expect(amount.description == "\(ngonka)ngonka")
        #expect(try Amount(parsing: gnk) == amount)
        #expect(try Amount(parsing: amount.description) == amount)
    }

    @Test("whole GNK")
    func wholeGNK() {
        #expect(Amount(gnk: 2) == Amount(ngonka: 2_000_000_000))
        #expect(Amount(gnk: 18_446_744_073) != nil)
        #expect(Amount(gnk: 18_446_744_074) == nil)
    }

    @Test("checked arithmetic")
    func arithmetic() throws {
        let a = Amount(ngonka: 10)
        let b = Amount(ngonka: 3)
        #expect(try a.adding(b) == Amount(ngonka: 13))
        #expect(try a.subtracting(b) == Amount(ngonka: 7))
        #expect(try a.subtracting(a) == .zero)
        #expect(try a.multiplied(by: 4) == Amount(ngonka: 40))
        #expect(try a.scaled(by: 2, over: 3) == Amount(ngonka: 6))  // ⌊20 / 3⌋
        #expect(b < a)

        #expect(throws: AmountError.overflow) { try Amount(ngonka: .max).adding(Amount(ngonka: 1)) }
        #expect(throws: AmountError.insufficient(need: a, have: b)) { try b.subtracting(a) }
        #expect(throws: AmountError.overflow) { try Amount(ngonka: 1 << 32).multiplied(by: 1 << 32) }
        #expect(try Amount(ngonka: 1 << 32).multiplied(by: (1 << 32) - 1) == Amount(ngonka: UInt64.max - (1 << 32) + 1))
        #expect(throws: AmountError.divisionByZero) { try a.scaled(by: 1, over: 0) }
        #expect(throws: AmountError.overflow) { try Amount(ngonka: .max).scaled(by: 2, over: 1) }
        // The intermediate product may exceed 64 bits as long as the result fits.
        #expect(try Amount(ngonka: .max).scaled(by: 1 << 40, over: 1 << 41) == Amount(ngonka: UInt64.max / 2))
    }

    @Test("Codable: a decimal string of ngonka out; a number, a string or a unit string in")
    func codable() throws {
        let json = try JSONEncoder().encode([Amount(ngonka: 1_500_000_000)])
        #expect(String(decoding: json, as: UTF8.self) == "[\"1500000000\"]")
        let decoded = try JSONDecoder().decode([Amount].self, from: Data("[\"1500000000\", 7, \"1.5gnk\"]".utf8))
        #expect(decoded == [Amount(ngonka: 1_500_000_000), Amount(ngonka: 7), Amount(ngonka: 1_500_000_000)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Amount].self, from: Data("[\"1.5\"]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Amount].self, from: Data("[-1]".utf8)) }
    }
}
