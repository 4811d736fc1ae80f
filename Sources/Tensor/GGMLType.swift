/// The GGUF tensor element types this engine computes with, by their GGUF type id.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q8_0 = 8

    /// Elements per block (1 for the float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16: 1
        case .q4_0, .q4_1, .q8_0: 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16: 2
        case .q4_0: 18  // f16 d, 16 bytes of nibbles
        case .q4_1: 20  // f16 d, f16 m, 16 bytes of nibbles
        case .q8_0: 34  // f16 d, 32 int8
        }
    }

    /// Bytes of a row of `elements` elements, or nil when `elements` is not a whole number of blocks.
    public func rowBytes(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        return elements / blockSize * blockBytes
    }

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q8_0: "Q8_0"
        }
    }
}

/// A read-only 2-D weight matrix in GGUF layout: `rows` rows of `cols` elements, each row a run of
/// blocks of `type`; `y = W·x` has one output per row.
///
/// `@unchecked Sendable`: the bytes are immutable (a read-only memory map or a buffer owned by the
/// model) and outlive every matrix value handed out by their owner.
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    public let rowBytes: Int
    /// The factors of the batched product, when the owner built them (``with(_:)``); unretained
    /// like `data`, so copying a matrix in a kernel's inner loops costs no reference counting.
    var panelFactors: Unmanaged<PanelFactors>?

    /// A matrix over `data`; `cols` must be a multiple of the type's block size.
    public init?(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer) {
        guard rows > 0, cols > 0, let rowBytes = type.rowBytes(elements: cols) else { return nil }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
        self.rowBytes = rowBytes
    }

    /// The start of row `row`.
    @inline(__always)
    public func row(_ row: Int) -> UnsafeRawPointer { data + row * rowBytes }

    /// Row `row` as floats into `out[0..<cols]`.
    public func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        Kernels.dequantize(type, self.row(row), count: cols, into: out)
    }
}
