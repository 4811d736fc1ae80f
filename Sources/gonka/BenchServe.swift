import ArgumentParser
import Benchmarks
import Foundation
import Inference
import Logging
import MLNode
import ServiceLifecycle

/// `gonka bench serve`
struct ServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serving throughput and latency of the ML node under concurrent streams, over HTTP.",
        discussion: """
            Starts an ML node in this process (the batched engine: --parallel slots on --threads threads) on a loopback port, or measures --url instead, and at each --concurrency C keeps C streamed /v1/completions requests in flight (greedy, --max-tokens each) until C × --requests-per-stream are done. Reports aggregate output tokens/s, time to first token (TTFT) and inter-token latency (ITL) p50/p99 as the client sees them. --compare NAME=URL measures other OpenAI-compatible servers with the same load generator in the same run, interleaved per level (scripts/bench-llamacpp-server does this for llama.cpp's server). --shared-prefix N starts every prompt with the same N-word system text. --stagger-ms M starts stream i of a level i×M ms after the first (default 0: together, a burst whose last first token waits for every prompt's prefill; staggered arrivals are what independent users send, and show the scheduler's TTFT with a batch running).
            """)

    @Option(help: "The GGUF model (default: $GONKA_MODEL or the `make model` cache).") var model: String?
    @Option(help: "Concurrent streams per level, comma-separated.") var concurrency = "1,2,4,8,16"
    @Option(help: "Requests per stream at each level.") var requestsPerStream = 3
    @Option(help: "max_tokens of each request.") var maxTokens = 64
    @Option(help: "Words of a system text every prompt shares (0: none).") var sharedPrefix = 0
    @Option(help: "Milliseconds between the first requests of a level's streams (0: all at once).")
    var staggerMs = 0
    @Option(help: "Compute threads of the in-process ML node.") var threads = 2
    @Option(help: "Slots of the in-process ML node (default: the largest concurrency).") var parallel: Int?
    @Option(help: "Positions per slot of the in-process ML node.") var context = 1024
    @Option(help: "Prefix cache of the in-process ML node in MiB (0: off).") var prefixCacheMb = 64
    @Option(help: "Measure this ML node (http://host:port) instead of starting one.") var url: String?
    @Option(help: "Also measure NAME=URL (an OpenAI-compatible server), e.g. llama.cpp=http://127.0.0.1:8090.")
    var compare: [String] = []

    var levels: [Int] { concurrency.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        let levels = self.levels
        guard !levels.isEmpty, levels.count == concurrency.split(separator: ",").count,
            levels.allSatisfy({ (1...256).contains($0) })
        else { throw ValidationError("--concurrency must be a comma-separated list of integers in 1…256") }
        guard (1...100).contains(requestsPerStream) else {
            throw ValidationError("--requests-per-stream must be in 1…100")
        }
        guard (1...4096).contains(maxTokens) else { throw ValidationError("--max-tokens must be in 1…4096") }
        guard (0...100_000).contains(sharedPrefix) else { throw ValidationError("--shared-prefix must be in 0…100000") }
        guard (0...60_000).contains(staggerMs) else { throw ValidationError("--stagger-ms must be in 0…60000") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1…256") }
        if let parallel, !(1...64).contains(parallel) { throw ValidationError("--parallel must be in 1…64") }
        guard context >= 16 else { throw ValidationError("--context must be at least 16") }
        guard (0...(1 << 20)).contains(prefixCacheMb) else {
            throw ValidationError("--prefix-cache-mb must be in 0…1048576")
        }
        for entry in compare where !entry.contains("=") || entry.hasPrefix("=") || entry.hasSuffix("=") {
            throw ValidationError("--compare takes NAME=URL, got \"\(entry)\"")
        }
    }

    func run() async throws {
        let compared = compare.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1)
            return ServeBenchmark.Target(name: String(parts[0]), url: String(parts[1]), model: "")
        }
        let benchmark = ServeBenchmark(
            concurrency: levels, requestsPerStream: requestsPerStream, maxTokens: maxTokens,
            sharedPrefixWords: sharedPrefix, stagger: .milliseconds(staggerMs))
        if let url {
            _ = try await benchmark.run(targets: [.init(name: "gonka", url: url, model: "")] + compared) {
                say($0)
            }
            return
        }
        let path = ModelCache.resolve(model)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("model file \(path) does not exist (run `make model`, or pass --model)")
        }
        let llama = try LlamaModel(file: try GGUFFile(path: path))
        let slots = parallel ?? levels.max() ?? 1
        let backend = NativeBackend(
            model: llama, id: "bench", parallel: slots, queue: 256, threads: threads, contextLength: context,
            prefixCacheBytes: prefixCacheMb << 20)
        say("gonka: \(slots) slot(s) batched on \(threads) thread(s), context \(backend.info.contextLength) per slot")
        var logger = Logger(label: "gonka.bench.serve")
        logger.logLevel = .warning
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = MLNodeServer.application(
            backend: backend, host: "127.0.0.1", port: 0, configuration: MLNodeConfiguration(), logger: logger
        ) { portContinuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CLIError("the ML node did not start") }
            do {
                _ = try await benchmark.run(
                    targets: [.init(name: "gonka", url: "http://127.0.0.1:\(port)", model: "bench")] + compared
                ) { say($0) }
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
