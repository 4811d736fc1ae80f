/// The on-disk type of a GGUF metadata value (the type codes of GGUF v3).
///
/// ``GGUFValue`` folds the integer widths and the two float widths together; this keeps what the
/// file said, so a file read with ``GGUFFile`` is written back by ``GGUFWriter`` with the same
/// types (other readers, llama.cpp among them, insist on e.g. `uint32` for `llama.block_count`).
public indirect enum GGUFValueType: Sendable, Hashable, CustomStringConvertible {
    case uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64, int64, float64
    /// An array of one scalar type (GGUF arrays do not nest here: the reader refuses them).
    case array(GGUFValueType)

    /// The type of code `code` (`element` for arrays), or nil for an unknown code or a nested array.
    init?(code: UInt32, element: UInt32? = nil) {
        switch code {
        case 0: self = .uint8
        case 1: self = .int8
        case 2: self = .uint16
        case 3: self = .int16
        case 4: self = .uint32
        case 5: self = .int32
        case 6: self = .float32
        case 7: self = .bool
        case 8: self = .string
        case 9:
            guard let element, element != 9, let scalar = GGUFValueType(code: element) else { return nil }
            self = .array(scalar)
        case 10: self = .uint64
        case 11: self = .int64
        case 12: self = .float64
        default: return nil
        }
    }

    /// The GGUF type code.
    var code: UInt32 {
        switch self {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }

    /// The narrowest usual type for `value` when no type was given: `uint32`/`int32` when the
    /// value fits, else the 64-bit type; `float32`; arrays by their first element (`int32` when
    /// empty; ``GGUFWriter`` refuses an array whose other elements do not fit that type).
    public static func natural(for value: GGUFValue) -> GGUFValueType {
        switch value {
        case .uint(let v): v <= UInt64(UInt32.max) ? .uint32 : .uint64
        case .int(let v): Int64(Int32.min)...Int64(Int32.max) ~= v ? .int32 : .int64
        case .float: .float32
        case .bool: .bool
        case .string: .string
        case .array(let values):
            .array(values.first.map { natural(for: $0) } ?? .int32)
        }
    }

    public var description: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .float32: "float32"
        case .bool: "bool"
        case .string: "string"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float64: "float64"
        case .array(let element): "array of \(element)"
        }
    }
}
