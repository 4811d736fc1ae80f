import ArgumentParser
import Benchmarks
import Foundation
import ProofOfCompute

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
            try PocMeasurement.calibrate(
                preset: model.preset, config: model.config, threads: model.threads, nonces: nonces,
                hitRate: parseHitRate(hitRate) ?? 1.0 / 16, progress: say, output: { print($0) })
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
            try PocMeasurement.mismatch(
                preset: model.preset, config: model.config, threads: model.threads, nonces: nonces, rTarget: rTarget,
                hitRate: parseHitRate(hitRate) ?? 1.0 / 16, hitRateText: hitRate, progress: say, output: { print($0) })
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
        try PocBenchmark(threadCounts: threadCounts, seconds: seconds, preset: preset).run { print($0) }
    }
}
