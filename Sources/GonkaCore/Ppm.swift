/// A fixed-point fraction in parts per million: `1_000_000` = 100% (PROTOCOL §2: "Fractions are
/// fixed-point (parts per million, `Ppm`)"). Shares, slashing fractions, thresholds and the like
/// (§12). Any `UInt32` is allowed, so rates above 100% can be stated; ``isFraction`` says whether a
/// value is at most 100%.
///
/// Text forms (``init(parsing:)``): `"25%"`, `"12.5%"` (up to 4 decimals), `"0.05"` (a decimal
/// fraction, up to 6 decimals), `"250000ppm"`. Printed as a percentage with no trailing zeros
/// (`"25%"`, `"12.5%"`, `"0.0001%"`), which parses back to the same value. JSON carries that string.
public struct Ppm: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The value in millionths.
    public let partsPerMillion: UInt32

    /// Parts per million in a whole (100%).
    public static let scale: UInt32 = 1_000_000
    public static let zero = Ppm(partsPerMillion: 0)
    /// 100%.
    public static let one = Ppm(partsPerMillion: scale)

    public init(partsPerMillion: UInt32) {
        self.partsPerMillion = partsPerMillion
    }

    /// Whole percent (`Ppm(percent: 25)` = 25%); `nil` if it does not fit in `UInt32` ppm.
    public init?(percent: UInt32) {
        let (value, overflow) = percent.multipliedReportingOverflow(by: 10_000)
        guard !overflow else { return nil }
        partsPerMillion = value
    }

    /// Whether the value is at most 100%.
    public var isFraction: Bool { partsPerMillion <= Self.scale }

    public static func < (lhs: Ppm, rhs: Ppm) -> Bool { lhs.partsPerMillion < rhs.partsPerMillion }

    /// ⌊amount × self⌋: `amount × ppm / 10⁶` in `UInt128`, rounded down; `.overflow` only when a
    /// value above 100% takes the result out of `UInt64`.
    public func apply(to amount: Amount) throws(AmountError) -> Amount {
        try amount.scaled(by: UInt64(partsPerMillion), over: UInt64(Self.scale))
    }

    /// ⌊value × self⌋, as ``apply(to:)-(Amount)`` for plain integers (weights, counts).
    public func apply(to value: UInt64) throws(PpmError) -> UInt64 {
        let wide = UInt128(value) * UInt128(partsPerMillion) / UInt128(Self.scale)
        guard wide <= UInt128(UInt64.max) else { throw .overflow }
        return UInt64(wide)
    }

    /// The percentage form, e.g. `25%`, `12.5%`, `0.0001%`, `150%`.
    public var description: String {
        let whole = partsPerMillion / 10_000
        let fraction = partsPerMillion % 10_000
        guard fraction != 0 else { return "\(whole)%" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 4 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)%"
    }

    /// Parses `"25%"`, `"12.5%"`, `"0.05"`, `"1"`, `"250000ppm"` (surrounding spaces allowed, unit
    /// case-insensitive). A percentage may have up to 4 decimals, a plain fraction up to 6, ppm none:
    /// anything finer than 1 ppm is refused, never rounded.
    public init(parsing text: String) throws(PpmError) {
        let trimmed = text.trimmingSpaces().lowercased()
        let number: Substring
        let decimals: Int  // how many decimal digits the unit allows
        let unitScale: UInt64  // ppm per unit
        if trimmed.hasSuffix("ppm") {
            (number, decimals, unitScale) = (trimmed.dropLast(3), 0, 1)
        } else if trimmed.hasSuffix("%") {
            (number, decimals, unitScale) = (trimmed.dropLast(1), 4, 10_000)
        } else {
            (number, decimals, unitScale) = (Substring(trimmed), 6, 1_000_000)
        }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }) else {
            throw .malformed(text)
        }
        let fractionDigits = parts.count == 2 ? parts[1] : ""
        guard fractionDigits.count <= decimals else { throw .tooPrecise(text) }
        // Parse the whole part as a saturated value: anything over UInt32.max is out of range anyway.
        let wholeDigits = parts[0].drop { $0 == "0" }
        guard wholeDigits.count <= 10, let whole = UInt64(wholeDigits.isEmpty ? "0" : String(wholeDigits)) else {
            throw .outOfRange(text)
        }
        var fraction: UInt64 = 0
        if !fractionDigits.isEmpty {
            let padded = String(fractionDigits) + String(repeating: "0", count: decimals - fractionDigits.count)
            guard let value = UInt64(padded) else { throw .malformed(text) }
            fraction = value
        }
        let total = whole * unitScale + fraction  // ≤ 9_999_999_999 × 10⁶ + 999_999: fits in UInt64
        guard let value = UInt32(exactly: total) else { throw .outOfRange(text) }
        partsPerMillion = value
    }
}

extension Ppm: Codable {
    /// JSON carries a `Ppm` as its text form (`"25%"`); any form ``init(parsing:)`` accepts decodes.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid fraction \"\(text)\": \(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Why a `Ppm` could not be parsed or applied.
public struct PpmError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case malformed(String)
        case tooPrecise(String)
        case outOfRange(String)
        case overflow
    }

    private let code: Code

    /// Not a number with an optional `%` or `ppm` unit.
    public static func malformed(_ text: String) -> Self { Self(code: .malformed(text)) }
    /// Finer than 1 ppm (more than 4 decimals of a percentage, 6 of a fraction, or a fractional ppm).
    public static func tooPrecise(_ text: String) -> Self { Self(code: .tooPrecise(text)) }
    /// More than `UInt32.max` ppm (4294.967295 = 429496.7295%).
    public static func outOfRange(_ text: String) -> Self { Self(code: .outOfRange(text)) }
    /// Applying a rate above 100% left `UInt64`.
    public static let overflow = Self(code: .overflow)

    /// A label without associated values (safe for metrics).
    public var shortDescription: String {
        switch code {
        case .malformed: "malformed"
        case .tooPrecise: "too_precise"
        case .outOfRange: "out_of_range"
        case .overflow: "overflow"
        }
    }

    public var description: String {
        switch code {
        case .malformed(let s): "\"\(s)\" is not a fraction (try 25%, 12.5%, 0.05 or 250000ppm)"
        case .tooPrecise(let s): "\"\(s)\" is finer than 1 ppm (0.0001%)"
        case .outOfRange(let s): "\"\(s)\" is more than \(UInt32.max) ppm"
        case .overflow: "applying the fraction overflows 64 bits"
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}
