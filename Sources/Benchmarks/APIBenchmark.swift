import APINode
import AsyncHTTPClient
import ChainNode
import Devnet
import Foundation
import GonkaCore
import Inference
import Logging
import NIOCore
import NIOHTTP1
import NodeHost
import ServiceLifecycle
import Storage

/// `gonka bench api`: the latency the network path (Transfer Agent → executor → ML node) adds over
/// calling the executor's ML node directly, measured on a network the caller runs in-process.
public struct APIBenchmark: Sendable {
    /// Requests per path.
    public var requests: Int
    /// `max_tokens` of each request.
    public var maxTokens: Int
    /// Then: requests/s through the network with this many concurrent clients (0: skip).
    public var concurrency: Int
    /// Requests of the throughput run.
    public var throughputRequests: Int
    /// Report the median of each phase of the network path.
    public var trace: Bool

    /// The benchmark with these settings (the options of its command).
    public init(requests: Int, maxTokens: Int, concurrency: Int, throughputRequests: Int, trace: Bool) {
        self.requests = requests
        self.maxTokens = maxTokens
        self.concurrency = concurrency
        self.throughputRequests = throughputRequests
        self.trace = trace
    }

    /// Starts `participants` validators in this process (a devnet layout in a temporary directory,
    /// each with its API node serving `model`, nil: $GONKA_MODEL or the `make model` cache), waits for
    /// blocks and the ML nodes, then ``measure(manifest:apis:developer:output:)``.
    public func run(model: String?, participants: Int, output: (String) -> Void) async throws {
        let path = ModelCache.resolve(model)
        guard FileManager.default.fileExists(atPath: path) else {
            throw BenchmarkError("no model at \(path) (make model)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-bench-api-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifest = try DevnetLayout.create(
            dir: dir, participants: participants, testHooks: false, binary: DevnetProcess.currentExecutable,
            model: path)
        var logger = Logger(label: "bench.api")
        logger.logLevel = .critical
        var nodes: [Node] = []
        var apis: [APINode] = []
        var groups: [[any Service]] = []
        for entry in manifest.nodes {
            let node = try Node(home: URL(fileURLWithPath: entry.home, isDirectory: true), logger: logger)
            guard let api = try NodeHost.apiNode(node: node, logger: logger) else {
                throw BenchmarkError("the layout has no API node")
            }
            nodes.append(node)
            apis.append(api.node)
            groups.append(api.services)
        }
        let developer = try KeyStore(home: URL(fileURLWithPath: manifest.faucet.home, isDirectory: true))
            .load(DevnetLayout.developerKey)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (node, services) in zip(nodes, groups) {
                tasks.addTask { try await node.run(extra: services) }
            }
            defer { tasks.cancelAll() }
            output("waiting for blocks and the ML nodes…")
            let deadline = ContinuousClock.now + .seconds(120)
            while apis.contains(where: { $0.registry.models.isEmpty })
                || nodes.contains(where: { $0.status.snapshot.height < 2 })
            {
                guard ContinuousClock.now < deadline else { throw BenchmarkError("the network did not start in 120 s") }
                try await Task.sleep(for: .milliseconds(200))
            }
            try await measure(manifest: manifest, apis: apis, developer: developer, output: output)
        }
    }

