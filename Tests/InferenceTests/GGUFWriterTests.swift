import Foundation
import GonkaTestKit
import Inference
import Tensor
import Testing

@Suite(.timeLimit(.minutes(3))) struct GGUFWriterTests {
    static func temporaryPath(_ tag: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("gguf-\(tag)-\(UUID().uuidString).gguf").path
    }

    /// Same keys in the same order with the same values and types, same tensor table, same bytes.
    static func expectSameContents(_ a: GGUFFile, _ b: GGUFFile) {
        #expect(a.metadataKeys == b.metadataKeys)
        #expect(a.metadata == b.metadata)
        #expect(a.metadataTypes == b.metadataTypes)
        #expect(a.tensorNames == b.tensorNames)
        #expect(a.alignment == b.alignment)
        var differing: [String] = []
        for name in a.tensorNames {
            guard let x = a.tensors[name], let y = b.tensors[name] else {
                differing.append(name)
                continue
            }
            if x.shape != y.shape || x.type != y.type || x.byteCount != y.byteCount
                || memcmp(a.data(x), b.data(y), x.byteCount) != 0
            {
                differing.append(name)
            }
        }
        #expect(differing.isEmpty, "tensors that differ: \(differing.prefix(5))")
    }

    /// The real model read, written to a temporary file and read again is the same file, and in
    /// memory too; the copies load and generate the same seeded tokens and logprobs.
    @Test func theModelFileRoundTrips() async throws {
        let path = try TestModelFile.path()
        let copyPath = Self.temporaryPath("roundtrip")
        defer { try? FileManager.default.removeItem(atPath: copyPath) }
        let original = try GGUFFile(path: path)
        let writer = GGUFWriter(copying: original)
        try writer.write(to: copyPath)
        let copy = try GGUFFile(path: copyPath)
        let inMemory = try writer.makeFile()
        #expect(!FileManager.default.fileExists(atPath: copyPath + ".partial"))
        Self.expectSameContents(original, copy)
        Self.expectSameContents(original, inMemory)
        #expect(copy.metadataTypes["llama.block_count"] == .uint32)
        #expect(copy.metadataTypes["tokenizer.ggml.token_type"] == .array(.int32))
        #expect(try writer.byteCount() == copy.size)
        // Written the way llama.cpp wrote it: the same bytes, not only the same contents (measured:
        // the 98,362,432 bytes of SmolLM2-135M-Instruct.Q4_1.gguf come back identical).
        let same = try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: copyPath))
        print("GGUF round trip: \(copy.size) bytes, byte-identical to the original: \(same)")
        #expect(same)

        let parameters = SamplingParameters(temperature: 0.8, topK: 40, maxTokens: 12, seed: 1234, topLogprobs: 3)
        let (a, b, c) = try await BackgroundCompute.run {
            let models = try [original, copy, inMemory].map { try LlamaModel(file: $0) }
            let prompt = models[0].tokenizer.encode("Once upon a time")
            let runs = try models.map {
                try LlamaSession(model: $0, capacity: 64).generate(prompt: prompt, parameters: parameters)
            }
            return (runs[0], runs[1], runs[2])
        }
        #expect(a.tokens.count == 12)
        #expect(a == b)
        #expect(a == c)
    }

    /// Every metadata type the reader knows comes back with its value and type.
    @Test func everyValueTypeRoundTrips() throws {
        var writer = GGUFWriter()
        let entries: [GGUFWriter.Entry] = [
            .init(key: "u8", value: .uint(255), type: .uint8),
            .init(key: "i8", value: .int(-128), type: .int8),
            .init(key: "u16", value: .uint(65_535), type: .uint16),
            .init(key: "i16", value: .int(-32_768), type: .int16),
            .init(key: "u32", value: .uint(4_000_000_000), type: .uint32),
            .init(key: "i32", value: .int(-2_000_000_000), type: .int32),
            .init(key: "f32", value: .float(0.5), type: .float32),
            .init(key: "bool", value: .bool(true), type: .bool),
            .init(key: "string", value: .string("héllo"), type: .string),
            .init(key: "u64", value: .uint(UInt64.max), type: .uint64),
            .init(key: "i64", value: .int(Int64.min), type: .int64),
            .init(key: "f64", value: .float(1e-300), type: .float64),
            .init(key: "strings", value: .array([.string("a"), .string("")]), type: .array(.string)),
            .init(key: "ints", value: .array([.int(-1), .int(7)]), type: .array(.int32)),
            .init(key: "floats", value: .array([.float(1.5)]), type: .array(.float32)),
            .init(key: "empty", value: .array([]), type: .array(.uint8)),
            .init(key: "natural", value: .uint(30)),
        ]
        writer.metadata = entries
        let floats: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        writer.tensors = [
            .init(
                name: "t", shape: [8], type: .f32, data: .bytes(floats.withUnsafeBytes { Array($0) }))
        ]
        let file = try writer.makeFile()
        #expect(file.metadataKeys == entries.map(\.key))
        for entry in entries {
            #expect(file.metadata[entry.key] == entry.value, "\(entry.key)")
            #expect(file.metadataTypes[entry.key] == entry.type, "\(entry.key)")
        }
        #expect(file.metadataTypes["natural"] == .uint32)
        #expect(try file.vector("t", count: 8) == floats)
        // Setting a key keeps its place and type; nil removes it.
        writer["u16"] = .uint(7)
        writer["string"] = nil
        writer["new"] = .string("last")
        let edited = try writer.makeFile()
        #expect(edited.metadataKeys.last == "new" && !edited.metadataKeys.contains("string"))
        #expect(edited.metadata["u16"] == .uint(7) && edited.metadataTypes["u16"] == .uint16)
    }

    @Test(arguments: [
        (GGUFValue.uint(256), GGUFValueType.uint8),
        (.int(-1), .uint32),
        (.int(40_000), .int16),
        (.string("3"), .int32),
        (.float(1), .string),
        (.array([.uint(1), .int(-1)]), .array(.uint32)),
        (.array([.array([])]), .array(.array(.int32))),
        (.uint(UInt64.max), .int64),
    ])
    func aValueThatIsNotItsTypeIsRefused(value: GGUFValue, type: GGUFValueType) {
        var writer = GGUFWriter()
        writer.metadata = [.init(key: "k", value: value, type: type)]
        #expect(throws: GGUFWriteError.valueDoesNotFit(key: "k", type: type)) { try writer.makeFile() }
    }

    @Test func badTablesAreRefusedByName() throws {
        let four: [UInt8] = Array(repeating: 0, count: 4)
        var writer = GGUFWriter()
        writer.metadata = [.init(key: "a", value: .bool(true)), .init(key: "a", value: .bool(false))]
        #expect(throws: GGUFWriteError.duplicateKey("a")) { try writer.makeFile() }

        writer = GGUFWriter()
        writer.tensors = [
            .init(name: "x", shape: [1], type: .f32, data: .bytes(four)),
            .init(name: "x", shape: [1], type: .f32, data: .bytes(four)),
        ]
        #expect(throws: GGUFWriteError.duplicateTensor("x")) { try writer.makeFile() }

        writer.tensors = [.init(name: "x", shape: [2], type: .f32, data: .bytes(four))]
        #expect(throws: GGUFWriteError.wrongByteCount("x", expected: 8, found: 4)) { try writer.makeFile() }

        for shape in [[], [0], [1, 1, 1, 1, 1], [16]] {
            writer.tensors = [.init(name: "q", shape: shape, type: .q4_1, data: .bytes(four))]
            #expect(throws: GGUFWriteError.badShape("q", shape: shape, type: .q4_1)) { try writer.makeFile() }
        }

        writer = GGUFWriter(alignment: 24)
        #expect(throws: GGUFWriteError.badAlignment(24)) { try writer.makeFile() }
        writer = GGUFWriter(alignment: 64)
        writer["general.alignment"] = .uint(32)
        #expect(throws: GGUFWriteError.badAlignment(64)) { try writer.makeFile() }
        writer["general.alignment"] = .uint(64)
        #expect(try writer.makeFile().alignment == 64)

        let error = #expect(throws: GGUFWriteError.self) { try GGUFWriter().write(to: "/nonexistent/dir/x.gguf") }
        #expect(error?.shortDescription == "cannot_write")
        #expect(error?.description.contains("/nonexistent/dir/x.gguf") == true)
    }

    /// A key twice in a file is corrupt (it was silently overwritten before the writer kept order).
    @Test func aFileWithAKeyTwiceIsCorrupt() throws {
        var b = GGUFBuilder()
        b.u32(0x4655_4747)
        b.u32(3)
        b.u64(0)
        b.u64(2)
        for value in ["x", "y"] {
            b.string("general.architecture")
            b.u32(8)
            b.string(value)
        }
        let error = #expect(throws: GGUFError.self) { try GGUFFile(bytes: b.bytes) }
        #expect(error?.shortDescription == "corrupt")
        #expect(error?.description.contains("appears twice") == true)
    }

    /// An empty array of an unknown element type is refused like a non-empty one.
    @Test func anArrayOfAnUnknownTypeIsCorruptEvenWhenEmpty() throws {
        var b = GGUFBuilder()
        b.u32(0x4655_4747)
        b.u32(3)
        b.u64(0)
        b.u64(1)
        b.string("k")
        b.u32(9)
        b.u32(99)
        b.u64(0)
        let error = #expect(throws: GGUFError.self) { try GGUFFile(bytes: b.bytes) }
        #expect(error?.shortDescription == "corrupt")
    }
}
