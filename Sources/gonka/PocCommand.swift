import ArgumentParser
import Foundation
import GonkaCore
import ProofOfCompute
import Tensor

/// `gonka poc …`
struct PocCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poc",
        abstract: "Proof of Compute tools: r_target calibration and the scalar-vs-fast mismatch rate.",
        subcommands: [Calibrate.self, Mismatch.self]
    )
}

/// The model flags shared by the PoC commands.
struct PocModelOptions: ParsableArguments {
    @Option(help: "PoC model preset: devnet, testnet or mainnet.") var preset = "devnet"
    @Option(help: "Compute threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard PocModelConfig.preset(named: preset) != nil else {
            throw ValidationError("--preset must be devnet, testnet or mainnet")
        }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1…256") }
    }

    var config: PocModelConfig { PocModelConfig.preset(named: preset) ?? .devnet }
}

/// A hit rate written as `1/16` or `0.0625`.
func parseHitRate(_ text: String) -> Double? {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    let value: Double?
    if parts.count == 2, let a = Double(parts[0].trimmingCharacters(in: .whitespaces)),
        let b = Double(parts[1].trimmingCharacters(in: .whitespaces)), b != 0
    {
        value = a / b
    } else if parts.count == 1 {
        value = Double(text.trimmingCharacters(in: .whitespaces))
    } else {
        value = nil
    }
    guard let value, value.isFinite, value > 0, value < 1 else { return nil }
    return value
}

extension PocCommand {
    /// `gonka poc calibrate`
    struct Calibrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure r_target: the distance below which the wanted fraction of nonces falls.",
            discussion: """
                Computes the distances of --nonces nonces (a fixed calibration key and seed: the distribution depends only on the model) and prints the quantile at --hit-rate, as a distance and as r_target_nano = floor(r × 1e9), the form poc.proto carries. More nonces, a tighter estimate: the hit rate's relative error is about 1/sqrt(nonces × hit rate).
                """
        )

        @Option(help: "Wanted fraction of valid nonces, e.g. 1/16 or 0.0625.") var hitRate = "1/16"
        @Option(help: "Nonces to sample.") var nonces = 20_000
        @OptionGroup var model: PocModelOptions

        func validate() throws {
            guard parseHitRate(hitRate) != nil else {
                throw ValidationError("--hit-rate must be a fraction in (0, 1), like 1/16 or 0.0625")
            }
            guard (100...100_000_000).contains(nonces) else { throw ValidationError("--nonces must be in 100…1e8") }
            if let rate = parseHitRate(hitRate), Double(nonces) * rate < 10 {
                throw ValidationError("--nonces × --hit-rate must be at least 10 (a quantile needs hits)")
            }
        }

        func run() throws {
            let wanted = parseHitRate(hitRate) ?? 1.0 / 16
            let engine = try PocEngine(
                blockHashHex: PocCalibration.blockHashHex, config: model.config, threads: model.threads)
            say("calibrating \(model.preset) (\(model.config)) on \(nonces) nonces, \(model.threads) thread(s)…")
            let start = ContinuousClock.now
            let result = try PocCalibration.measure(engine: engine, hitRate: wanted, nonces: nonces)
            let seconds = (ContinuousClock.now - start).seconds
            print("hit_rate       \(String(format: "%.6g", wanted))")
            print("r_target       \(String(format: "%.9f", result.rTarget))")
            print("r_target_nano  \(result.rTargetNano)")
            print(
                "nonces         \(nonces) in \(String(format: "%.1f", seconds)) s (\(rate(Double(nonces), seconds))/s)")
        }
    }

    /// `gonka poc mismatch`
    struct Mismatch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure how often the fast engine and the scalar reference disagree about a nonce's validity.",
            discussion: """
                Computes --nonces nonces with both PocEngine (Float32, batched) and PocReference (Double, scalar loops), then counts the nonces whose two distances fall on different sides of r_target (--r-target, or the reference distances' quantile at --hit-rate). That count over the nonces is poc_mismatch_rate's measurement; the distance differences (max, p99, mean) show how close the two are. The reference is slow: about a second per 100 nonces per thread on the devnet model.
                """
        )

        @Option(help: "Nonces to compare.") var nonces = 100_000
        @Option(help: "r_target (default: calibrated from the reference distances at --hit-rate).") var rTarget: Double?
        @Option(help: "Hit rate for the default r_target.") var hitRate = "1/16"
        @OptionGroup var model: PocModelOptions

        func validate() throws {
            guard (100...100_000_000).contains(nonces) else { throw ValidationError("--nonces must be in 100…1e8") }
            guard parseHitRate(hitRate) != nil else { throw ValidationError("--hit-rate must be a fraction in (0, 1)") }
            if let rTarget, !(rTarget.isFinite && rTarget > 0) { throw ValidationError("--r-target must be positive") }
        }

        func run() throws {
            let config = model.config
            let pool = ThreadPool(threads: model.threads)
            let weights = try PocWeights(blockHashHex: PocCalibration.blockHashHex, config: config, pool: pool)
            let engine = PocEngine(weights: weights, threads: model.threads)
            let reference = PocReference(weights: weights)
            let pk = PocCalibration.publicKeyHex
            say("comparing \(nonces) nonces of \(model.preset) (\(config)) on \(model.threads) thread(s)…")
            var fast = [Double](repeating: 0, count: nonces)
            var slow = [Double](repeating: 0, count: nonces)
            let chunk = 2_000
            let start = ContinuousClock.now
            var done = 0
            while done < nonces {
                let end = min(done + chunk, nonces)
                let list = (done..<end).map { UInt64($0) }
                let d = try engine.distances(publicKeyHex: pk, nonces: list)
                for i in 0..<d.count { fast[done + i] = d[i] }
                slow.withUnsafeMutableBufferPointer { out in
                    let out = out
                    let base = done
                    pool.parallelFor(list.count) { range in
                        for i in range {
                            out[base + i] = (try? reference.distance(publicKeyHex: pk, nonce: list[i])) ?? .nan
                        }
                    }
                }
                done = end
                let elapsed = (ContinuousClock.now - start).seconds
                // A running tally, so a long run that is cut short still says something.
                let wanted = parseHitRate(hitRate) ?? 1.0 / 16
                let soFar = Array(slow[0..<done])
                let r = try rTarget ?? PocCalibration.rTarget(distances: soFar, hitRate: wanted)
                let flips = (0..<done).filter { (fast[$0] < r) != (slow[$0] < r) }.count
                let worst = (0..<done).map { abs(fast[$0] - slow[$0]) }.max() ?? 0
                say(
                    "  \(done)/\(nonces) (\(String(format: "%.0f", elapsed)) s): \(flips) mismatches at r \(String(format: "%.9f", r)), max |fast - ref| \(String(format: "%.3g", worst))"
                )
            }
            let rate = parseHitRate(hitRate) ?? 1.0 / 16
            let r = try rTarget ?? PocCalibration.rTarget(distances: slow, hitRate: rate)
            var mismatches = 0
            var diffs: [Double] = []
            diffs.reserveCapacity(nonces)
            for i in 0..<nonces {
                if (fast[i] < r) != (slow[i] < r) { mismatches += 1 }
                diffs.append(abs(fast[i] - slow[i]))
            }
            diffs.sort()
            let p99 = diffs[min(diffs.count - 1, Int(Double(diffs.count) * 0.99))]
            let mean = diffs.reduce(0, +) / Double(diffs.count)
            let maxDiff = diffs.last ?? 0
            let near = slow.filter { abs($0 - r) <= maxDiff }.count
            // With no mismatch seen, the 95% upper bound of the rate is about 3 / n (the rule of three).
            let bound = mismatches == 0 ? 3 / Double(nonces) : Double(mismatches) / Double(nonces)
            print("nonces              \(nonces)")
            print(
                "r_target            \(String(format: "%.9f", r))\(rTarget == nil ? " (reference quantile at \(hitRate))" : "")"
            )
            print("mismatches          \(mismatches)")
            print("mismatch_rate       \(String(format: "%.3g", Double(mismatches) / Double(nonces)))")
            print("rate_upper_95       \(String(format: "%.3g", bound))\(mismatches == 0 ? " (rule of three)" : "")")
            print("|fast - ref| max    \(String(format: "%.3g", maxDiff))")
            print("|fast - ref| p99    \(String(format: "%.3g", p99))")
            print("|fast - ref| mean   \(String(format: "%.3g", mean))")
            print("within max of r     \(near) nonces (the only ones that could flip)")
            print("seconds             \(String(format: "%.0f", (ContinuousClock.now - start).seconds))")
        }
    }
}

