import Tensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A GGUF metadata value.
public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    var intValue: Int? {
        switch self {
        case .uint(let v): v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): Int(v)
        default: nil
        }
    }

    var doubleValue: Double? {
        switch self {
        case .float(let v): v
        case .uint(let v): Double(v)
        case .int(let v): Double(v)
        default: nil
        }
    }
}

/// One entry of the tensor table.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions, fastest first (`[cols, rows]` for a matrix).
    public let shape: [Int]
    public let type: GGMLType
    /// Absolute offset of the data in the file.
    public let fileOffset: Int
    public let byteCount: Int
}

/// A memory-mapped GGUF v3 file: metadata, tensor table and the tensors' bytes (read-only).
///
/// `@unchecked Sendable`: the mapping is read-only and lives as long as this object.
public final class GGUFFile: @unchecked Sendable {
    /// The file's path (for a file built in memory: the name it was given).
    public let path: String
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Each key's on-disk type (``GGUFValue`` folds the widths together; ``GGUFWriter`` keeps them).
    public let metadataTypes: [String: GGUFValueType]
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    public let alignment: Int
    public let size: Int
    private let base: UnsafeRawPointer
    private let storage: Storage

    /// Who owns the bytes at `base`.
    private enum Storage {
        /// A read-only `mmap` of the file.
        case mapped
        /// A buffer this object allocated (a file built in memory).
        case owned
    }

