import Tensor

/// Why a ``GGUFWriter`` could not write its file; the description names the key or tensor.
public struct GGUFWriteError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case valueDoesNotFit(key: String, type: GGUFValueType)
        case duplicateKey(String)
        case duplicateTensor(String)
        case badShape(name: String, shape: [Int], type: GGMLType)
        case wrongByteCount(name: String, expected: Int, found: Int)
        case badAlignment(Int)
        case cannotWrite(path: String, errno: Int32)
    }

    private let code: Code

    public static func valueDoesNotFit(key: String, type: GGUFValueType) -> Self {
        Self(code: .valueDoesNotFit(key: key, type: type))
    }
    public static func duplicateKey(_ key: String) -> Self { Self(code: .duplicateKey(key)) }
    public static func duplicateTensor(_ name: String) -> Self { Self(code: .duplicateTensor(name)) }
    public static func badShape(_ name: String, shape: [Int], type: GGMLType) -> Self {
        Self(code: .badShape(name: name, shape: shape, type: type))
    }
    public static func wrongByteCount(_ name: String, expected: Int, found: Int) -> Self {
        Self(code: .wrongByteCount(name: name, expected: expected, found: found))
    }
    public static func badAlignment(_ alignment: Int) -> Self { Self(code: .badAlignment(alignment)) }
    public static func cannotWrite(path: String, errno: Int32) -> Self {
        Self(code: .cannotWrite(path: path, errno: errno))
    }

    /// A label without values (safe as a metric label).
    public var shortDescription: String {
        switch code {
        case .valueDoesNotFit: "value_does_not_fit"
        case .duplicateKey: "duplicate_key"
        case .duplicateTensor: "duplicate_tensor"
        case .badShape: "bad_shape"
        case .wrongByteCount: "wrong_byte_count"
        case .badAlignment: "bad_alignment"
        case .cannotWrite: "cannot_write"
        }
    }

    public var description: String {
        switch code {
        case .valueDoesNotFit(let key, let type): "GGUF metadata \(key): the value is not a valid \(type)"
        case .duplicateKey(let key): "GGUF metadata key \(key) is set twice"
        case .duplicateTensor(let name): "GGUF tensor \(name) is listed twice"
        case .badShape(let name, let shape, let type):
            "GGUF tensor \(name) has shape \(shape): 1–4 positive dimensions, rows of whole \(type) blocks expected"
        case .wrongByteCount(let name, let expected, let found):
            "GGUF tensor \(name) has \(found) bytes of data, its shape and type need \(expected)"
        case .badAlignment(let alignment):
            "GGUF alignment \(alignment) is not a power of two (or differs from general.alignment)"
        case .cannotWrite(let path, let errno): "cannot write GGUF file \(path) (errno \(errno))"
        }
    }
}
