import Foundation
import GonkaCore
import Testing

@Suite("Ppm")
struct PpmTests {
    @Test(
        "parses percentages, fractions and ppm",
        arguments: [
            ("25%", 250_000),
            ("12.5%", 125_000),
            ("0.05", 50_000),
            ("250000ppm", 250_000),
            ("100%", 1_000_000),
            ("1", 1_000_000),
            ("0", 0),
            ("0%", 0),
            ("0.0001%", 1),
            ("0.000001", 1),
            ("1ppm", 1),
            ("33.4%", 334_000),
            ("66.7%", 667_000),
            ("150%", 1_500_000),
            ("1.5", 1_500_000),
            (" 20% ", 200_000),
            ("250000PPM", 250_000),
            ("4294967295ppm", UInt32.max),
            ("429496.7295%", UInt32.max),
            ("4294.967295", UInt32.max),
            ("0000000000000000025%", 250_000),
        ] as [(String, UInt32)])
    func parses(_ text: String, _ ppm: UInt32) throws {
        #expect(try Ppm(parsing: text) == Ppm(partsPerMillion: ppm))
    }

    @Test(
        "refuses bad text with a typed error",
        arguments: [
            ("", PpmError.malformed("")),
            ("%", .malformed("%")),
            ("ppm", .malformed("ppm")),
            ("abc", .malformed("abc")),
            ("-5%", .malformed("-5%")),
            ("+5%", .malformed("+5%")),
            ("1..5%", .malformed("1..5%")),
            (".5", .malformed(".5")),
            ("5.", .malformed("5.")),
            ("5 %", .malformed("5 %")),
            ("5%%", .malformed("5%%")),
            ("1e-3", .malformed("1e-3")),
            ("12.34567%", .tooPrecise("12.34567%")),
            ("0.0000001", .tooPrecise("0.0000001")),
            ("1.5ppm", .tooPrecise("1.5ppm")),
            ("4294967296ppm", .outOfRange("4294967296ppm")),
            ("429496.7296%", .outOfRange("429496.7296%")),
            ("4295", .outOfRange("4295")),
            ("99999999999999999999%", .outOfRange("99999999999999999999%")),
        ] as [(String, PpmError)])
    func refuses(_ text: String, _ error: PpmError) {
        #expect(throws: error) { try Ppm(parsing: text) }
    }

    @Test(
        "prints as a percentage that parses back",
        arguments: [
            (250_000, "25%"),
            (125_000, "12.5%"),
            (1, "0.0001%"),
            (0, "0%"),
            (1_000_000, "100%"),
            (1_500_000, "150%"),
            (334_000, "33.4%"),
            (123_456, "12.3456%"),
            (UInt32.max, "429496.7295%"),
        ] as [(UInt32, String)])
    func prints(_ ppm: UInt32, _ text: String) throws {
        let value = Ppm(partsPerMillion: ppm)
        #expect(value.description == text)
        #expect(try Ppm(parsing: text) == value)
    }

    @Test(
        "apply rounds down",
        arguments: [
            (200_000, 1_000, 200),  // 20% of 1000
            (333_333, 10, 3),  // ⌊3.33333⌋
            (999_999, 1, 0),
            (1_000_000, UInt64.max, UInt64.max),
            (0, UInt64.max, 0),
            (500_000, UInt64.max, UInt64.max / 2),
            (1_500_000, 3, 4),  // 150% of 3 = 4.5
        ] as [(UInt32, UInt64, UInt64)])
    func apply(_ ppm: UInt32, _ value: UInt64, _ expected: UInt64) throws {
        let fraction = Ppm(partsPerMillion: ppm)
        #expect(try fraction.apply(to: value) == expected)
        #expect(try fraction.apply(to: Amount(ngonka: value)) == Amount(ngonka: expected))
    }

    @Test("apply above 100% reports overflow")
    func applyOverflow() {
        let rate = Ppm(partsPerMillion: 2_000_000)
        #expect(throws: PpmError.overflow) { try rate.apply(to: UInt64.max) }
        #expect(throws: AmountError.overflow) { try rate.apply(to: Amount(ngonka: .max)) }
    }

    @Test("constants, percent init, isFraction, ordering")
    func basics() {
        #expect(Ppm.one.partsPerMillion == 1_000_000)
        #expect(Ppm.zero.partsPerMillion == 0)
        #expect(Ppm(percent: 25) == Ppm(partsPerMillion: 250_000))
        #expect(Ppm(percent: 429_496) != nil)
        #expect(Ppm(percent: 429_497) == nil)
        #expect(Ppm.one.isFraction)
        #expect(Ppm.zero.isFraction)
        #expect(!Ppm(partsPerMillion: 1_000_001).isFraction)
        #expect(Ppm(partsPerMillion: 1) < Ppm(partsPerMillion: 2))
        #expect([Ppm.one, .zero].max() == .one)
    }

    @Test("errors have metric-safe short descriptions")
    func errorLabels() {
        #expect(PpmError.malformed("x").shortDescription == "malformed")
        #expect(PpmError.tooPrecise("x").shortDescription == "too_precise")
        #expect(PpmError.outOfRange("x").shortDescription == "out_of_range")
        #expect(PpmError.overflow.shortDescription == "overflow")
        #expect(PpmError.malformed("x") != PpmError.malformed("y"))
    }

    @Test("Codable as the percentage string; any parseable form decodes")
    func codable() throws {
        let json = try JSONEncoder().encode([Ppm(partsPerMillion: 125_000)])
        #expect(String(decoding: json, as: UTF8.self) == "[\"12.5%\"]")
        let decoded = try JSONDecoder().decode([Ppm].self, from: Data("[\"12.5%\", \"0.05\", \"7ppm\"]".utf8))
        #expect(decoded.map(\.partsPerMillion) == [125_000, 50_000, 7])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Ppm].self, from: Data("[\"x\"]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Ppm].self, from: Data("[0.05]".utf8)) }
    }
}