    /// Maps and parses the file at `path`; throws ``GGUFError`` naming the offset of the first problem.
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFError.cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw GGUFError.cannotOpen(path: path, errno: errno) }
        let size = Int(info.st_size)
        guard size >= 4 else { throw GGUFError.truncated(offset: 0, need: 4 - size, fileSize: size) }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, errno: errno)
        }
        do {
            try self.init(base: UnsafeRawPointer(map), size: size, storage: .mapped, path: path)
        } catch {
            munmap(map, size)
            throw error
        }
    }

    /// Parses a GGUF file held in memory (a copy of `bytes` is kept); `name` stands for the path in
    /// messages. ``GGUFWriter/makeFile(name:)`` builds one without the copy.
    public convenience init(bytes: some Collection<UInt8>, name: String = "<memory>") throws {
        let buffer = Self.allocate(bytes.count)
        UnsafeMutableRawBufferPointer(start: buffer, count: bytes.count).copyBytes(from: bytes)
        try self.init(owning: buffer, size: bytes.count, name: name)
    }

    /// Takes `buffer` (from ``allocate(_:)``, `size` bytes written) and parses it; the buffer is
    /// freed with this object, or at once when parsing fails.
    convenience init(owning buffer: UnsafeMutableRawPointer, size: Int, name: String) throws {
        do {
            try self.init(base: UnsafeRawPointer(buffer), size: size, storage: .owned, path: name)
        } catch {
            buffer.deallocate()
            throw error
        }
    }

    /// A buffer for an in-memory file, page-aligned like a mapping (the kernels load blocks at
    /// the offsets a mapped file has).
    static func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 4096)
    }

    private init(base: UnsafeRawPointer, size: Int, storage: Storage, path: String) throws {
        let parsed = try GGUFFile.parse(base: base, size: size)
        self.path = path
        self.base = base
        self.size = size
        self.storage = storage
        self.metadata = parsed.metadata
        self.metadataKeys = parsed.keys
        self.metadataTypes = parsed.types
        self.tensors = parsed.tensors
        self.tensorNames = parsed.names
        self.alignment = parsed.alignment
    }

    deinit {
        switch storage {
        case .mapped: munmap(UnsafeMutableRawPointer(mutating: base), size)
        case .owned: UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    /// The bytes of tensor `name`.
    public func data(_ info: GGUFTensorInfo) -> UnsafeRawPointer { base + info.fileOffset }

    /// The `info.byteCount` bytes of a tensor of this file.
    public func bytes(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: data(info), count: info.byteCount)
    }

    /// A matrix view of the 2-D tensor `name` with the given `[cols, rows]` shape.
    public func matrix(_ name: String, cols: Int, rows: Int) throws -> WeightMatrix {
        guard let info = tensors[name] else { throw GGUFError.missingTensor(name) }
        guard info.shape == [cols, rows] else {
            throw GGUFError.badShape(name, expected: [cols, rows], found: info.shape)
        }
        guard let matrix = WeightMatrix(type: info.type, rows: rows, cols: cols, data: data(info)) else {
            throw GGUFError.corrupt(offset: info.fileOffset, "tensor \(name) rows are not whole blocks of \(info.type)")
        }
        return matrix
    }

    /// The 1-D tensor `name` of `count` elements as floats.
    public func vector(_ name: String, count: Int) throws -> [Float] {
        guard let info = tensors[name] else { throw GGUFError.missingTensor(name) }
        guard info.shape == [count] else { throw GGUFError.badShape(name, expected: [count], found: info.shape) }
        guard info.type == .f32 || info.type == .f16 else {
            throw GGUFError.unsupportedTensorType(name: name, type: info.type.rawValue, offset: info.fileOffset)
        }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let out = buffer.baseAddress { Kernels.dequantize(info.type, data(info), count: count, into: out) }
            initialized = count
        }
    }

    public func int(_ key: String) throws -> Int {
        guard let value = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let v = value.intValue else { throw GGUFError.wrongKeyType(key, expected: "an integer") }
        return v
    }

    public func double(_ key: String) throws -> Double {
        guard let value = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let v = value.doubleValue else { throw GGUFError.wrongKeyType(key, expected: "a number") }
        return v
    }

    public func string(_ key: String) throws -> String {
        guard case .string(let v) = metadata[key] else {
            throw metadata[key] == nil ? GGUFError.missingKey(key) : GGUFError.wrongKeyType(key, expected: "a string")
        }
        return v
    }

    public func strings(_ key: String) throws -> [String] {
        guard case .array(let values) = metadata[key] else {
            throw metadata[key] == nil ? GGUFError.missingKey(key) : GGUFError.wrongKeyType(key, expected: "an array")
        }
        return try values.map {
            guard case .string(let s) = $0 else { throw GGUFError.wrongKeyType(key, expected: "an array of strings") }
            return s
        }
    }

    public func ints(_ key: String) throws -> [Int] {
        guard case .array(let values) = metadata[key] else {
            throw metadata[key] == nil ? GGUFError.missingKey(key) : GGUFError.wrongKeyType(key, expected: "an array")
        }
        return try values.map {
            guard let v = $0.intValue else { throw GGUFError.wrongKeyType(key, expected: "an array of integers") }
            return v
        }
    }

    // MARK: Parsing

    private struct Parsed {
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        var types: [String: GGUFValueType] = [:]
        var tensors: [String: GGUFTensorInfo] = [:]
        var names: [String] = []
        var alignment = 32
    }

    /// A bounds-checked little-endian reader over the mapping.
    private struct Reader {
        let base: UnsafeRawPointer
        let size: Int
        var offset = 0

        mutating func need(_ count: Int) throws {
            guard count >= 0, count <= size - offset else {
                throw GGUFError.truncated(offset: offset, need: count, fileSize: size)
            }
        }

        mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
            try need(MemoryLayout<T>.size)
            let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
            offset += MemoryLayout<T>.size
            return v
        }

        mutating func count(_ what: String) throws -> Int {
            let start = offset
            let v = try read(UInt64.self)
            guard v <= UInt64(size) else {
                throw GGUFError.corrupt(offset: start, "\(what) \(v) exceeds the file size \(size)")
            }
            return Int(v)
        }

        mutating func string() throws -> String {
            let length = try count("string length")
            try need(length)
            let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
            offset += length
            return String(decoding: bytes, as: UTF8.self)
        }

        mutating func value(type: UInt32, depth: Int = 0) throws -> GGUFValue {
            let start = offset
            switch type {
            case 0: return .uint(UInt64(try read(UInt8.self)))
            case 1: return .int(Int64(try read(Int8.self)))
            case 2: return .uint(UInt64(try read(UInt16.self)))
            case 3: return .int(Int64(try read(Int16.self)))
            case 4: return .uint(UInt64(try read(UInt32.self)))
            case 5: return .int(Int64(try read(Int32.self)))
            case 6: return .float(Double(Float(bitPattern: try read(UInt32.self))))
            case 7:
                let b = try read(UInt8.self)
                guard b <= 1 else { throw GGUFError.corrupt(offset: start, "bool value \(b) is not 0 or 1") }
                return .bool(b == 1)
            case 8: return .string(try string())
            case 9:
                guard depth == 0 else { throw GGUFError.corrupt(offset: start, "nested arrays are not supported") }
                let elementType = try read(UInt32.self)
                // Checked before the elements, so an empty array of an unknown type is refused too.
                guard GGUFValueType(code: type, element: elementType) != nil else {
                    throw GGUFError.corrupt(offset: start, "array of unsupported element type \(elementType)")
                }
                let n = try count("array length")
                var values: [GGUFValue] = []
                values.reserveCapacity(n)
                for _ in 0..<n { values.append(try value(type: elementType, depth: depth + 1)) }
                return .array(values)
            case 10: return .uint(try read(UInt64.self))
            case 11: return .int(try read(Int64.self))
            case 12: return .float(Double(bitPattern: try read(UInt64.self)))
            default: throw GGUFError.corrupt(offset: start - 4, "unknown metadata value type \(type)")
            }
        }
    }

    private static func parse(base: UnsafeRawPointer, size: Int) throws -> Parsed {
        var reader = Reader(base: base, size: size)
        let magic = try reader.read(UInt32.self)
        guard magic == 0x4655_4747 else { throw GGUFError.badMagic(found: magic) }
        let version = try reader.read(UInt32.self)
        guard version == 3 else { throw GGUFError.unsupportedVersion(version) }
        let tensorCount = try reader.count("tensor count")
        let keyCount = try reader.count("metadata key count")
        var parsed = Parsed()
        for _ in 0..<keyCount {
            let keyOffset = reader.offset
            let key = try reader.string()
            let type = try reader.read(UInt32.self)
            let valueOffset = reader.offset
            let value = try reader.value(type: type)
            // `value` checked the type code (and an array's element code right after it).
            let element = type == 9 ? base.loadUnaligned(fromByteOffset: valueOffset, as: UInt32.self) : nil
            guard let valueType = GGUFValueType(code: type, element: element.map { UInt32(littleEndian: $0) }) else {
                throw GGUFError.corrupt(offset: valueOffset - 4, "unknown metadata value type \(type)")
            }
            guard parsed.metadata.updateValue(value, forKey: key) == nil else {
                throw GGUFError.corrupt(offset: keyOffset, "metadata key \(key) appears twice")
            }
            parsed.keys.append(key)
            parsed.types[key] = valueType
        }
        if let value = parsed.metadata["general.alignment"] {
            guard let a = value.intValue, a > 0, a & (a - 1) == 0 else {
                throw GGUFError.corrupt(offset: reader.offset, "general.alignment is not a power of two")
            }
            parsed.alignment = a
        }
        var raw: [(name: String, shape: [Int], type: UInt32, offset: UInt64, at: Int)] = []
        for _ in 0..<tensorCount {
            let at = reader.offset
            let name = try reader.string()
            let dims = try reader.read(UInt32.self)
            guard (1...4).contains(dims) else {
                throw GGUFError.corrupt(offset: at, "tensor \(name) has \(dims) dimensions (expected 1–4)")
            }
            var shape: [Int] = []
            for _ in 0..<dims {
                let d = try reader.read(UInt64.self)
                guard d > 0, d <= UInt64(size) * 32 else {
                    throw GGUFError.corrupt(offset: reader.offset - 8, "tensor \(name) has dimension \(d)")
                }
                shape.append(Int(d))
            }
            let type = try reader.read(UInt32.self)
            let offset = try reader.read(UInt64.self)
            raw.append((name, shape, type, offset, at))
        }
        let a = parsed.alignment
        let dataStart = (reader.offset + a - 1) / a * a
        for t in raw {
            guard let type = GGMLType(rawValue: t.type) else {
                throw GGUFError.unsupportedTensorType(name: t.name, type: t.type, offset: t.at)
            }
            let elements = t.shape.reduce(1, *)
            guard let rowBytes = type.rowBytes(elements: t.shape[0]) else {
                throw GGUFError.corrupt(
                    offset: t.at, "tensor \(t.name) row of \(t.shape[0]) is not whole \(type) blocks")
            }
            let bytes = rowBytes * (elements / t.shape[0])
            guard t.offset % UInt64(a) == 0 else {
                throw GGUFError.corrupt(offset: t.at, "tensor \(t.name) data offset \(t.offset) is not aligned to \(a)")
            }
            guard t.offset <= UInt64(size), dataStart + Int(t.offset) + bytes <= size else {
                let start = dataStart + Int(min(t.offset, UInt64(size)))
                throw GGUFError.truncated(offset: start, need: bytes, fileSize: size)
            }
            guard parsed.tensors[t.name] == nil else {
                throw GGUFError.corrupt(offset: t.at, "tensor \(t.name) appears twice")
            }
            parsed.tensors[t.name] = GGUFTensorInfo(
                name: t.name, shape: t.shape, type: type, fileOffset: dataStart + Int(t.offset), byteCount: bytes)
            parsed.names.append(t.name)
        }
        return parsed
    }
}
