/// Why a GGUF file could not be loaded; the description names the file offset and what was expected.
public struct GGUFError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case cannotOpen(path: String, errno: Int32)
        case truncated(offset: Int, need: Int, fileSize: Int)
        case badMagic(found: UInt32)
        case unsupportedVersion(UInt32)
        case corrupt(offset: Int, what: String)
        case unsupportedTensorType(name: String, type: UInt32, offset: Int)
        case missingKey(String)
        case wrongKeyType(key: String, expected: String)
        case missingTensor(String)
        case badShape(name: String, expected: [Int], found: [Int])
        case unsupported(String)
    }

    private let code: Code

    public static func cannotOpen(path: String, errno: Int32) -> Self {
        Self(code: .cannotOpen(path: path, errno: errno))
    }
    public static func truncated(offset: Int, need: Int, fileSize: Int) -> Self {
        Self(code: .truncated(offset: offset, need: need, fileSize: fileSize))
    }
    public static func badMagic(found: UInt32) -> Self { Self(code: .badMagic(found: found)) }
    public static func unsupportedVersion(_ version: UInt32) -> Self { Self(code: .unsupportedVersion(version)) }
    public static func corrupt(offset: Int, _ what: String) -> Self { Self(code: .corrupt(offset: offset, what: what)) }
    public static func unsupportedTensorType(name: String, type: UInt32, offset: Int) -> Self {
        Self(code: .unsupportedTensorType(name: name, type: type, offset: offset))
    }
    public static func missingKey(_ key: String) -> Self { Self(code: .missingKey(key)) }
    public static func wrongKeyType(_ key: String, expected: String) -> Self {
        Self(code: .wrongKeyType(key: key, expected: expected))
    }
    public static func missingTensor(_ name: String) -> Self { Self(code: .missingTensor(name)) }
    public static func badShape(_ name: String, expected: [Int], found: [Int]) -> Self {
        Self(code: .badShape(name: name, expected: expected, found: found))
    }
    public static func unsupported(_ what: String) -> Self { Self(code: .unsupported(what)) }

    /// A label without values (safe as a metric label).
    public var shortDescription: String {
        switch code {
        case .cannotOpen: "cannot_open"
        case .truncated: "truncated"
        case .badMagic: "bad_magic"
        case .unsupportedVersion: "unsupported_version"
        case .corrupt: "corrupt"
        case .unsupportedTensorType: "unsupported_tensor_type"
        case .missingKey: "missing_key"
        case .wrongKeyType: "wrong_key_type"
        case .missingTensor: "missing_tensor"
        case .badShape: "bad_shape"
        case .unsupported: "unsupported"
        }
    }

    /// The file offset the error was found at, when it has one.
    public var offset: Int? {
        switch code {
        case .truncated(let offset, _, _), .corrupt(let offset, _), .unsupportedTensorType(_, _, let offset): offset
        case .badMagic: 0
        case .unsupportedVersion: 4
        default: nil
        }
    }

    public var description: String {
        switch code {
        case .cannotOpen(let path, let errno): "cannot open GGUF file \(path) (errno \(errno))"
        case .truncated(let offset, let need, let fileSize):
            "GGUF file truncated: expected \(need) bytes at offset \(offset), but the file has \(fileSize) bytes"
        case .badMagic(let found):
            "not a GGUF file: expected magic \"GGUF\" at offset 0, found 0x\(String(found, radix: 16))"
        case .unsupportedVersion(let version): "unsupported GGUF version \(version) at offset 4 (expected 3)"
        case .corrupt(let offset, let what): "corrupt GGUF file at offset \(offset): \(what)"
        case .unsupportedTensorType(let name, let type, let offset):
            "tensor \(name) has unsupported type \(type) (at offset \(offset); supported: F32, F16, Q4_0, Q4_1, Q8_0)"
        case .missingKey(let key): "GGUF metadata key \(key) is missing"
        case .wrongKeyType(let key, let expected): "GGUF metadata key \(key) is not \(expected)"
        case .missingTensor(let name): "GGUF tensor \(name) is missing"
        case .badShape(let name, let expected, let found): "tensor \(name) has shape \(found), expected \(expected)"
        case .unsupported(let what): "unsupported model: \(what)"
        }
    }
}
