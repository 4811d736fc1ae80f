/// A devnet step that failed in a way the user can act on; the description says what happened
/// and, where there is one, what to do (the CLI prints it as its error).
public struct DevnetError: Error, CustomStringConvertible, Sendable {
    /// The sentence the user reads.
    public let description: String

    /// An error that says `description`.
    public init(_ description: String) { self.description = description }
}
