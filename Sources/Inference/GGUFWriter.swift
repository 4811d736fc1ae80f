import Tensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Builds a GGUF v3 file: ordered metadata with on-disk types, a tensor table, and the tensors'
/// bytes, each aligned to ``alignment``. ``init(copying:)`` starts from a file read by
/// ``GGUFFile`` (its tensors' bytes are borrowed from that file, not copied), so a model can be
/// edited (tensors replaced, dropped, renamed; keys changed) and written to disk with
/// ``write(to:)`` or loaded in memory with ``makeFile(name:)``. Reading the result with
/// ``GGUFFile`` gives back the same metadata (keys, values, types, order) and tensor bytes.
public struct GGUFWriter: Sendable {
    /// One metadata key with its value and on-disk type.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: GGUFValue
        public var type: GGUFValueType

        /// `type` defaults to ``GGUFValueType/natural(for:)`` of `value`.
        public init(key: String, value: GGUFValue, type: GGUFValueType? = nil) {
            self.key = key
            self.value = value
            self.type = type ?? .natural(for: value)
        }
    }

    /// Where a tensor's bytes come from.
    public enum TensorData: Sendable {
        /// A tensor of a loaded file (kept alive by this value).
        case file(GGUFFile, GGUFTensorInfo)
        /// Bytes in memory, already in the tensor type's block layout.
        case bytes([UInt8])

        var count: Int {
            switch self {
            case .file(_, let info): info.byteCount
            case .bytes(let bytes): bytes.count
            }
        }

        /// Calls `body` with the bytes.
        func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
            switch self {
            case .file(let file, let info): try body(file.bytes(info))
            case .bytes(let bytes): try bytes.withUnsafeBytes(body)
            }
        }
    }

    /// One entry of the tensor table and its data.
    public struct TensorEntry: Sendable {
        public var name: String
        /// Dimensions, fastest first (as ``GGUFTensorInfo/shape``).
        public var shape: [Int]
        public var type: GGMLType
        public var data: TensorData

        public init(name: String, shape: [Int], type: GGMLType, data: TensorData) {
            self.name = name
            self.shape = shape
            self.type = type
            self.data = data
        }

        /// The bytes `shape` and `type` need, or nil when the shape is not 1–4 positive
        /// dimensions with rows of whole blocks.
        var expectedByteCount: Int? {
            guard (1...4).contains(shape.count), shape.allSatisfy({ $0 > 0 }),
                let rowBytes = type.rowBytes(elements: shape[0])
            else { return nil }
            return rowBytes * shape.dropFirst().reduce(1, *)
        }
    }

    /// Metadata in the order it is written.
    public var metadata: [Entry]
    /// Tensors in the order they are written.
    public var tensors: [TensorEntry]
    /// Alignment of the data section and of each tensor (a power of two; must equal a
    /// `general.alignment` key when there is one).
    public var alignment: Int

    /// An empty file.
    public init(alignment: Int = 32) {
        metadata = []
        tensors = []
        self.alignment = alignment
    }

    /// Everything `file` holds, in its order, with its types; the tensors' bytes stay in `file`.
    public init(copying file: GGUFFile) {
        alignment = file.alignment
        metadata = file.metadataKeys.compactMap { key in
            file.metadata[key].map { Entry(key: key, value: $0, type: file.metadataTypes[key]) }
        }
        tensors = file.tensorNames.compactMap { name in
            file.tensors[name].map { TensorEntry(name: name, shape: $0.shape, type: $0.type, data: .file(file, $0)) }
        }
    }

    /// The value of `key`; setting keeps the key's place and type (a new key goes last with its
    /// natural type, nil removes it).
    public subscript(key: String) -> GGUFValue? {
        get { metadata.first { $0.key == key }?.value }
        set {
            let index = metadata.firstIndex { $0.key == key }
            switch (index, newValue) {
            case (let index?, let value?): metadata[index].value = value
            case (let index?, nil): metadata.remove(at: index)
            case (nil, let value?): metadata.append(Entry(key: key, value: value))
            case (nil, nil): break
            }
        }
    }

    /// The index of tensor `name` in ``tensors``.
    public func tensorIndex(_ name: String) -> Int? { tensors.firstIndex { $0.name == name } }

    // MARK: Output

    /// The file's size in bytes.
    public func byteCount() throws -> Int { try layout().total }

    /// Writes the file to `path` (through `path.partial`, renamed when complete, so a reader never
    /// sees half a file).
    public func write(to path: String) throws {
        let layout = try layout()
        let partial = path + ".partial"
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw GGUFWriteError.cannotWrite(path: partial, errno: errno) }
        var closed = false
        defer { if !closed { close(fd) } }
        var sink = FileSink(fd: fd, path: partial)
        try emit(layout, into: &sink)
        closed = true
        guard close(fd) == 0 else { throw GGUFWriteError.cannotWrite(path: partial, errno: errno) }
        guard rename(partial, path) == 0 else { throw GGUFWriteError.cannotWrite(path: path, errno: errno) }
    }

    /// The file built in memory and parsed, as if written and opened: a model can be loaded from
    /// it (`LlamaModel(file:)`) without touching the disk. `name` stands for its path.
    public func makeFile(name: String = "<memory>") throws -> GGUFFile {
        let layout = try layout()
        let buffer = GGUFFile.allocate(layout.total)
        var sink = MemorySink(base: buffer, capacity: layout.total)
        do {
            try emit(layout, into: &sink)
        } catch {
            buffer.deallocate()
            throw error
        }
        return try GGUFFile(owning: buffer, size: layout.total, name: name)
    }

    // MARK: Encoding

    /// The encoded header (up to the data section, padding included) and the tensors' offsets.
    private struct Layout {
        var header: [UInt8]
        /// Offset of each tensor from the start of the data section.
        var offsets: [Int]
        var total: Int
    }

    private func layout() throws -> Layout {
        let a = alignment
        guard a > 0, a & (a - 1) == 0 else { throw GGUFWriteError.badAlignment(a) }
        if let declared = self["general.alignment"], declared.intValue != a { throw GGUFWriteError.badAlignment(a) }
        var keys: Set<String> = []
        var header = Encoder()
        header.u32(0x4655_4747)
        header.u32(3)
        header.u64(UInt64(tensors.count))
        header.u64(UInt64(metadata.count))
        for entry in metadata {
            guard keys.insert(entry.key).inserted else { throw GGUFWriteError.duplicateKey(entry.key) }
            header.string(entry.key)
            header.u32(entry.type.code)
            try header.value(entry.value, as: entry.type, key: entry.key)
        }
        var names: Set<String> = []
        var offsets: [Int] = []
        var offset = 0
        for tensor in tensors {
            guard names.insert(tensor.name).inserted else { throw GGUFWriteError.duplicateTensor(tensor.name) }
            guard let expected = tensor.expectedByteCount else {
                throw GGUFWriteError.badShape(tensor.name, shape: tensor.shape, type: tensor.type)
            }
            guard tensor.data.count == expected else {
                throw GGUFWriteError.wrongByteCount(tensor.name, expected: expected, found: tensor.data.count)
            }
            header.string(tensor.name)
            header.u32(UInt32(tensor.shape.count))
            for dimension in tensor.shape { header.u64(UInt64(dimension)) }
            header.u32(tensor.type.rawValue)
            header.u64(UInt64(offset))
            offsets.append(offset)
            offset = Self.aligned(offset + expected, a)
        }
        header.pad(to: a)
        let dataBytes = tensors.last.map { (offsets.last ?? 0) + $0.data.count } ?? 0
        return Layout(header: header.bytes, offsets: offsets, total: header.bytes.count + dataBytes)
    }

    private func emit(_ layout: Layout, into sink: inout some ByteSink) throws {
        try layout.header.withUnsafeBytes { try sink.write($0) }
        var written = 0
        let zeros = [UInt8](repeating: 0, count: alignment)
        for (tensor, offset) in zip(tensors, layout.offsets) {
            try zeros.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<(offset - written)])) }
            try tensor.data.withBytes { try sink.write($0) }
            written = offset + tensor.data.count
        }
    }

    private static func aligned(_ n: Int, _ a: Int) -> Int { (n + a - 1) / a * a }

    /// Little-endian encoding of the header.
    private struct Encoder {
        var bytes: [UInt8] = []

        mutating func integer<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        mutating func u32(_ v: UInt32) { integer(v) }
        mutating func u64(_ v: UInt64) { integer(v) }

        mutating func string(_ s: String) {
            u64(UInt64(s.utf8.count))
            bytes += s.utf8
        }

        mutating func pad(to a: Int) {
            while bytes.count % a != 0 { bytes.append(0) }
        }

        /// `value` as `type`, or `valueDoesNotFit` when it is not one (a negative or too wide
        /// integer, a string for a number, a nested array, an element of another kind).
        mutating func value(_ value: GGUFValue, as type: GGUFValueType, key: String) throws {
            let misfit = GGUFWriteError.valueDoesNotFit(key: key, type: type)
            switch (type, value) {
            case (.uint8, .uint(let v)): integer(try Self.narrow(v, UInt8.self, misfit))
            case (.uint16, .uint(let v)): integer(try Self.narrow(v, UInt16.self, misfit))
            case (.uint32, .uint(let v)): integer(try Self.narrow(v, UInt32.self, misfit))
            case (.uint64, .uint(let v)): integer(v)
            case (.int8, .int(let v)): integer(try Self.narrow(v, Int8.self, misfit))
            case (.int16, .int(let v)): integer(try Self.narrow(v, Int16.self, misfit))
            case (.int32, .int(let v)): integer(try Self.narrow(v, Int32.self, misfit))
            case (.int64, .int(let v)): integer(v)
            // The reader gives signed types' non-negative values back as `.int`; a caller may say `.uint`.
            case (.int8, .uint(let v)): integer(try Self.narrow(v, Int8.self, misfit))
            case (.int16, .uint(let v)): integer(try Self.narrow(v, Int16.self, misfit))
            case (.int32, .uint(let v)): integer(try Self.narrow(v, Int32.self, misfit))
            case (.int64, .uint(let v)): integer(try Self.narrow(v, Int64.self, misfit))
            case (.float32, .float(let v)): u32(Float(v).bitPattern)
            case (.float64, .float(let v)): u64(v.bitPattern)
            case (.bool, .bool(let v)): bytes.append(v ? 1 : 0)
            case (.string, .string(let v)): string(v)
            case (.array(let element), .array(let values)):
                guard element.code != 9 else { throw misfit }
                u32(element.code)
                u64(UInt64(values.count))
                for v in values {
                    // The error names the array's type, not the element's.
                    do { try self.value(v, as: element, key: key) } catch { throw misfit }
                }
            default: throw misfit
            }
        }

        static func narrow<T: FixedWidthInteger>(
            _ v: some FixedWidthInteger, _: T.Type, _ misfit: GGUFWriteError
        ) throws -> T {
            guard let n = T(exactly: v) else { throw misfit }
            return n
        }
    }
}

/// Where ``GGUFWriter`` puts the bytes.
private protocol ByteSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// An open file descriptor; short writes are continued, EINTR retried.
private struct FileSink: ByteSink {
    let fd: Int32
    let path: String

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            guard let start = bytes.baseAddress else { return }
            let n = systemWrite(fd, start + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw GGUFWriteError.cannotWrite(path: path, errno: errno)
            }
            done += n
        }
    }
}

/// A buffer of the file's exact size.
private struct MemorySink: ByteSink {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    var offset = 0

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(offset + bytes.count <= capacity, "GGUFWriter laid out fewer bytes than it wrote")
        if let start = bytes.baseAddress { (base + offset).copyMemory(from: start, byteCount: bytes.count) }
        offset += bytes.count
    }
}

/// `write(2)` (a method named `write` hides the global function inside the sink).
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
