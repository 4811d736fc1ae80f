import Foundation
import GonkaCore

/// How figures are written on the pages. Numbers are written whole (no floats: the chain's integers
/// are shown as the chain gives them, so a page and a query agree digit for digit).
enum ExplorerFormat {
    /// "—" for what the chain does not (yet) record.
    static let missing = "—"

    /// `1234567` → `"1,234,567"`.
    static func grouped(_ value: some BinaryInteger) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return value < 0 ? "-" + out : out
    }

    /// A block time (ms since 1970) as `2026-12-06 05:03:01 UTC`.
    static func time(ms: Int64) -> String {
        guard ms > 0 else { return missing }
        let date = Date(timeIntervalSince1970: TimeInterval(ms) / 1000)
        let text = date.formatted(
            Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC") ?? .gmt).year().month().day()
                .dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
        return text.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "") + " UTC"
    }

    /// Milliseconds as `1.25 s` (two decimals, integer arithmetic).
    static func seconds(ms: Int64) -> String {
        let whole = ms / 1000
        let hundredths = (abs(ms) % 1000) / 10
        return "\(whole).\(hundredths < 10 ? "0" : "")\(hundredths) s"
    }

    /// An amount as the chain writes it (`123ngonka`), the form the queries answer.
    static func amount(_ value: Amount) -> String { value.description }

    /// `part` of `whole` in percent with one decimal (`12.5 %`); "—" when `whole` is 0.
    static func percent(_ part: UInt64, of whole: UInt64) -> String {
        guard whole > 0 else { return missing }
        let tenths = (UInt128(part) * 1000 + UInt128(whole) / 2) / UInt128(whole)
        return "\(tenths / 10).\(tenths % 10) %"
    }

    /// The first 12 characters of a hash, for tables (the full hash is in the link).
    static func short(_ hash: String) -> String { hash.count > 12 ? String(hash.prefix(12)) + "…" : hash }
}
