import Foundation

/// A benchmark that could not measure what it promised (a transaction refused, a network that did
/// not start); the description says what.
public struct BenchmarkError: Error, CustomStringConvertible, Sendable {
    /// The sentence the user reads.
    public let description: String

    /// An error that says `description`.
    public init(_ description: String) { self.description = description }
}

/// `count / seconds`, rounded, for the reports.
func rate(_ count: Double, _ seconds: Double) -> String {
    String(format: "%.0f", count / max(seconds, 1e-9))
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
