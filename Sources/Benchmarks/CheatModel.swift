import Foundation
import Inference
import Tensor

/// Models that are not the registered one, made from it at run time: the weight-substitution
/// cheats of PROTOCOL §7.5 (a more coarsely quantised copy, the model with layers removed) that
/// `gonka bench validation` measures and the devnet tests serve with `--node-model`. Each is a
/// ``GGUFWriter`` over the original's bytes: load it in memory with ``model(_:from:)``, or write a
/// file with ``write(_:from:to:)``.
public enum CheatModel {
    /// A cheat class.
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// Every 4-bit weight snapped to `bits`-bit levels (``coarserQuantisation(of:bits:)``).
        case coarserQuantisation(bits: Int)
        /// `count` transformer layers removed, spread over the middle (``layersToRemove(_:of:)``).
        case removedLayers(count: Int)

        /// A file-name tag: `q3`, `minus4layers`.
        public var tag: String {
            switch self {
            case .coarserQuantisation(let bits): "q\(bits)"
            case .removedLayers(let count): "minus\(count)layers"
            }
        }

        public var description: String {
            switch self {
            case .coarserQuantisation(let bits): "4-bit weights snapped to \(bits)-bit levels"
            case .removedLayers(let count): "\(count) layers removed"
            }
        }
    }

    /// The cheat `kind` of `file`, ready to write or load.
    public static func writer(_ kind: Kind, from file: GGUFFile) throws -> GGUFWriter {
        switch kind {
        case .coarserQuantisation(let bits): try coarserQuantisation(of: file, bits: bits)
        case .removedLayers(let count):
            try removingLayers(layersToRemove(count, of: try blockCount(of: file)), from: file)
        }
    }

    /// The cheat `kind` of `file` as a model in memory (nothing is written to disk).
    public static func model(_ kind: Kind, from file: GGUFFile) throws -> LlamaModel {
        try LlamaModel(file: try writer(kind, from: file).makeFile(name: "\(file.path) (\(kind.tag))"))
    }

    /// Writes the cheat `kind` of the GGUF file at `original` into `directory` (created if needed)
    /// as `STEM.TAG.gguf` and returns its path; serve it with `gonka devnet up --node-model K=PATH`.
    @discardableResult
    public static func write(_ kind: Kind, from original: String, to directory: URL) throws -> URL {
        let file = try GGUFFile(path: original)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let stem = URL(fileURLWithPath: original).deletingPathExtension().lastPathComponent
        let url = directory.appendingPathComponent("\(stem).\(kind.tag).gguf")
        try writer(kind, from: file).write(to: url.path)
        return url
    }

    // MARK: Coarser quantisation

    /// `file` with every 4-bit block weight (Q4_0, Q4_1) snapped to the nearest of `bits`-bit
    /// levels spread over the same range, in the same block format (scale and minimum kept):
    /// nibble q becomes `round(round(q·L/15)·15/L)` with `L = 2^bits − 1`. For 3 bits the 16
    /// nibbles fall on 8 values (0, 2, 4, 6, 9, 11, 13, 15). Tensors of other types (Q8_0, F16,
    /// F32) are left alone. `bits` is 1–3 (4 would be the original).
    public static func coarserQuantisation(of file: GGUFFile, bits: Int = 3) throws -> GGUFWriter {
        guard (1...3).contains(bits) else {
            throw BenchmarkError("coarser quantisation needs 1–3 bits, got \(bits)")
        }
        let snapped = snappedBytes(bits: bits)
        var writer = GGUFWriter(copying: file)
        var changed = 0
        for index in writer.tensors.indices {
            let tensor = writer.tensors[index]
            guard case .file(_, let info) = tensor.data, let header = nibbleOffset(tensor.type) else { continue }
            var bytes = [UInt8](file.bytes(info))
            let blockBytes = tensor.type.blockBytes
            for block in stride(from: 0, to: bytes.count, by: blockBytes) {
                for i in (block + header)..<(block + blockBytes) { bytes[i] = snapped[Int(bytes[i])] }
            }
            writer.tensors[index].data = .bytes(bytes)
            changed += 1
        }
        guard changed > 0 else { throw BenchmarkError("\(file.path) has no 4-bit (Q4_0/Q4_1) tensors to coarsen") }
        return writer
    }

    /// Where a block's nibbles start in the 4-bit formats (after the f16 scale, and the f16 minimum
    /// of Q4_1), nil for the other types.
    static func nibbleOffset(_ type: GGMLType) -> Int? {
        switch type {
        case .q4_0: 2
        case .q4_1: 4
        default: nil
        }
    }

    /// The snapped nibble of each 4-bit value.
    static func snappedNibbles(bits: Int) -> [UInt8] {
        let levels = Double((1 << bits) - 1)
        return (0..<16).map { q in UInt8(((Double(q) * levels / 15).rounded() * 15 / levels).rounded()) }
    }

    /// Each byte (two nibbles) with both nibbles snapped.
    static func snappedBytes(bits: Int) -> [UInt8] {
        let nibbles = snappedNibbles(bits: bits)
        return (0..<256).map { b in nibbles[b & 15] | nibbles[b >> 4] << 4 }
    }

    // MARK: Removed layers

    /// `file` without the transformer layers `layers` (0-based): their `blk.I.*` tensors dropped,
    /// the rest renumbered from 0 in order, `ARCH.block_count` lowered to match (same type).
    public static func removingLayers(_ layers: some Collection<Int>, from file: GGUFFile) throws -> GGUFWriter {
        let total = try blockCount(of: file)
        let removed = Set(layers)
        guard !removed.isEmpty, removed.allSatisfy({ (0..<total).contains($0) }), removed.count < total else {
            throw BenchmarkError(
                "layers to remove must be 1–\(total - 1) distinct indices in 0..<\(total), got \(layers.sorted())")
        }
        var writer = GGUFWriter(copying: file)
        writer.tensors = writer.tensors.compactMap { tensor in
            guard let (layer, rest) = layerOf(tensor.name) else { return tensor }
            if removed.contains(layer) { return nil }
            var renamed = tensor
            renamed.name = "blk.\(layer - removed.count(where: { $0 < layer })).\(rest)"
            return renamed
        }
        writer[try blockCountKey(of: file)] = .uint(UInt64(total - removed.count))
        return writer
    }

    /// `count` layers of `total` spread evenly over the middle (the first and last kept):
    /// `i·total/(count+1)` for i = 1…count, e.g. 6, 12, 18, 24 for 4 of 30.
    public static func layersToRemove(_ count: Int, of total: Int) throws -> [Int] {
        guard count >= 1, count <= total - 2 else {
            throw BenchmarkError("can remove 1–\(max(total - 2, 0)) of \(total) layers, not \(count)")
        }
        return (1...count).map { $0 * total / (count + 1) }
    }

    /// `(I, REST)` of a tensor named `blk.I.REST`.
    static func layerOf(_ name: String) -> (Int, Substring)? {
        let parts = name.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        return (layer, parts[2])
    }

    static func blockCountKey(of file: GGUFFile) throws -> String {
        "\(try file.string("general.architecture")).block_count"
    }

    static func blockCount(of file: GGUFFile) throws -> Int {
        try file.int(try blockCountKey(of: file))
    }
}
