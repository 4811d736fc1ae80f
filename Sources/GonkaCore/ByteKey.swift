/// Bytes as a dictionary key, hashed in one pass. `[UInt8]`'s own `Hashable` feeds the hasher one
/// byte at a time; under load that showed up as a few percent of a node's CPU (state keys, hashes
/// and addresses are looked up for every transaction).
public struct ByteKey: Hashable, Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public static func == (lhs: ByteKey, rhs: ByteKey) -> Bool { lhs.bytes == rhs.bytes }

    public func hash(into hasher: inout Hasher) { Self.hash(bytes, into: &hasher) }

    /// The one-pass hashing, for other byte-wrapping keys (``Hash``, ``Address``, ``PublicKey``).
    @inlinable
    public static func hash(_ bytes: [UInt8], into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
