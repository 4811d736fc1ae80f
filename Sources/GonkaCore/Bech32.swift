/// BIP-173 bech32: the checksummed base-32 text form of addresses.
public enum Bech32 {
    private static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    /// `charset` reversed: the 5-bit value of each ASCII byte, 0xFF where it is not in the charset.
    /// Every transaction names a few addresses, so decoding is on a node's hot path.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 128)
        for (value, c) in charset.enumerated() { table[Int(c)] = UInt8(value) }
        return table
    }()
    /// BIP-173's limit on the whole string.
    public static let maxLength = 90

    /// Why a string is not valid bech32.
    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case tooLong(Int)
        case mixedCase
        case invalidCharacter(position: Int)
        case missingSeparator
        case emptyHumanReadablePart
        case tooShortChecksum
        case badChecksum

        public var description: String {
            switch self {
            case .tooLong(let n): "bech32 string is \(n) characters, more than \(Bech32.maxLength)"
            case .mixedCase: "bech32 string mixes upper and lower case"
            case .invalidCharacter(let p): "invalid bech32 character at position \(p)"
            case .missingSeparator: "bech32 string has no '1' separator"
            case .emptyHumanReadablePart: "bech32 string has an empty human-readable part"
            case .tooShortChecksum: "bech32 data part is shorter than its 6-character checksum"
            case .badChecksum: "bech32 checksum does not match"
            }
        }
    }

    /// Encodes 5-bit groups under `hrp` (which must be lower case).
    public static func encode(hrp: String, data: [UInt8]) -> String {
        let hrpBytes = Array(hrp.utf8)
        let checksum = makeChecksum(hrp: hrpBytes, data: data)
        var out = hrpBytes
        out.append(UInt8(ascii: "1"))
        for value in data + checksum { out.append(charset[Int(value)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a bech32 string into its human-readable part (lower case) and 5-bit data groups
    /// (checksum removed), applying every rule of BIP-173.
    public static func decode(_ text: String) throws(DecodeError) -> (hrp: String, data: [UInt8]) {
        let bytes = Array(text.utf8)
        guard bytes.count <= maxLength else { throw .tooLong(bytes.count) }
        var hasLower = false
        var hasUpper = false
        for (position, c) in bytes.enumerated() {
            guard c >= 33 && c <= 126 else { throw .invalidCharacter(position: position) }
            if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") { hasLower = true }
            if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { hasUpper = true }
        }
        guard !(hasLower && hasUpper) else { throw .mixedCase }
        let lowered = bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        guard let separator = lowered.lastIndex(of: UInt8(ascii: "1")) else { throw .missingSeparator }
        guard separator > 0 else { throw .emptyHumanReadablePart }
        guard lowered.count - separator - 1 >= 6 else { throw .tooShortChecksum }
        let hrp = Array(lowered[..<separator])
        var data = [UInt8]()
        data.reserveCapacity(lowered.count - separator - 1)
        for position in (separator + 1)..<lowered.count {
            // Every byte is 33…126 here (checked above), so it indexes the table.
            let value = values[Int(lowered[position])]
            guard value != 0xFF else { throw .invalidCharacter(position: position) }
            data.append(value)
        }
        guard polymod(data, after: polymod(expand(hrp))) == 1 else { throw .badChecksum }
        return (String(decoding: hrp, as: UTF8.self), Array(data.dropLast(6)))
    }

    /// Regroups bits (8→5 to encode, 5→8 to decode). With `pad == false` leftover bits must be
    /// zero and fewer than `from`, or the input is rejected (`nil`).
    public static func convertBits(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator = 0
        var bits = 0
        var out = [UInt8]()
        out.reserveCapacity((data.count * from + to - 1) / to)
        let maxValue = (1 << to) - 1
        for value in data {
            guard Int(value) >> from == 0 else { return nil }
            accumulator = (accumulator << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8((accumulator >> bits) & maxValue))
            }
        }
        if pad {
            if bits > 0 { out.append(UInt8((accumulator << (to - bits)) & maxValue)) }
        } else if bits >= from || ((accumulator << (to - bits)) & maxValue) != 0 {
            return nil
        }
        return out
    }

    /// BIP-173's checksum polynomial over `values`, continuing from `chk` (1 to start).
    private static func polymod(_ values: [UInt8], after start: UInt32 = 1) -> UInt32 {
        var chk = start
        for value in values { chk = polymodStep(chk, value) }
        return chk
    }

    /// One 5-bit value into the checksum polynomial.
    @inline(__always)
    static func polymodStep(_ chk: UInt32, _ value: UInt8) -> UInt32 {
        let top = chk >> 25
        var chk = (chk & 0x1ff_ffff) << 5 ^ UInt32(value)
        // Branch-free: each generator term is masked in by its bit of `top`.
        chk ^= 0x3b6a_57b2 & (0 &- (top & 1))
        chk ^= 0x2650_8e6d & (0 &- ((top >> 1) & 1))
        chk ^= 0x1ea1_19fa & (0 &- ((top >> 2) & 1))
        chk ^= 0x3d42_33dd & (0 &- ((top >> 3) & 1))
        chk ^= 0x2a14_62b3 & (0 &- ((top >> 4) & 1))
        return chk
    }

    /// The checksum state after a (lower-case) human-readable part, to continue over data.
    static func polymodState(afterHumanReadablePart hrp: String) -> UInt32 {
        polymod(expand(Array(hrp.utf8)))
    }

    /// The 5-bit value of a lower-case charset byte, or nil.
    @inline(__always)
    static func value(of character: UInt8) -> UInt8? {
        guard character < 128 else { return nil }
        let value = values[Int(character)]
        return value == 0xFF ? nil : value
    }

    /// The charset byte of a 5-bit value.
    @inline(__always)
    static func character(of value: UInt8) -> UInt8 { charset[Int(value & 31)] }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    private static func makeChecksum(hrp: [UInt8], data: [UInt8]) -> [UInt8] {
        let mod = polymod(expand(hrp) + data + [0, 0, 0, 0, 0, 0]) ^ 1
        return (0..<6).map { UInt8((mod >> (5 * (5 - UInt32($0)))) & 31) }
    }
}
