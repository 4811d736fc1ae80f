import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// `gonka bench serve`: a load generator for OpenAI-compatible completion servers. At each
/// concurrency C it keeps C streamed `/v1/completions` requests in flight (greedy, `max_tokens`
/// each) until `C × requestsPerStream` are done, against every target in turn (so the targets see
/// the same machine load), and reports aggregate output tokens/s, time to first token and the gaps
/// between tokens as the client sees them.
public struct ServeBenchmark: Sendable {
    /// A server to measure: `url` is its base (`http://host:port`), `model` the id it is sent (`""`:
    /// the first one its `GET /v1/models` lists).
    public struct Target: Sendable {
        public let name: String
        public let url: String
        public let model: String

        public init(name: String, url: String, model: String) {
            self.name = name
            self.url = url
            self.model = model
        }
    }

    /// One (target, concurrency) measurement.
    public struct Level: Sendable {
        public let target: String
        public let concurrency: Int
        public let requests: Int
        public let outputTokens: Int
        public let seconds: Double
        /// Seconds, sorted.
        public let ttft: [Double]
        /// Seconds between successive streamed tokens, sorted.
        public let interToken: [Double]

        public var tokensPerSecond: Double { Double(outputTokens) / max(seconds, 1e-9) }
    }

    public var concurrency: [Int]
    public var requestsPerStream: Int
    public var maxTokens: Int
    /// Words of a system text every prompt starts with (0: distinct short prompts only).
    public var sharedPrefixWords: Int
    /// How arrivals are spaced: stream `i` of a level sends its first request `i × stagger` after
    /// the level starts (zero: all together). Together, a level's first requests arrive in one
    /// burst and the last first token waits for every prompt's prefill; staggered, requests arrive
    /// spread over the streams' cycle, as they do from independent users.
    public var stagger: Duration

    public init(
        concurrency: [Int], requestsPerStream: Int = 3, maxTokens: Int = 64, sharedPrefixWords: Int = 0,
        stagger: Duration = .zero
    ) {
        self.concurrency = concurrency
        self.requestsPerStream = requestsPerStream
        self.maxTokens = maxTokens
        self.sharedPrefixWords = sharedPrefixWords
        self.stagger = stagger
    }

    /// Openings a base-style completion continues at length (an instruction in a raw completion
    /// prompt often gets an immediate end of turn).
    static let questions = [
        "Once upon a time, in a small village by the sea,", "The old lighthouse keeper climbed the stairs and",
        "In the market that morning, the smell of fresh bread", "The history of the bicycle begins in",
        "Dear Anna, our trip to the mountains was", "Rain forms when warm air rises and",
        "Autumn is my favourite season because", "The ship left the harbour at dawn, and the sailors",
        "A computer works by", "The cat looked at the birds and decided that",
        "At night the city lights", "The first thing you notice about the desert is",
    ]

    /// The prompt of request `index`.
    func prompt(_ index: Int) -> String {
        let question = Self.questions[index % Self.questions.count]
        guard sharedPrefixWords > 0 else { return question }
        let words = "You are a helpful assistant who answers carefully and in plain words".split(separator: " ")
        let system = (0..<sharedPrefixWords).map { String(words[$0 % words.count]) }.joined(separator: " ")
        return system + ".\n\n" + question
    }

