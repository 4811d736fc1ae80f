import Crypto
import Foundation

// `DataProtocol` lives in Foundation (FoundationEssentials on Linux); MemberImportVisibility needs it named.
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A SHA-256 digest: block hashes, tx hashes, state roots and commitments (PROTOCOL §2).
public struct Hash: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Exactly 32 bytes.
    public let bytes: [UInt8]

    public static let byteCount = 32
    /// All zeros: the hash of "nothing" where a placeholder is needed (empty tree, genesis parent).
    public static let zero = Hash(unchecked: [UInt8](repeating: 0, count: 32))

    /// Wraps 32 bytes; `nil` for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses 64 hex digits.
    public init?(hex: String) {
        guard let raw = Hex.decode(hex) else { return nil }
        self.init(bytes: raw)
    }

    init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// SHA-256 of `data`.
    public static func sha256(_ data: some DataProtocol) -> Hash {
        Hash(unchecked: Array(SHA256.hash(data: data)))
    }

    /// SHA-256 of a UTF-8 string (seed strings such as `"{H}/pool"`).
    public static func sha256(_ string: String) -> Hash {
        sha256(Array(string.utf8))
    }

    /// SHA-256 over several byte strings in order, as if concatenated, without copying them together.
    public static func sha256(parts: [[UInt8]]) -> Hash {
        var hasher = SHA256()
        for part in parts { hasher.update(data: part) }
        return Hash(unchecked: Array(hasher.finalize()))
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public static func < (lhs: Hash, rhs: Hash) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    public static func == (lhs: Hash, rhs: Hash) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { ByteKey.hash(bytes, into: &hasher) }

    /// The first 8 bytes read big-endian: the integer the protocol means by `u64(SHA-256(…))`.
    public var leadingUInt64: UInt64 {
        bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}

extension Hash: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let hash = Hash(hex: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "expected 64 hex digits, got \"\(text)\""))
        }
        self = hash
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// Lower-case hexadecimal, the form hashes and keys take in JSON, logs and seed strings.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes upper- or lower-case hex; `nil` for an odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
