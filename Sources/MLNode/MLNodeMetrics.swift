import Inference
import Synchronization
import Telemetry

/// The ML node's metrics under vLLM's names with a `gonka_mlnode_` prefix (issue 18):
/// `requests_running`/`requests_waiting` and `kv_cache_usage_perc` (read from the backend at each
/// scrape), time to first token, inter-token latency and end-to-end latency histograms, prompt and
/// generation token counters, and `request_success_total{finished_reason}` / `request_failure_total`: exactly one of
/// them per generation request.
public final class MLNodeMetrics: Sendable {
    public let registry = MetricsRegistry(buckets: [
        "gonka_mlnode_inter_token_latency_seconds": MetricsRegistry.tokenBuckets
    ])

    public init() {}

    /// The exposition after reading the backend's current load into the gauges.
    public func exposition(load: MLLoad?) -> String {
        if let load {
            registry.set("gonka_mlnode_requests_running", [], load.running)
            registry.set("gonka_mlnode_requests_waiting", [], load.waiting)
            if let usage = load.kvCacheUsage { registry.set("gonka_mlnode_kv_cache_usage_perc", [], usage) }
        }
        return registry.exposition
    }

    /// `admission` with every generation it runs measured.
    func metered(_ admission: any MLAdmission) -> any MLAdmission { MeteredAdmission(inner: admission, metrics: self) }

    func finished(_ generations: [Generation], reason: String, started: ContinuousClock.Instant) {
        registry.observe("gonka_mlnode_e2e_request_latency_seconds", [], .now - started)
        // The prompt was evaluated once for every choice.
        registry.increment("gonka_mlnode_prompt_tokens_total", [], by: generations.first?.promptTokens ?? 0)
        registry.increment(
            "gonka_mlnode_generation_tokens_total", [], by: generations.reduce(0) { $0 + $1.tokens.count })
        registry.increment("gonka_mlnode_request_success_total", [("finished_reason", reason)])
    }
}

/// How busy a backend is now: requests holding a slot and requests queued for one, and the share
/// of its KV cache in use (nil where the backend does not say: a remote engine).
public struct MLLoad: Sendable, Equatable {
    public var running: Int
    public var waiting: Int
    public var kvCacheUsage: Double?

    public init(running: Int, waiting: Int, kvCacheUsage: Double? = nil) {
        self.running = running
        self.waiting = waiting
        self.kvCacheUsage = kvCacheUsage
    }
}

/// An admission whose generations are timed: first token, each later token, the whole request.
struct MeteredAdmission: MLAdmission {
    let inner: any MLAdmission
    let metrics: MLNodeMetrics

    /// When the last token came (nil before the first), shared with the token callback.
    final class TokenClock: Sendable {
        let last = Mutex<ContinuousClock.Instant?>(nil)
    }

    func generate(
        prompt: [Int], parameters: SamplingParameters, choices: Int,
        onEvent: @escaping @Sendable (GenerationEvent) -> Bool
    ) async throws -> [Generation] {
        let started = ContinuousClock.now
        let clock = TokenClock()
        let registry = metrics.registry
        do {
            let generations = try await inner.generate(prompt: prompt, parameters: parameters, choices: choices) {
                event in
                if case .token = event {
                    let now = ContinuousClock.now
                    let previous = clock.last.withLock { last in
                        defer { last = now }
                        return last
                    }
                    if let previous {
                        registry.observe("gonka_mlnode_inter_token_latency_seconds", [], now - previous)
                    } else {
                        registry.observe("gonka_mlnode_time_to_first_token_seconds", [], now - started)
                    }
                }
                return onEvent(event)
            }
            // One request, one outcome: its first choice's finish reason, every choice's tokens.
            if let first = generations.first {
                let reason: String =
                    switch first.finishReason {
                    case .stop, .cancelled: "stop"
                    case .length: "length"
                    }
                metrics.finished(generations, reason: reason, started: started)
            }
            return generations
        } catch {
            registry.increment("gonka_mlnode_request_failure_total")
            throw error
        }
    }

    func score(prompt: [Int], completion: [Int], top: Int, replay: SamplerReplay?) async throws -> [ScoredToken] {
        try await inner.score(prompt: prompt, completion: completion, top: top, replay: replay)
    }
}
