import ArgumentParser
import Benchmarks
import Foundation
import GonkaCore
import Inference
import Ledger
import Verification

/// `gonka bench validation` (PROTOCOL §7.5).
struct ValidationBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validation",
        abstract:
            "Honest noise and cheat detection of the inference check (§7.2), validations until INVALID (§7.4), cost.",
        discussion: """
            Generates --honest real (prompt, output) pairs from a deterministic mix of chat prompts (greedy and sampled: temperature 0.7–1.3 with and without top-k/top-p/min-p, output limits 1…--max-tokens, a fifth of them 1–4 tokens). The executor decodes one token at a time on --executor-threads threads; the validator scores prompt + output in one teacher-forced batch on --validator-threads threads with the sampler replay, as POST /v1/score does, and runs the check on the executor's real payload at --threshold-ppm. Then --cheats inferences of each cheat class: q3 (4-bit weights snapped to 3-bit levels), minus4layers (4 layers removed), cheap-decode (tokens of the 4-layers-removed model, the real model's logprobs reported), edited (an honest output with max(2, ⌈N/10⌉) tokens replaced by the runner-up, real logprobs of the edited text, commitment recomputed), wrong-seed (the real model drawing with another seed). Per class: detection per inference, the first failing test, and validations until INVALID by §7.4's sequential test (the chain's default parameters), in order and over 100 shuffled orders. Proposes validation_threshold_ppm (2 × the honest maximum, rounded up to 1,000) and honest_fail_rate_ppb (max(observed, 3/N, 1e-3)). Last, the CPU time of validating vs generating --cost-inferences inferences of ≥ 64 tokens, one thread each. Build with -c release.
            """)

    @Option(help: "The GGUF model (default: $GONKA_MODEL, else the `make model` cache).") var model: String?
    @Option(help: "Honest (prompt, output) pairs.") var honest = 2_000
    @Option(help: "Inferences per cheat class.") var cheats = 200
    @Option(help: "Inferences of ≥ 64 tokens for the cost measurement (0: skip).") var costInferences = 20
    @Option(help: "Largest output limit of the request mix.") var maxTokens = 64
    @Option(help: "Threads of the executor's decode.") var executorThreads = 1
    @Option(help: "Threads of the validator's scoring.") var validatorThreads = 2
    @Option(help: "The check's validation_threshold in ppm (default: the devnet genesis model's).")
    var thresholdPpm = Genesis.Model.devnetDefault.validationThresholdPpm
    @Option(help: "Comma-separated cheat classes (q3, minus4layers, cheap-decode, edited, wrong-seed).")
    var classes = ValidationBenchmark.CheatClass.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Seed of the request mix.") var seed: UInt64 = 1
    @Option(
        help: ArgumentHelp(
            "The registry's sampler kind to check with: native (replay, §7.2 test 3) or opaque (likelihood, test 4).",
            discussion: "opaque is how another engine's inferences are checked (docs/HOSTING.md)."))
    var sampler = "native"
    @Option(
        help: ArgumentHelp(
            "Measure this engine against another one instead: native,ENGINE (ENGINE: llamacpp, vllm or remote), reached at --upstream.",
            discussion:
                "Both directions, checked as for a model registered sampler opaque (docs/VALIDATION.md, docs/HOSTING.md); --honest pairs, --cheats inferences of --cheat-upstream."
        ))
    var pair: String?
    @Option(
        help: "With --pair: the other engine's ML node (`gonka mlnode start --backend openai …`), http://HOST:PORT.")
    var upstream: String?
    @Option(help: "With --pair: the same engine serving a cheat (e.g. a coarser-quantised copy) to measure detection.")
    var cheatUpstream: String?
    @Option(help: "With --pair: opaque_margin in ppm (default: genesis's).") var opaqueMarginPpm: UInt64?
    @Flag(help: "A quick run: 100 honest pairs, 20 per cheat class, 5 cost inferences.") var quick = false
    @Flag(help: "Print the report as JSON (progress goes to stderr).") var json = false

    var cheatClasses: [ValidationBenchmark.CheatClass] {
        get throws {
            try classes.split(separator: ",").map { name in
                let trimmed = name.trimmingCharacters(in: .whitespaces)
                guard let cls = ValidationBenchmark.CheatClass(rawValue: trimmed) else {
                    throw ValidationError(
                        "unknown cheat class '\(trimmed)'; known: \(ValidationBenchmark.CheatClass.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                return cls
            }
        }
    }

    func validate() throws {
        guard honest > 0 || quick else { throw ValidationError("--honest must be positive") }
        guard cheats >= 0, costInferences >= 0 else {
            throw ValidationError("--cheats and --cost-inferences must not be negative")
        }
        guard (1...256).contains(maxTokens) else { throw ValidationError("--max-tokens must be 1–256") }
        guard (1...256).contains(executorThreads), (1...256).contains(validatorThreads) else {
            throw ValidationError("--executor-threads and --validator-threads must be 1–256")
        }
        guard (1...1_000_000).contains(thresholdPpm) else { throw ValidationError("--threshold-ppm must be 1–1000000") }
        guard InferenceCheck.SamplerKind(rawValue: sampler) != nil else {
            throw ValidationError("--sampler must be native or opaque, not \"\(sampler)\"")
        }
        _ = try cheatClasses
        if let pair {
            let engines = pair.split(separator: ",").map(String.init)
            guard engines.count == 2, engines[0] == "native", ["llamacpp", "vllm", "remote"].contains(engines[1]) else {
                throw ValidationError(
                    "--pair must be native,llamacpp (or native,vllm / native,remote), not \"\(pair)\"")
            }
            guard let upstream, let url = URL(string: upstream), url.host != nil,
                ["http", "https"].contains(url.scheme ?? "")
            else { throw ValidationError("--pair needs --upstream http://HOST:PORT (the other engine's ML node)") }
        }
        if let opaqueMarginPpm, opaqueMarginPpm >= 1_000_000 {
            throw ValidationError("--opaque-margin-ppm must be below 1000000")
        }
    }

    var settings: ValidationBenchmark.Settings {
        get throws {
            var s = ValidationBenchmark.Settings()
            s.honest = quick ? 100 : honest
            s.cheats = quick ? 20 : cheats
            s.costInferences = quick ? min(costInferences, 5) : costInferences
            s.maxTokens = maxTokens
            s.executorThreads = executorThreads
            s.validatorThreads = validatorThreads
            s.thresholdPpm = thresholdPpm
            s.seed = seed
            s.classes = try cheatClasses
            s.sampler = InferenceCheck.SamplerKind(rawValue: sampler) ?? .native
            return s
        }
    }

    func run() async throws {
        let path = ModelCache.resolve(model)
        if pair != nil, let upstream {
            var params = ValidationParams.defaults
            if let opaqueMarginPpm { params.opaqueMarginPpm = opaqueMarginPpm }
            let trim = { (u: String) in u.hasSuffix("/") ? String(u.dropLast()) : u }
            let run = ValidationPairRun(
                modelPath: path, upstream: trim(upstream), cheatUpstream: cheatUpstream.map(trim),
                pairs: quick ? 20 : honest, cheats: quick ? 10 : cheats, maxTokens: maxTokens,
                thresholdPpm: thresholdPpm,
                params: params, seed: seed, threads: validatorThreads)
            for line in try await run.run(progress: { Self.emit($0) }) { Self.emit(line) }
            return
        }
        let benchmark = ValidationBenchmark(modelPath: path, settings: try settings)
        let report = try benchmark.run { line in
            if json {
                FileHandle.standardError.write(Data((line + "\n").utf8))
            } else {
                Self.emit(line)
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Self.emit(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for line in report.lines { Self.emit(line) }
        }
    }

    /// One line to stdout at once (unbuffered: a progress line shows now, also when stdout is a file).
    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