/// `gonka bench poc`
struct PocBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poc",
        abstract: "PoC nonces per second at each thread count, the GFLOP/s that means, and the matmul peak.",
        discussion: """
            Runs the fast engine for --seconds per thread count on the --preset model (devnet by default) and reports nonces/s and GFLOP/s = nonces/s × FLOPs per nonce (docs/POC.md: 2·seq·(4·dim² + 3·dim·ffn) + 2·dim·seq·(seq+1) per layer, plus 2·vocab·dim). Beside it, the best GFLOP/s of Kernels.matMul on F32 weights at the PoC's own shapes (the same kernel family), measured in the same run: PoC's share of it is how much of the time goes to matrix products.
            """
    )

    @Option(help: "Comma-separated thread counts.") var threads = "1,2"
    @Option(help: "Seconds per measurement.") var seconds = 5.0
    @Option(help: "PoC model preset: devnet, testnet or mainnet.") var preset = "devnet"

    var threadCounts: [Int] {
        threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    func validate() throws {
        let counts = threadCounts
        guard !counts.isEmpty, counts.count == threads.split(separator: ",").count,
            counts.allSatisfy({ (1...256).contains($0) })
        else { throw ValidationError("--threads must be a comma-separated list of counts in 1…256, e.g. 1,2") }
        guard seconds > 0, seconds <= 3_600 else { throw ValidationError("--seconds must be in (0, 3600]") }
        guard PocModelConfig.preset(named: preset) != nil else {
            throw ValidationError("--preset must be devnet, testnet or mainnet")
        }
    }

    func run() throws {
        let config = PocModelConfig.preset(named: preset) ?? .devnet
        let weights = try PocWeights(blockHashHex: PocCalibration.blockHashHex, config: config)
        print("PoC model \(preset): \(config); \(String(format: "%.2f", config.flopsPerNonce / 1e6)) MFLOP per nonce")
        print("| threads |   nonces/s | PoC GFLOP/s | matmul GFLOP/s (best shape) | PoC / matmul")
        print("|--------:|-----------:|------------:|----------------------------:|-------------:")
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
            print(
                "| \(pad(count, 7)) | \(pad(String(format: "%.0f", nps), 10)) | \(pad(String(format: "%.2f", gflops), 11)) | \(pad(String(format: "%.2f (%@)", best, shape), 27)) | \(pad(String(format: "%.0f%%", 100 * gflops / best), 12))"
            )
            // Where the rest goes: the per-nonce random draws (input normals, permutation) on one thread.
            let share = min(1, rng * nps / Double(count))
            print(
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