    /// Measures on a running network whose API nodes are `apis` (node `i` of `manifest` serving
    /// `apis[i]`), signing as `developer`; every line of the report goes to `output`, in order.
    public func measure(
        manifest: DevnetManifest, apis: [APINode], developer: SigningKey, output: (String) -> Void
    ) async throws {
        let ta = apis[0]
        let modelID = ta.registry.models[0]
        let taURL = "http://127.0.0.1:\(manifest.nodes[0].apiPort)/v1/chat/completions"
        func body(_ n: Int, rewritten: Bool) -> [UInt8] {
            let extra = rewritten ? #","logprobs":true,"top_logprobs":5,"stream_options":{"include_usage":true}"# : ""
            return Array(
                #"{"model":"\#(modelID)","messages":[{"role":"user","content":"Count to ten. (\#(n))"}],"max_tokens":\#(maxTokens),"temperature":0,"seed":1,"stream":true\#(extra)}"#
                    .utf8)
        }
        // The executor a TA request lands on: ask once and measure its ML node directly.
        let probe = try await Self.timed(
            url: taURL, body: body(-1, rewritten: false),
            headers: Self.signed(body(-1, rewritten: false), ta: ta, developer: developer))
        guard probe.status == 200, let executorText = probe.executor,
            let executorIndex = apis.firstIndex(where: { $0.address.description == executorText }),
            let mlURL = apis[executorIndex].registry.list().first?.url
        else { throw BenchmarkError("the probe request failed (\(probe.status))") }
        output("TA \(ta.address) → executor \(executorText); ML node \(mlURL)")
        var direct: [Sample] = []
        var rewritten: [Sample] = []
        var network: [Sample] = []
        for n in 0..<(requests + 3) {
            // The three paths in a rotating order: the chain work a network request leaves behind
            // (its Start and Finish txs, their gossip and block) slows whatever runs next, so a
            // fixed order would charge it to one path (measured: direct first ran ~6 ms slower
            // than the rewrite second).
            var d: Sample?
            var r: Sample?
            var t: Sample?
            for path in 0..<3 {
                switch (path + n) % 3 {
                case 0:
                    d = try await Self.timed(
                        url: mlURL + "/v1/chat/completions", body: body(n, rewritten: false), headers: [])
                case 1:
                    r = try await Self.timed(
                        url: mlURL + "/v1/chat/completions", body: body(n, rewritten: true), headers: [])
                default:
                    let plain = body(n, rewritten: false)
                    t = try await Self.timed(
                        url: taURL, body: plain, headers: Self.signed(plain, ta: ta, developer: developer))
                }
            }
            guard let d, let r, let t, d.status == 200, r.status == 200, t.status == 200 else {
                throw BenchmarkError(
                    "a request failed: \(d?.status ?? 0) \(r?.status ?? 0) \(t?.status ?? 0)")
            }
            if n >= 3 {
                direct.append(d)
                rewritten.append(r)
                network.append(t)
            }
        }
        func report(_ name: String, _ samples: [Sample]) {
            let first = samples.map(\.firstByte).sorted()
            let total = samples.map(\.total).sorted()
            output(
                "\(name.padding(toLength: 34, withPad: " ", startingAt: 0)) TTFT p50 \(ms(first, 0.5))  p99 \(ms(first, 0.99))   total p50 \(ms(total, 0.5))  p99 \(ms(total, 0.99))"
            )
        }
        output("\(requests) streamed requests per path, max_tokens \(maxTokens), one at a time:")
        report("ML node direct", direct)
        report("ML node direct, executor's rewrite", rewritten)
        report("network (TA → executor → ML node)", network)
        if trace {
            printTrace(network, ta: ta, executor: apis[executorIndex], rewritten: rewritten, output: output)
        }
        let added = median(network.map(\.firstByte)) - median(rewritten.map(\.firstByte))
        let addedTotal = median(network.map(\.total)) - median(rewritten.map(\.total))
        output(
            "added by the network path (vs the rewritten direct call): TTFT p50 \(String(format: "%.2f", added * 1000)) ms, total p50 \(String(format: "%.2f", addedTotal * 1000)) ms"
        )
        // Each round sends the same prompt down both paths back to back, so the per-round
        // difference cancels the model's own drift (the ML node's TTFT moves by ±10 ms between runs
        // on a shared machine, more than the path adds); its median is the better estimate.
        let pairedFirst = median(zip(network, rewritten).map { $0.firstByte - $1.firstByte })
        let pairedTotal = median(zip(network, rewritten).map { $0.total - $1.total })
        output(
            "added, median of the \(network.count) per-round differences: TTFT \(String(format: "%.2f", pairedFirst * 1000)) ms, total \(String(format: "%.2f", pairedTotal * 1000)) ms"
        )
        // The same per-round differences, both ways round, with their p99: (c − a) the whole
        // network path including the rewrite, (b − a) the rewrite alone.
        for (name, upper, lower) in [
            ("network − direct (c − a)", network, direct), ("rewrite − direct (b − a)", rewritten, direct),
            ("network − rewrite (c − b)", network, rewritten),
        ] {
            let first = zip(upper, lower).map { $0.firstByte - $1.firstByte }.sorted()
            let total = zip(upper, lower).map { $0.total - $1.total }.sorted()
            output(
                "paired \(name.padding(toLength: 26, withPad: " ", startingAt: 0)) TTFT p50 \(ms(first, 0.5))  p99 \(ms(first, 0.99))   total p50 \(ms(total, 0.5))  p99 \(ms(total, 0.99))"
            )
        }
        if concurrency > 0 {
            let bodies = (0..<throughputRequests).map { body(1_000 + $0, rewritten: false) }
            try await throughput(
                manifest: manifest, apis: apis, developer: developer, bodies: bodies, output: output)
        }
    }

