import Foundation
import GonkaCore
import ProofOfCompute
import Tensor

/// `gonka bench poc`: PoC nonces per second at each thread count, the GFLOP/s that means, and the
/// best `Kernels.matMul` GFLOP/s at the PoC's own shapes beside it.
public struct PocBenchmark: Sendable {
    /// Thread counts to measure.
    public var threadCounts: [Int]
    /// Seconds per measurement.
    public var seconds: Double
    /// PoC model preset: devnet, testnet or mainnet.
    public var preset: String

    /// The benchmark with these settings (the options of its command).
    public init(threadCounts: [Int], seconds: Double, preset: String) {
        self.threadCounts = threadCounts
        self.seconds = seconds
        self.preset = preset
    }

    /// Measures and reports: every line of the report goes to `output`, in order, as it is measured.
    public func run(output: (String) -> Void) throws {
        let config = PocModelConfig.preset(named: preset) ?? .devnet
        let weights = try PocWeights(blockHashHex: PocCalibration.blockHashHex, config: config)
        output("PoC model \(preset): \(config); \(String(format: "%.2f", config.flopsPerNonce / 1e6)) MFLOP per nonce")
        output("| threads |   nonces/s | PoC GFLOP/s | matmul GFLOP/s (best shape) | PoC / matmul")
        output("|--------:|-----------:|------------:|----------------------------:|-------------:")
        for count in threadCounts {
            let engine = PocEngine(weights: weights, threads: count)
            _ = try engine.distances(publicKeyHex: PocCalibration.publicKeyHex, nonces: Array(0..<64))
            var tried = 0
            var next: UInt64 = 1_000
            let start = ContinuousClock.now
            while (ContinuousClock.now - start).seconds < seconds {
                let list = (0..<UInt64(256)).map { next + $0 }
                _ = try engine.distances(publicKeyHex: PocCalibration.publicKeyHex, nonces: list)
                next += 256
                tried += list.count
            }
            let nps = Double(tried) / (ContinuousClock.now - start).seconds
            let gflops = nps * config.flopsPerNonce / 1e9
            let (best, shape) = Self.matMulPeak(config: config, threads: count, seconds: min(seconds, 3))
            let rng = Self.randomDrawSeconds(config: config, blockHashHex: weights.blockHashHex)
            output(
                "| \(pad(count, 7)) | \(pad(String(format: "%.0f", nps), 10)) | \(pad(String(format: "%.2f", gflops), 11)) | \(pad(String(format: "%.2f (%@)", best, shape), 27)) | \(pad(String(format: "%.0f%%", 100 * gflops / best), 12))"
            )
            // Where the rest goes: the per-nonce random draws (input normals, permutation) on one thread.
            let share = min(1, rng * nps / Double(count))
            output(
                "  random draws: \(String(format: "%.0f", rng * 1e6)) µs per nonce per thread, \(String(format: "%.0f%%", 100 * share)) of the time"
            )
        }
    }

    func pad(_ value: Any, _ width: Int) -> String {
        let text = "\(value)"
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// Seconds per nonce of the random draws alone (input normals and the logit permutation).
    static func randomDrawSeconds(config: PocModelConfig, blockHashHex: String) -> Double {
        let pk = PocCalibration.publicKeyHex
        var sink: Float = 0
        let count = 200
        let input = UnsafeMutableBufferPointer<Float>.allocate(capacity: config.seqLen * config.dim)
        let perm = UnsafeMutableBufferPointer<Int32>.allocate(capacity: config.vocab)
        defer {
            input.deallocate()
            perm.deallocate()
        }
        // The engine's own draw functions, so this is the engine's cost.
        let start = ContinuousClock.now
        for n in 0..<UInt64(count) {
            PocEngine.drawInput(blockHashHex, pk, n, into: input)
            PocEngine.drawPermutation(blockHashHex, pk, n, into: perm)
            sink += input[0] + Float(perm[0])
        }
        let seconds = (ContinuousClock.now - start).seconds / Double(count)
        return sink.isNaN ? 0 : seconds
    }

    /// The best `Kernels.matMul` GFLOP/s over F32 weights at the shapes of one PoC forward batch.
    static func matMulPeak(config: PocModelConfig, threads: Int, seconds: Double) -> (Double, String) {
        let pool = ThreadPool(threads: threads)
        let tokens = PocEngine.forwardBatch * config.seqLen
        let shapes = [
            (config.ffnHidden, config.dim, tokens), (config.dim, config.ffnHidden, tokens),
            (config.dim, config.dim, tokens), (config.vocab, config.dim, PocEngine.forwardBatch),
        ]
        var best = (0.0, "")
        for (rows, cols, n) in shapes {
            var stream = PhiloxStream(seedString: "bench/\(rows)x\(cols)")
            let w = stream.fill(normals: rows * cols)
            let x = stream.fill(normals: cols * n)
            var y = [Float](repeating: 0, count: rows * n)
            let each = seconds / Double(shapes.count)
            w.withUnsafeBufferPointer { wb in
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        guard
                            let matrix = WeightMatrix(
                                type: .f32, rows: rows, cols: cols, data: UnsafeRawPointer(wb.baseAddress!))
                        else { return }
                        let target = Kernels.MatMulTarget(weight: matrix, y: yb.baseAddress!, ldy: rows)
                        Kernels.matMul(pool: pool, targets: [target], x: xb.baseAddress!, ldx: cols, tokens: n)
                        var runs = 0
                        let start = ContinuousClock.now
                        while (ContinuousClock.now - start).seconds < each {
                            Kernels.matMul(pool: pool, targets: [target], x: xb.baseAddress!, ldx: cols, tokens: n)
                            runs += 1
                        }
                        let g = Double(runs) * 2 * Double(rows * cols * n) / (ContinuousClock.now - start).seconds / 1e9
                        if g > best.0 { best = (g, "\(rows)×\(cols)·\(n)") }
                    }
                }
            }
        }
        return best
    }
}
