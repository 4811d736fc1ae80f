import Foundation
import GonkaCore
import Testing

@testable import ProofOfCompute

/// Seeds shared by the tests: arbitrary but fixed.
enum Seeds {
    static let h = Hash.sha256("test block").hex
    static let h2 = Hash.sha256("another block").hex
    static let pk = Hash.sha256("participant A").hex
    static let pk2 = Hash.sha256("participant B").hex
}

/// Built once: the devnet weights and engines every test can share (building them is the slow part).
enum Shared {
    private static let built: (PocWeights, PocEngine, PocReference)? = {
        guard let weights = try? PocWeights(blockHashHex: Seeds.h, config: .devnet) else { return nil }
        return (weights, PocEngine(weights: weights, threads: 2), PocReference(weights: weights))
    }()

    static var weights: PocWeights { get throws { try #require(built).0 } }
    static var engine: PocEngine { get throws { try #require(built).1 } }
    static var reference: PocReference { get throws { try #require(built).2 } }
}

@Suite struct PocModelConfigTests {
    @Test func presetsAreValid() throws {
        for preset in [PocModelConfig.devnet, .testnet, .mainnet] { try preset.validate() }
        #expect(PocModelConfig.devnet.headDim == 32)
        #expect(PocModelConfig.preset(named: "DevNet") == .devnet)
        #expect(PocModelConfig.preset(named: "nope") == nil)
    }

    @Test(arguments: [
        PocModelConfig(dim: 130, nLayers: 2, nHeads: 4, vocab: 2048, ffnHidden: 512, seqLen: 8),  // 130 % 4
        PocModelConfig(dim: 12, nLayers: 2, nHeads: 4, vocab: 2048, ffnHidden: 512, seqLen: 8),  // head width 3
        PocModelConfig(dim: 0, nLayers: 2, nHeads: 4, vocab: 2048, ffnHidden: 512, seqLen: 8),
        PocModelConfig(dim: 128, nLayers: -1, nHeads: 4, vocab: 2048, ffnHidden: 512, seqLen: 8),
        PocModelConfig(dim: 128, nLayers: 2, nHeads: 4, vocab: 1, ffnHidden: 512, seqLen: 8),
        PocModelConfig(dim: 128, nLayers: 2, nHeads: 4, vocab: 2048, ffnHidden: 1 << 30, seqLen: 8),
        PocModelConfig(dim: 128, nLayers: 2, nHeads: 4, vocab: 2048, ffnHidden: 512, seqLen: 8, normEps: 0),
        PocModelConfig(dim: 128, nLayers: 2, nHeads: 4, vocab: 2048, ffnHidden: 512, seqLen: 8, ropeTheta: .nan),
    ])
    func nonsenseIsRefused(config: PocModelConfig) {
        #expect(throws: PocError.self) { try config.validate() }
        #expect(throws: PocError.self) { _ = try PocWeights(blockHashHex: Seeds.h, config: config) }
    }

    @Test func notDivisibleSaysSo() {
        let config = PocModelConfig(dim: 130, nLayers: 2, nHeads: 4, vocab: 2048, ffnHidden: 512, seqLen: 8)
        #expect(throws: PocError.invalidConfig("dim = 130 is not divisible by n_heads = 4")) { try config.validate() }
    }

    @Test func codableUsesSnakeCase() throws {
        let data = try JSONEncoder().encode(PocModelConfig.devnet)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "dim", "n_layers", "n_heads", "vocab", "ffn_hidden", "seq_len", "norm_eps", "rope_theta",
            ])
        #expect(try JSONDecoder().decode(PocModelConfig.self, from: data) == .devnet)
    }

    @Test func parameterAndFlopCounts() {
        let c = PocModelConfig.devnet
        // 2 × (4·128² + 3·128·512 + 2·128) + 128 + 2048·128
        #expect(c.parameterCount == 2 * (65_536 + 196_608 + 256) + 128 + 262_144)
        // 2 × (2·8·(4·128² + 3·128·512) + 2·128·8·9) + 2·2048·128
        #expect(c.flopsPerNonce == 2 * (16 * 262_144 + 18_432) + 524_288)
    }
}

@Suite struct PocWeightsTests {
    @Test func poolIsScaledPhiloxNormals() throws {
        let w = try Shared.weights
        #expect(w.poolSize == 50_000)  // ⌈0.05 × 787,072⌉ = 39,354 < 50,000
        let stream = PhiloxStream(seedString: "\(Seeds.h)/pool")
        for i in [0, 1, 2, 777, 49_999] {
            #expect(w.poolValue(i) == Philox.normal(stream.block(at: UInt64(i))) * 0.02)
        }
        #expect(PocWeights.poolSize(for: .mainnet) == (PocModelConfig.mainnet.parameterCount + 19) / 20)
    }

    @Test func tensorSlicesStartAtTheirHashAndWrap() throws {
        let w = try Shared.weights
        #expect(w.tensors.count == 2 * 9 + 2)
        for (name, tensor) in w.tensors {
            let digest = Array(Hash.sha256("\(Seeds.h)/\(name)").bytes.prefix(8))
            let start = digest.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 50_000
            #expect(tensor.offset == Int(start), "\(name)")
        }
        // "output" (2048 × 128 = 262,144 values) is longer than the pool: it wraps at least five times.
        let output = try #require(w.tensors["output"])
        let values = try #require(w.values("output"))
        for i in [0, 1, 50_000 - output.offset - 1, 50_000 - output.offset, 131_071, 262_143] {
            #expect(values[i] == w.poolValue((output.offset + i) % 50_000), "output[\(i)]")
        }
        // A norm vector's slice starts at its own hash too.
        let norm = try #require(w.tensors["layers.1.ffn_norm"])
        #expect(try #require(w.values("layers.1.ffn_norm"))[5] == w.poolValue((norm.offset + 5) % 50_000))
    }

    @Test func badBlockHashIsRefused() {
        for bad in ["", "zz", String(repeating: "a", count: 63), String(repeating: "g", count: 64)] {
            #expect(throws: PocError.self) { _ = try PocWeights(blockHashHex: bad, config: .devnet) }
        }
    }
}
