/// An account address: 20 bytes = SHA-256(pubkey)[0..<20], written as bech32 with the
/// human-readable part `gonka` (PROTOCOL §2). Module accounts use SHA-256("module/<name>").
public struct Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let humanReadablePart = "gonka"
    public static let byteCount = 20

    /// The 20-byte payload.
    public let bytes: [UInt8]

    public init(publicKey: PublicKey) {
        bytes = Array(Hash.sha256(publicKey.bytes).bytes.prefix(Self.byteCount))
    }

    /// Wraps a 20-byte payload; `nil` for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    /// The address of a module account (escrow, fee collector, …): nobody holds its key.
    public static func module(_ name: String) -> Address {
        Address(uncheckedBytes: Array(Hash.sha256("module/\(name)").bytes.prefix(byteCount)))
    }

    private init(uncheckedBytes: [UInt8]) {
        bytes = uncheckedBytes
    }

    /// Parses `gonka1…`. Errors say exactly what is wrong.
    public init(_ text: String) throws(AddressError) {
        let decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(text)
        } catch {
            throw .bech32(error)
        }
        guard decoded.hrp == Self.humanReadablePart else { throw .wrongPrefix(decoded.hrp) }
        guard let payload = Bech32.convertBits(decoded.data, from: 5, to: 8, pad: false) else {
            throw .badPadding
        }
        guard payload.count == Self.byteCount else { throw .wrongLength(payload.count) }
        bytes = payload
    }

    public var description: String {
        // convertBits with padding never fails on 8-bit input.
        Bech32.encode(hrp: Self.humanReadablePart, data: Bech32.convertBits(bytes, from: 8, to: 5, pad: true) ?? [])
    }

    public static func < (lhs: Address, rhs: Address) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    public static func == (lhs: Address, rhs: Address) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { ByteKey.hash(bytes, into: &hasher) }
}

extension Address: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try Address(text)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid address \"\(text)\": \(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Why a string is not a gonka address.
public enum AddressError: Error, Equatable, CustomStringConvertible {
    case bech32(Bech32.DecodeError)
    case wrongPrefix(String)
    case badPadding
    case wrongLength(Int)

    public var description: String {
        switch self {
        case .bech32(let e): e.description
        case .wrongPrefix(let hrp): "address prefix must be \"\(Address.humanReadablePart)\", got \"\(hrp)\""
        case .badPadding: "address payload has invalid bit padding"
        case .wrongLength(let n): "address payload must be \(Address.byteCount) bytes, got \(n)"
        }
    }
}
