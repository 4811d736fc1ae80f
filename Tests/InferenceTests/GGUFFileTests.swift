import Foundation
import Inference
import Testing

/// Builds small GGUF v3 files byte by byte.
struct GGUFBuilder {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += Array(s.utf8)
    }

    /// A file with one `general.architecture` string and one F32 vector tensor `t` of 8 floats.
    static func small(
        tensorType: UInt32 = 0, magic: UInt32 = 0x4655_4747, version: UInt32 = 3, dataOffset: UInt64 = 0
    )
        -> (bytes: [UInt8], tensorInfoOffset: Int)
    {
        var b = GGUFBuilder()
        b.u32(magic)
        b.u32(version)
        b.u64(1)  // tensors
        b.u64(1)  // metadata pairs
        b.string("general.architecture")
        b.u32(8)
        b.string("llama")
        let infoOffset = b.bytes.count
        b.string("t")
        b.u32(1)
        b.u64(8)
        b.u32(tensorType)
        b.u64(dataOffset)
        while b.bytes.count % 32 != 0 { b.bytes.append(0) }
        for i in 0..<8 { withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { b.bytes += $0 } }
        return (b.bytes, infoOffset)
    }
}

struct GGUFFileTests {
    func write(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-test-\(UUID().uuidString).gguf")
            .path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func loadError(_ bytes: [UInt8]) throws -> GGUFError? {
        let path = try write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try GGUFFile(path: path)
            return nil
        } catch let error as GGUFError {
            return error
        }
    }

    @Test func readsAWellFormedFile() throws {
        let path = try write(GGUFBuilder.small().bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try GGUFFile(path: path)
        #expect(try file.string("general.architecture") == "llama")
        #expect(try file.vector("t", count: 8) == (0..<8).map(Float.init))
        #expect(file.tensorNames == ["t"])
    }

    @Test func everyTruncationIsAClearError() throws {
        let whole = GGUFBuilder.small().bytes
        for length in 0..<whole.count {
            let error = try #require(try loadError(Array(whole.prefix(length))), "length \(length) loaded")
            #expect(error.shortDescription == "truncated", "length \(length): \(error)")
            #expect(error.offset != nil)
            #expect(error.description.contains("offset"))
        }
    }

    @Test func badMagicVersionTypeAndAlignment() throws {
        let magic = try #require(try loadError(GGUFBuilder.small(magic: 0x1234_5678).bytes))
        #expect(magic.shortDescription == "bad_magic" && magic.offset == 0)
        let version = try #require(try loadError(GGUFBuilder.small(version: 2).bytes))
        #expect(version.shortDescription == "unsupported_version" && version.offset == 4)
        let small = GGUFBuilder.small(tensorType: 99)
        let type = try #require(try loadError(small.bytes))
        #expect(type.shortDescription == "unsupported_tensor_type")
        #expect(type.offset == small.tensorInfoOffset)
        #expect(type.description.contains("offset \(small.tensorInfoOffset)"))
        let misaligned = try #require(try loadError(GGUFBuilder.small(dataOffset: 4).bytes))
        #expect(misaligned.shortDescription == "corrupt")
        let outside = try #require(try loadError(GGUFBuilder.small(dataOffset: 1 << 40).bytes))
        #expect(outside.shortDescription == "truncated")
    }

    @Test func aFileWithoutTheModelKeysIsNotAModel() throws {
        let path = try write(GGUFBuilder.small().bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: GGUFError.missingKey("llama.block_count")) { try LlamaModel(path: path) }
    }

    @Test func hugeCountsDoNotAllocate() throws {
        var b = GGUFBuilder()
        b.u32(0x4655_4747)
        b.u32(3)
        b.u64(0)
        b.u64(1)
        b.u64(UInt64.max)  // key length
        let error = try #require(try loadError(b.bytes))
        #expect(error.shortDescription == "corrupt" && error.offset == 24)
    }

    @Test func missingFileIsAnError() {
        #expect(throws: GGUFError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
    }

    @Test func aTruncatedModelNamesTheOffset() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let handle = try #require(FileHandle(forReadingAtPath: model.file.path))
        let prefix = try #require(try handle.read(upToCount: 40_000_000))
        try handle.close()
        let error = try #require(try loadError(Array(prefix)))
        #expect(error.shortDescription == "truncated")
        #expect(error.description.contains("offset"))
        print("truncated model: \(error)")
        let header = try #require(try loadError(Array(prefix.prefix(1_000_000))))
        #expect(header.shortDescription == "truncated")
    }
}