    /// Measures every target at every concurrency (targets interleaved per level); `output` gets the
    /// table as it is made.
    public func run(targets: [Target], output: @Sendable (String) -> Void) async throws -> [Level] {
        // One connection per request (`Connection: close`, for every target alike): llama.cpp's
        // server closes a connection after a streamed answer although it announces keep-alive, and
        // a request sent on it failed (`remoteConnectionClosed`, "I/O on closed channel"). A
        // loopback connect costs well under a millisecond beside the tens of a first token.
        // As many connections per host as the largest level has streams: the client's default
        // (8) held a 16-stream level's other 8 requests in its own queue, which read as seconds
        // of server TTFT.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, concurrency.max() ?? 8)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let levels = try await run(targets: targets, http: http, output: output)
            try await http.shutdown()
            return levels
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func run(targets: [Target], http: HTTPClient, output: @Sendable (String) -> Void) async throws -> [Level] {
        var resolved: [Target] = []
        for target in targets {
            let named =
                target.model.isEmpty
                ? Target(name: target.name, url: target.url, model: try await Self.modelID(target.url, http: http))
                : target
            _ = try await Self.stream(target: named, prompt: prompt(0), maxTokens: 4, http: http)  // warm-up
            resolved.append(named)
        }
        let targets = resolved
        output(
            "target          conc  reqs   out tok/s   TTFT p50   TTFT p99   ITL p50   ITL p99   (\(maxTokens) tokens max, greedy\(sharedPrefixWords > 0 ? ", \(sharedPrefixWords)-word shared prefix" : "")\(stagger > .zero ? ", streams started \(stagger) apart" : ", streams started together"))"
        )
        var levels: [Level] = []
        for c in concurrency {
            for target in targets {
                let level = try await measure(target: target, concurrency: c, http: http)
                levels.append(level)
                output(Self.row(level))
            }
        }
        return levels
    }

    static func row(_ l: Level) -> String {
        func ms(_ sorted: [Double], _ q: Double) -> String { String(format: "%7.1f ms", quantile(sorted, q) * 1000) }
        return
            "\(l.target.padding(toLength: 14, withPad: " ", startingAt: 0)) \(String(format: "%5d %5d %11.1f", l.concurrency, l.requests, l.tokensPerSecond)) \(ms(l.ttft, 0.5)) \(ms(l.ttft, 0.99)) \(ms(l.interToken, 0.5)) \(ms(l.interToken, 0.99))"
    }

    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[max(0, min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1))]
    }

    func measure(target: Target, concurrency c: Int, http: HTTPClient) async throws -> Level {
        let total = c * requestsPerStream
        let next = RequestCounter()
        let clock = ContinuousClock()
        let start = clock.now
        let samples = try await withThrowingTaskGroup(of: [StreamSample].self) { group in
            for stream in 0..<c {
                group.addTask { [stagger] in
                    var mine: [StreamSample] = []
                    if stream > 0 && stagger > .zero { try await clock.sleep(until: start + stagger * stream) }
                    while true {
                        let index = next.take()
                        guard index < total else { return mine }
                        mine.append(
                            try await Self.stream(
                                target: target, prompt: prompt(index), maxTokens: maxTokens, http: http))
                    }
                }
            }
            var all: [StreamSample] = []
            for try await part in group { all += part }
            return all
        }
        let seconds = (clock.now - start).seconds
        return Level(
            target: target.name, concurrency: c, requests: samples.count,
            outputTokens: samples.reduce(0) { $0 + $1.tokens }, seconds: seconds,
            ttft: samples.compactMap(\.ttft).sorted(), interToken: samples.flatMap(\.gaps).sorted())
    }

    /// One streamed request as the client sees it.
    struct StreamSample: Sendable {
        let ttft: Double?
        let gaps: [Double]
        let tokens: Int
    }

    /// The first model id `GET /v1/models` lists.
    static func modelID(_ url: String, http: HTTPClient) async throws -> String {
        let response = try await http.execute(
            HTTPClientRequest(url: url + "/v1/models"), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard let list = try? JSONDecoder().decode(Wire.ModelList.self, from: Data(body.readableBytesView)),
            let id = list.data.first?.id
        else { throw BenchmarkError("\(url)/v1/models lists no model") }
        return id
    }

    static func stream(target: Target, prompt: String, maxTokens: Int, http: HTTPClient) async throws -> StreamSample {
        let body = Wire.CompletionRequest(
            model: target.model, prompt: prompt, max_tokens: maxTokens, temperature: 0, stream: true,
            stream_options: .init(include_usage: true))
        var request = HTTPClientRequest(url: target.url + "/v1/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Connection", value: "close")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await http.execute(request, timeout: .seconds(600))
        guard response.status == .ok else {
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            throw BenchmarkError("\(target.name) answered \(response.status.code): \(text.prefix(300))")
        }
        var times: [ContinuousClock.Instant] = []
        var usageTokens: Int?
        var pending = ""
        for try await buffer in response.body {
            let now = clock.now
            pending += String(buffer: buffer)
            while let newline = pending.firstIndex(of: "\n") {
                let line = pending[..<newline]
                pending = String(pending[pending.index(after: newline)...])
                guard line.hasPrefix("data: "), line != "data: [DONE]",
                    let chunk = try? JSONDecoder().decode(Wire.CompletionChunk.self, from: Data(line.dropFirst(6).utf8))
                else { continue }
                if let n = chunk.usage?.completion_tokens { usageTokens = n }
                if let text = chunk.choices?.first?.text, !text.isEmpty { times.append(now) }
            }
        }
        // A stream that ended at once (end of turn first) has no time to first token.
        let ttft = times.first.map { ($0 - start).seconds }
        let gaps = zip(times.dropFirst(), times).map { ($0 - $1).seconds }
        return StreamSample(ttft: ttft, gaps: gaps, tokens: usageTokens ?? times.count)
    }
}

/// The OpenAI-compatible shapes the load generator sends and reads: only the fields it needs, so
/// any server of that API (ours, llama.cpp's) decodes; unknown fields are ignored.
private enum Wire {
    struct ModelList: Decodable {
        struct Entry: Decodable { let id: String }
        let data: [Entry]
    }

    struct CompletionRequest: Encodable {
        struct StreamOptions: Encodable { let include_usage: Bool }
        let model: String
        let prompt: String
        let max_tokens: Int
        let temperature: Double
        let stream: Bool
        let stream_options: StreamOptions
    }

    struct CompletionChunk: Decodable {
        struct Choice: Decodable { let text: String? }
        struct Usage: Decodable { let completion_tokens: Int? }
        let choices: [Choice]?
        let usage: Usage?
    }
}

/// Hands out request numbers to the workers of one level.
private final class RequestCounter: Sendable {
    private let value = Atomic<Int>(0)

    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
