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
        if let bytes = Self.parseCanonical(text) {
            self.bytes = bytes
            return
        }
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
        let prefix = Self.prefix
        let count = prefix.count + Self.dataCharacters + 6
        return String(unsafeUninitializedCapacity: count) { out in
            for (i, c) in prefix.enumerated() { out[i] = c }
            var position = prefix.count
            var chk = Self.prefixChecksumState
            // 20 bytes are 160 bits: exactly 32 five-bit groups, no padding.
            var accumulator: UInt32 = 0
            var bits = 0
            for byte in bytes {
                accumulator = accumulator << 8 | UInt32(byte)
                bits += 8
                while bits >= 5 {
                    bits -= 5
                    let value = UInt8((accumulator >> UInt32(bits)) & 31)
                    chk = Bech32.polymodStep(chk, value)
                    out[position] = Bech32.character(of: value)
                    position += 1
                }
            }
            for _ in 0..<6 { chk = Bech32.polymodStep(chk, 0) }
            chk ^= 1
            for i in 0..<6 {
                out[position] = Bech32.character(of: UInt8((chk >> UInt32(5 * (5 - i))) & 31))
                position += 1
            }
            return position
        }
    }

    /// `gonka1`.
    private static let prefix = Array("\(humanReadablePart)1".utf8)
    /// Five-bit data characters of an address: 160 bits.
    private static let dataCharacters = 32
    /// The checksum state after the human-readable part (it is the same for every address).
    private static let prefixChecksumState = Bech32.polymodState(afterHumanReadablePart: humanReadablePart)

    /// The payload of an address in canonical form (lower case, this prefix, valid checksum),
    /// decoded without intermediate arrays: every transaction names a few addresses. `nil` for
    /// anything else, which the general parser then explains.
    private static func parseCanonical(_ text: String) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count == prefix.count + dataCharacters + 6 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(byteCount)
        var chk = prefixChecksumState
        var accumulator: UInt32 = 0
        var bits = 0
        for (i, c) in utf8.enumerated() {
            if i < prefix.count {
                guard c == prefix[i] else { return nil }
                continue
            }
            guard let value = Bech32.value(of: c) else { return nil }
            chk = Bech32.polymodStep(chk, value)
            guard i < prefix.count + dataCharacters else { continue }
            accumulator = accumulator << 5 | UInt32(value)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xFF))
            }
        }
        guard chk == 1, out.count == byteCount else { return nil }
        return out
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
