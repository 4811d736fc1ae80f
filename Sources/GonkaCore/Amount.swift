/// An amount of GNK in its smallest unit, ngonka (1 GNK = 10^9 ngonka; PROTOCOL §2).
/// The whole supply (10^18 ngonka) fits in `UInt64`; every operation is checked, and products go
/// through `UInt128` so an overflow is reported, never wrapped.
public struct Amount: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var ngonka: UInt64

    public static let ngonkaPerGNK: UInt64 = 1_000_000_000
    public static let zero = Amount(ngonka: 0)

    public init(ngonka: UInt64) {
        self.ngonka = ngonka
    }

    /// Whole GNK; `nil` if it does not fit.
    public init?(gnk: UInt64) {
        let (value, overflow) = gnk.multipliedReportingOverflow(by: Self.ngonkaPerGNK)
        guard !overflow else { return nil }
        ngonka = value
    }

    public static func < (lhs: Amount, rhs: Amount) -> Bool { lhs.ngonka < rhs.ngonka }

    /// `self + other`, or `.overflow`.
    public func adding(_ other: Amount) throws(AmountError) -> Amount {
        let (value, overflow) = ngonka.addingReportingOverflow(other.ngonka)
        guard !overflow else { throw .overflow }
        return Amount(ngonka: value)
    }

    /// `self - other`, or `.insufficient` when `other` is larger.
    public func subtracting(_ other: Amount) throws(AmountError) -> Amount {
        guard other.ngonka <= ngonka else { throw .insufficient(need: other, have: self) }
        return Amount(ngonka: ngonka - other.ngonka)
    }

    /// `self × factor` computed in `UInt128`; `.overflow` if the result leaves `UInt64`.
    public func multiplied(by factor: UInt64) throws(AmountError) -> Amount {
        let wide = UInt128(ngonka) * UInt128(factor)
        guard wide <= UInt128(UInt64.max) else { throw .overflow }
        return Amount(ngonka: UInt64(wide))
    }

    /// ⌊self × numerator / denominator⌋ with a `UInt128` intermediate (shares, fractions).
    public func scaled(by numerator: UInt64, over denominator: UInt64) throws(AmountError) -> Amount {
        guard denominator != 0 else { throw .divisionByZero }
        let wide = UInt128(ngonka) * UInt128(numerator) / UInt128(denominator)
        guard wide <= UInt128(UInt64.max) else { throw .overflow }
        return Amount(ngonka: UInt64(wide))
    }

    /// The exact form, e.g. `1500000000ngonka`.
    public var description: String { "\(ngonka)ngonka" }

    /// The human form in GNK with no trailing zeros, e.g. `1.5gnk`, `0.000000001gnk`, `3gnk`.
    public var gnkString: String {
        let whole = ngonka / Self.ngonkaPerGNK
        let fraction = ngonka % Self.ngonkaPerGNK
        guard fraction != 0 else { return "\(whole)gnk" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)gnk"
    }

    /// Parses `"1.5gnk"`, `"2GNK"`, `"1500000000ngonka"`: a decimal number and a unit. GNK may have
    /// up to 9 decimals; ngonka must be whole. A bare number is refused so no one loses a factor of
    /// 10^9 by accident.
    public init(parsing text: String) throws(AmountError) {
        let trimmed = text.trimmingSpaces().lowercased()
        let unitStart = trimmed.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? trimmed.endIndex
        let number = String(trimmed[..<unitStart])
        let unit = String(trimmed[unitStart...])
        guard !number.isEmpty else { throw .malformed(text) }
        switch unit {
        case "ngonka":
            guard let value = UInt64(number) else {
                throw number.contains(".") ? .malformed(text) : .overflow
            }
            ngonka = value
        case "gnk":
            let parts = number.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count <= 2, let wholeText = parts.first, !wholeText.isEmpty else { throw .malformed(text) }
            guard let whole = UInt64(wholeText) else { throw .overflow }
            var fraction: UInt64 = 0
            if parts.count == 2 {
                let digits = parts[1]
                guard !digits.isEmpty else { throw .malformed(text) }
                guard digits.count <= 9 else { throw .tooPrecise(text) }
                guard let value = UInt64(digits + String(repeating: "0", count: 9 - digits.count)) else {
                    throw .malformed(text)
                }
                fraction = value
            }
            guard let wholeAmount = Amount(gnk: whole) else { throw .overflow }
            ngonka = try wholeAmount.adding(Amount(ngonka: fraction)).ngonka
        case "":
            throw .missingUnit(text)
        default:
            throw .unknownUnit(unit)
        }
    }
}

extension Amount: Codable {
    /// JSON carries amounts as a decimal string of ngonka (`"1500000000"`), so no JSON parser can
    /// round them through a double. A string with a unit (`"1.5gnk"`) is accepted too.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(UInt64.self) {
            self.init(ngonka: number)
            return
        }
        let text = try container.decode(String.self)
        if let value = UInt64(text) {
            self.init(ngonka: value)
            return
        }
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid amount \"\(text)\": \(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(ngonka))
    }
}

/// Why an amount could not be computed or parsed.
public enum AmountError: Error, Equatable, CustomStringConvertible {
    case overflow
    case insufficient(need: Amount, have: Amount)
    case divisionByZero
    case malformed(String)
    case missingUnit(String)
    case unknownUnit(String)
    case tooPrecise(String)

    public var description: String {
        switch self {
        case .overflow: "amount overflows 64 bits of ngonka"
        case .insufficient(let need, let have): "need \(need), have \(have)"
        case .divisionByZero: "division by zero"
        case .malformed(let s): "\"\(s)\" is not an amount (try 1.5gnk or 1500000000ngonka)"
        case .missingUnit(let s):
            s.contains(".")
                ? "\"\(s)\" has no unit: write \(s)gnk" : "\"\(s)\" has no unit: write \(s)gnk or \(s)ngonka"
        case .unknownUnit(let u): "unknown unit \"\(u)\" (use gnk or ngonka)"
        case .tooPrecise(let s): "\"\(s)\" has more than 9 decimals of GNK"
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while view.first?.isWhitespace == true { view.removeFirst() }
        while view.last?.isWhitespace == true { view.removeLast() }
        return String(view)
    }
}