    /// Requests/s through the network: `concurrency` clients, each sending signed streamed
    /// requests to the TAs in turn, `throughputRequests` in all; every answer must be 200.
    func throughput(
        manifest: DevnetManifest, apis: [APINode], developer: SigningKey, bodies: [[UInt8]],
        output: (String) -> Void
    ) async throws {
        let urls = manifest.nodes.map { "http://127.0.0.1:\($0.apiPort)/v1/chat/completions" }
        let total = bodies.count
        let lanes = concurrency
        let clock = ContinuousClock()
        let start = clock.now
        let samples = try await withThrowingTaskGroup(of: [Sample].self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    var out: [Sample] = []
                    for n in stride(from: lane, to: total, by: lanes) {
                        let ta = apis[n % apis.count]
                        let payload = bodies[n]
                        out.append(
                            try await Self.timed(
                                url: urls[n % urls.count], body: payload,
                                headers: Self.signed(payload, ta: ta, developer: developer)))
                    }
                    return out
                }
            }
            return try await group.reduce(into: [Sample]()) { $0 += $1 }
        }
        let elapsed = (clock.now - start).seconds
        let failed = samples.filter { $0.status != 200 }.count
        let totals = samples.map(\.total).sorted()
        output(
            "throughput: \(samples.count) streamed requests (max_tokens \(maxTokens)), \(lanes) concurrent clients over \(urls.count) TAs: \(String(format: "%.1f", Double(samples.count - failed) / elapsed)) requests/s, total p50 \(ms(totals, 0.5)) p99 \(ms(totals, 0.99)), \(failed) failed"
        )
        if failed > 0 { throw BenchmarkError("\(failed) of \(samples.count) requests failed") }
    }

    struct Sample {
        var status: Int
        var firstByte: Double
        var total: Double
        var executor: String?
        var inferenceID: String?
        /// The client's marks on the process's monotonic clock (the nodes' traces use the same one).
        var sent: ContinuousClock.Instant
        var firstAt: ContinuousClock.Instant
        var endAt: ContinuousClock.Instant
    }

    /// Per phase of the network path, the median over the requests of the time from the previous
    /// mark (in path order) to this one: the client's send, the TA's and the executor's
    /// ``PathTrace`` marks, the client's first token and end, all on one clock (one process).
    func printTrace(
        _ samples: [Sample], ta: APINode, executor: APINode, rewritten: [Sample], output: (String) -> Void
    ) {
        let order: [String] = [
            "client-send", "ta-received", "ta-verify", "ta-count", "ta-escrow", "ta-draw", "exec-received",
            "exec-verify", "exec-rewrite", "exec-ml-head", "ta-forward", "ta-first-byte", "exec-ml-first-token",
            "exec-first-relayed", "ta-first-token", "client-first-token", "exec-ml-end", "exec-end", "ta-end",
            "client-end", "exec-stored",
        ]
        var phases: [String: [Double]] = [:]
        var mlFirst: [Double] = []
        var overheadFirst: [Double] = []
        var overheadTotal: [Double] = []
        var joined = 0
        for sample in samples {
            guard let id = sample.inferenceID,
                let taTrace = ta.traces.entries(for: id).first(where: { $0.trace.instant(of: .taReceived) != nil }),
                let execTrace = executor.traces.entries(for: id).first(where: {
                    $0.trace.instant(of: .execReceived) != nil
                })
            else { continue }
            joined += 1
            var at: [String: ContinuousClock.Instant] = [
                "client-send": sample.sent, "client-first-token": sample.firstAt, "client-end": sample.endAt,
            ]
            for (mark, instant) in taTrace.trace.marks + execTrace.trace.marks { at[mark.rawValue] = instant }
            var previous: ContinuousClock.Instant?
            for name in order {
                guard let instant = at[name] else { continue }
                if let previous { phases[name, default: []].append((instant - previous).seconds * 1000) }
                previous = instant
            }
            if let sent = execTrace.trace.instant(of: .execRewritten),
                let first = execTrace.trace.instant(of: .execMLFirstToken)
            {
                mlFirst.append((first - sent).seconds * 1000)
                // What the path adds around the executor's ML-node call (which stands for the
                // direct call): immune to the model's own run-to-run drift.
                overheadFirst.append(((sample.firstAt - sample.sent) - (first - sent)).seconds * 1000)
                if let end = execTrace.trace.instant(of: .execMLEnd) {
                    overheadTotal.append(((sample.endAt - sample.sent) - (end - sent)).seconds * 1000)
                }
            }
        }
        output("path trace, \(joined) of \(samples.count) requests (median / p99 ms from the previous mark):")
        for name in order.dropFirst() {
            guard let values = phases[name]?.sorted(), !values.isEmpty else { continue }
            output(
                "  \(name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(format: "%8.3f", quantile(values, 0.5)))  \(String(format: "%8.3f", quantile(values, 0.99)))"
            )
        }
        if !mlFirst.isEmpty {
            output(
                "  ML node's TTFT inside the path (exec-rewrite → exec-ml-first-token) p50 \(String(format: "%.2f", median(mlFirst))) ms; direct with the rewrite p50 \(String(format: "%.2f", median(rewritten.map(\.firstByte)) * 1000)) ms"
            )
        }
        if !overheadFirst.isEmpty, !overheadTotal.isEmpty {
            let first = overheadFirst.sorted()
            let total = overheadTotal.sorted()
            output(
                "  path overhead (client time − executor's ML-node call): TTFT p50 \(ms(first, 0.5, scale: 1))  p99 \(ms(first, 0.99, scale: 1))   total p50 \(ms(total, 0.5, scale: 1))  p99 \(ms(total, 0.99, scale: 1))"
            )
        }
    }

    func median(_ values: [Double]) -> Double { quantile(values.sorted(), 0.5) }

    static func signed(_ body: [UInt8], ta: APINode, developer: SigningKey) -> [(String, String)] {
        SignedRequest.headers(
            body: body, key: developer, transferAgent: ta.address, chainID: ta.configuration.chainID,
            timestamp: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
    }

    static func timed(url: String, body: [UInt8], headers: [(String, String)]) async throws -> Sample {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        // Time to the first generated token: the first chunk with non-empty content (the role
        // chunk before it carries "content":"").
        var first: Duration?
        var seen = ""
        for try await buffer in response.body where first == nil {
            seen += String(buffer: buffer)
            if seen.contains(#/"content":"[^"]/#) { first = clock.now - start }
        }
        let end = clock.now
        let total = end - start
        return Sample(
            status: Int(response.status.code), firstByte: (first ?? total).seconds, total: total.seconds,
            executor: response.headers.first(name: GonkaHeader.executor),
            inferenceID: response.headers.first(name: GonkaHeader.inferenceID), sent: start,
            firstAt: start + (first ?? total), endAt: end)
    }

    func ms(_ sorted: [Double], _ q: Double, scale: Double = 1000) -> String {
        String(format: "%7.2f ms", quantile(sorted, q) * scale)
    }

    func quantile(_ sorted: [Double], _ q: Double) -> Double {
        sorted[max(0, min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1))]
    }
}
