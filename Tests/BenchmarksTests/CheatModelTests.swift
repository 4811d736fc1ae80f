import Benchmarks
import Foundation
import GonkaTestKit
import Inference
import Tensor
import Testing

/// The cheat models of `gonka bench validation` and the devnet tests, made from the real model:
/// each is what it says (its bytes), loads, still writes text, and scores measurably differently.
@Suite(.timeLimit(.minutes(5))) struct CheatModelTests {
    static let prompt = "The capital of France is"

    /// The original's greedy continuation of ``prompt`` scored under `original` and `cheat`: the
    /// mean |Δ logprob| of the forced tokens, and each model's own greedy text.
    struct Comparison: Sendable {
        var meanDelta: Float
        var originalText: String
        var cheatText: String
        var cheatTokens: Int
    }

    static func compare(_ original: LlamaModel, _ cheat: LlamaModel) throws -> Comparison {
        let prompt = original.tokenizer.encode(Self.prompt)
        let parameters = SamplingParameters(temperature: 0, maxTokens: 24)
        let honest = try LlamaSession(model: original, capacity: 64).generate(prompt: prompt, parameters: parameters)
        let cheated = try LlamaSession(model: cheat, capacity: 64).generate(prompt: prompt, parameters: parameters)
        let a = try LlamaSession(model: original, capacity: 64).score(prompt: prompt, completion: honest.tokens)
        let b = try LlamaSession(model: cheat, capacity: 64).score(prompt: prompt, completion: honest.tokens)
        let delta = zip(a, b).map { abs($0.logprob - $1.logprob) }.reduce(0, +) / Float(max(a.count, 1))
        return Comparison(
            meanDelta: delta, originalText: honest.text, cheatText: cheated.text, cheatTokens: cheated.tokens.count)
    }

    /// 3-bit levels of a nibble: pairs of nibbles share one of 8 values.
    static let threeBitLevels: Set<UInt8> = [0, 2, 4, 6, 9, 11, 13, 15]

    @Test func coarserQuantisationSnapsEveryFourBitWeightAndChangesTheScores() async throws {
        let original = try GGUFFile(path: try TestModelFile.path())
        let file = try CheatModel.coarserQuantisation(of: original, bits: 3).makeFile()
        var coarsened = 0
        var nibbles: Set<UInt8> = []
        for name in original.tensorNames {
            let a = try #require(original.tensors[name])
            let b = try #require(file.tensors[name])
            let x = original.bytes(a)
            let y = file.bytes(b)
            #expect(a.shape == b.shape && a.type == b.type)
            guard a.type == .q4_1 || a.type == .q4_0 else {
                #expect(x.elementsEqual(y), "\(name) (\(a.type)) must be left alone")
                continue
            }
            coarsened += 1
            let header = a.type == .q4_1 ? 4 : 2
            for block in stride(from: 0, to: x.count, by: a.type.blockBytes) {
                // Scale and minimum kept.
                #expect(x[block..<(block + header)].elementsEqual(y[block..<(block + header)]))
                for i in (block + header)..<(block + a.type.blockBytes) {
                    nibbles.insert(y[i] & 15)
                    nibbles.insert(y[i] >> 4)
                }
            }
        }
        #expect(coarsened == 210)
        #expect(nibbles == Self.threeBitLevels)
        let cheat = try LlamaModel(file: file)
        let comparison = try await BackgroundCompute.run { try Self.compare(try LlamaModel(file: original), cheat) }
        print(
            "q3 cheat: mean |Δlogprob| \(comparison.meanDelta) on \"\(Self.prompt)\"; honest \"\(comparison.originalText)\", cheat \"\(comparison.cheatText)\""
        )
        #expect(comparison.cheatTokens > 0 && !comparison.cheatText.isEmpty)
        #expect(comparison.meanDelta > 0.05)
    }

    @Test func removedLayersAreGoneRenumberedAndChangeTheScores() async throws {
        let path = try TestModelFile.path()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cheat-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try CheatModel.layersToRemove(4, of: 30) == [6, 12, 18, 24])
        let url = try CheatModel.write(.removedLayers(count: 4), from: path, to: dir)
        #expect(url.lastPathComponent == "SmolLM2-135M-Instruct.Q4_1.minus4layers.gguf")
        let original = try GGUFFile(path: path)
        let file = try GGUFFile(path: url.path)
        #expect(file.metadata["llama.block_count"] == .uint(26))
        #expect(file.metadataTypes["llama.block_count"] == .uint32)
        #expect(file.tensors.count == 272 - 4 * 9)
        #expect(!file.tensorNames.contains { $0.hasPrefix("blk.26.") })
        // Layer 7 of the original is layer 6 of the cheat, byte for byte; layer 5 stays 5.
        for (from, to) in [(7, 6), (5, 5), (29, 25)] {
            let a = try #require(original.tensors["blk.\(from).ffn_up.weight"])
            let b = try #require(file.tensors["blk.\(to).ffn_up.weight"])
            #expect(original.bytes(a).elementsEqual(file.bytes(b)), "blk.\(from) → blk.\(to)")
        }
        let cheat = try LlamaModel(file: file)
        #expect(cheat.config.layers == 26)
        let comparison = try await BackgroundCompute.run { try Self.compare(try LlamaModel(file: original), cheat) }
        print(
            "minus-4-layers cheat: mean |Δlogprob| \(comparison.meanDelta) on \"\(Self.prompt)\"; cheat \"\(comparison.cheatText)\""
        )
        #expect(comparison.cheatTokens > 0 && !comparison.cheatText.isEmpty)
        #expect(comparison.meanDelta > 0.05)
    }

    @Test func impossibleCheatsAreClearErrors() throws {
        let original = try GGUFFile(path: try TestModelFile.path())
        for bits in [0, 4, 8] {
            let error = #expect(throws: BenchmarkError.self) {
                try CheatModel.coarserQuantisation(of: original, bits: bits)
            }
            #expect(error?.description.contains("1–3 bits") == true)
        }
        for layers in [[], [30], [-1], Array(0..<30)] {
            let error = #expect(throws: BenchmarkError.self) { try CheatModel.removingLayers(layers, from: original) }
            #expect(error?.description.contains("layers to remove") == true, "\(layers)")
        }
        for count in [0, 29] {
            #expect(throws: BenchmarkError.self) { try CheatModel.layersToRemove(count, of: 30) }
        }
        // A model without 4-bit tensors has nothing to coarsen; one without a block count no layers.
        var floats = GGUFWriter()
        floats["general.architecture"] = .string("llama")
        floats.tensors = [.init(name: "blk.0.w", shape: [4], type: .f32, data: .bytes(Array(repeating: 0, count: 16)))]
        let plain = try floats.makeFile()
        let none = #expect(throws: BenchmarkError.self) { try CheatModel.coarserQuantisation(of: plain, bits: 3) }
        #expect(none?.description.contains("no 4-bit") == true)
        #expect(throws: GGUFError.missingKey("llama.block_count")) { try CheatModel.removingLayers([0], from: plain) }
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("none-\(UUID().uuidString).gguf")
        #expect(throws: GGUFError.self) {
            try CheatModel.write(
                .coarserQuantisation(bits: 3), from: missing.path, to: FileManager.default.temporaryDirectory)
        }
    }
}
