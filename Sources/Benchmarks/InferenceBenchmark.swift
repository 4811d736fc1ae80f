import Foundation
import GonkaCore
import Inference

#if canImport(Glibc)
    import Glibc
#endif

/// `gonka bench inference`: prefill and decode tokens/s of the native engine at each thread count,
/// like llama-bench (pp and tg tests), the sampler's cost per draw and the peak resident memory.
public struct InferenceBenchmark: Sendable {
    /// The GGUF model (nil: $GONKA_MODEL, else the `make model` cache).
    public var model: String?
    /// Prompt tokens for the prefill test.
    public var promptTokens: Int
    /// Tokens for the decode test.
    public var genTokens: Int
    /// Thread counts to measure.
    public var threadCounts: [Int]
    /// Runs per test (the median is reported).
    public var runs: Int
    /// Sequences decoding together in the batched decode test (`tgN×B`, like llama-batched-bench):
    /// each step runs the next token of every sequence, each in its own cache, as one batched pass.
    public var batches: [Int]

    /// The benchmark with these settings (the options of its command).
    public init(
        model: String?, promptTokens: Int, genTokens: Int, threadCounts: [Int], runs: Int, batches: [Int] = []
    ) {
        self.model = model
        self.promptTokens = promptTokens
        self.genTokens = genTokens
        self.threadCounts = threadCounts
        self.runs = runs
        self.batches = batches
    }

    /// Measures and reports: every line of the report goes to `output`, in order, as it is measured;
    /// `progress` gets which test and run is measuring now.
    public func run(progress: (String) -> Void = { _ in }, output: (String) -> Void) throws {
        let path = ModelCache.resolve(model)
        let loadStart = ContinuousClock.now
        let llama = try LlamaModel(path: path)
        let c = llama.config
        output(
            "loaded \(path): llama, \(c.layers) layers, embedding \(c.embedding), \(c.heads)/\(c.kvHeads) heads, vocab \(c.vocabularySize), \(llama.file.size / 1_000_000) MB, in \(String(format: "%.2f", (ContinuousClock.now - loadStart).seconds)) s"
        )
        var stream = PhiloxStream(seedString: "gonka/bench/inference")
        let span = UInt32(c.vocabularySize - 17)
        let prompt = (0..<promptTokens).map { _ in 17 + Int(stream.nextUInt32() % span) }
        let generated = (0..<genTokens).map { _ in 17 + Int(stream.nextUInt32() % span) }
        output("| threads | test       |        t/s (median) | runs")
        output("|--------:|------------|--------------------:|-----")
        for threadCount in threadCounts {
            let session = LlamaSession(model: llama, capacity: promptTokens + genTokens, threads: threadCount)
            _ = try session.evaluate(Array(prompt.prefix(8)))  // warm-up: page in the weights
            var prefill: [Double] = []
            var decode: [Double] = []
            for run in 0..<runs {
                progress("\(threadCount) thread(s): pp\(promptTokens) and tg\(genTokens), run \(run + 1)/\(runs)…")
                session.reset()
                let start = ContinuousClock.now
                _ = try session.evaluate(prompt)
                prefill.append(Double(promptTokens) / (ContinuousClock.now - start).seconds)
                session.reset()
                let decodeStart = ContinuousClock.now
                for id in generated { _ = try session.evaluate([id]) }
                decode.append(Double(genTokens) / (ContinuousClock.now - decodeStart).seconds)
            }
            // Decode as serving runs it: each step's logits also go through the sampler (top-p 0.95, as
            // OpenAI clients usually ask; then top-k 40). The fed ids stay fixed so runs compare.
            var sampled: [String: [Double]] = [:]
            for (label, sampling) in [
                ("+p", SamplingParameters(temperature: 0.8, topP: 0.95)),
                ("+k", SamplingParameters(temperature: 0.8, topK: 40)),
            ] {
                for run in 0..<runs {
                    progress("\(threadCount) thread(s): tg\(genTokens)\(label), run \(run + 1)/\(runs)…")
                    session.reset()
                    var sampler = Sampler(
                        SamplingParameters(
                            temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP,
                            seed: UInt64(run)))
                    let start = ContinuousClock.now
                    for id in generated {
                        try session.evaluate([id]) { _, logits in _ = sampler.sample(logits) }
                    }
                    sampled["tg\(genTokens)\(label)", default: []].append(
                        Double(genTokens) / (ContinuousClock.now - start).seconds)
                }
            }
            // Batched decode: `batch` sequences, each step one token of each (the serving engine's
            // step without the HTTP around it); aggregate tokens/s.
            var batched: [(String, [Double])] = []
            for batch in batches {
                let runner = LlamaBatchRunner(model: llama, threads: threadCount)
                let caches = (0..<batch).map { _ in KVCache(config: c, capacity: genTokens) }
                var rates: [Double] = []
                for run in 0..<runs {
                    progress("\(threadCount) thread(s): tg\(genTokens)×\(batch), run \(run + 1)/\(runs)…")
                    for cache in caches { cache.reset() }
                    let start = ContinuousClock.now
                    for step in 0..<genTokens {
                        let entries = caches.enumerated().map { i, cache in
                            LlamaBatchRunner.Entry(cache: cache, ids: [generated[(step + i) % genTokens]])
                        }
                        try runner.run(entries) { _, _, _ in }
                    }
                    rates.append(Double(batch * genTokens) / (ContinuousClock.now - start).seconds)
                }
                batched.append(("tg\(genTokens)×\(batch)", rates))
            }
            progress("")
            for (name, values) in [("pp\(promptTokens)", prefill), ("tg\(genTokens)", decode)] + batched
                + sampled.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) })
            {
                let sorted = values.sorted()
                let median = sorted[sorted.count / 2]
                let spread = (sorted.last ?? 0) - (sorted.first ?? 0)
                output(
                    "| \(String(repeating: " ", count: max(0, 7 - String(threadCount).count)))\(threadCount) | \(name.padding(toLength: 10, withPad: " ", startingAt: 0)) | \(String(format: "%9.1f (range %5.1f)", median, spread)) | \(values.map { String(format: "%.1f", $0) }.joined(separator: " "))"
                )
            }
        }
        // The sampler alone on one real logits row (the model's next-token logits after the prompt).
        let session = LlamaSession(model: llama, capacity: promptTokens + 1, threads: 1)
        let row = try session.evaluate(prompt)
        var timings: [String] = []
        for (label, sampling) in [
            ("temperature", SamplingParameters(temperature: 0.8)),
            ("top-p 0.95", SamplingParameters(temperature: 0.8, topP: 0.95)),
            ("top-k 40", SamplingParameters(temperature: 0.8, topK: 40)),
        ] {
            var sampler = Sampler(sampling)
            let draws = 300
            let start = ContinuousClock.now
            row.withUnsafeBufferPointer { logits in
                for _ in 0..<draws { _ = sampler.sample(logits) }
            }
            timings.append(
                "\(label) \(String(format: "%.0f", (ContinuousClock.now - start).seconds / Double(draws) * 1e6)) µs")
        }
        output("sampler, per draw over \(c.vocabularySize) logits: " + timings.joined(separator: ", "))
        var usage = rusage()
        #if os(Linux)
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            let peakKiB = usage.ru_maxrss
        #else
            getrusage(RUSAGE_SELF, &usage)
            let peakKiB = usage.ru_maxrss / 1024
        #endif
        output("peak RSS: \(peakKiB / 1024) MiB")
    }
}
