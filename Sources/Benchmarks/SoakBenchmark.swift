import APINode
import AsyncHTTPClient
import ChainNode
import Devnet
import Foundation
import GonkaCore
import Inference
import Ledger
import NIOCore
import NIOHTTP1
import Storage
import Telemetry

/// `gonka bench soak`: a devnet of real node processes (the `Devnet` module `gonka devnet up`
/// uses, each node with its API node serving the model) under steady client traffic, streamed and
/// not, sampled every `interval`: per node RSS, threads, open file descriptors and the sizes of
/// the data directory's parts (state, consensus WAL, blocks, payloads). The report gives each
/// metric's slope over the second half of the run, where a bounded node is flat (issue 23).
public struct SoakBenchmark: Sendable {
    public var participants: Int
    public var duration: Duration
    /// Requests per second, spread over the nodes' Transfer Agents in turn.
    public var rate: Double
    public var interval: Duration
    public var maxTokens: Int
    /// 30-block epochs instead of 120, so the windows of pruning pass within a short run.
    public var shortEpochs: Bool
    /// `[storage] keep_blocks` of every node (0: keep all).
    public var keepBlocks: UInt64
    /// `[state] keep_recent` of every node (nil: the default, 1,000 versions).
    public var keepRecent: UInt64? = nil
    /// `[memory]` budgets of every node by name, in MiB (the rest keep their defaults).
    public var memory: [String: Int] = [:]
    /// The gonka binary the nodes run; the GGUF they serve (nil: $GONKA_MODEL or the `make model` cache).
    public var binary: String
    public var model: String?
    public var keep: Bool

    public init(
        participants: Int, duration: Duration, rate: Double, interval: Duration, maxTokens: Int, shortEpochs: Bool,
        keepBlocks: UInt64, binary: String, model: String?, keep: Bool
    ) {
        self.participants = participants
        self.duration = duration
        self.rate = rate
        self.interval = interval
        self.maxTokens = maxTokens
        self.shortEpochs = shortEpochs
        self.keepBlocks = keepBlocks
        self.binary = binary
        self.model = model
        self.keep = keep
    }

    /// Starts the devnet, sends traffic and samples until `duration` has passed; the devnet is
    /// stopped and deleted (unless `keep`) whatever happens. Progress lines go to `output`.
    public func run(output: @Sendable (String) -> Void) async throws -> SoakReport {
        let path = ModelCache.resolve(model)
        guard FileManager.default.fileExists(atPath: path) else {
            throw BenchmarkError("no model at \(path) (make model)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-soak-\(UUID().uuidString)")
        let manifest = try await DevnetRunner.prepare(
            dir: dir, participants: participants, testHooks: false, reset: false, binary: binary, model: path,
            epochs: shortEpochs ? .short : .devnet, registeredModel: Self.model)
        if keepBlocks > 0 || keepRecent != nil || !memory.isEmpty {
            for node in manifest.nodes {
                let url = URL(fileURLWithPath: node.home).appendingPathComponent("config.toml")
                var config = try NodeConfig(toml: String(contentsOf: url, encoding: .utf8))
                config.keepBlocks = keepBlocks
                if let keepRecent { config.keepRecent = keepRecent }
                for (name, mib) in memory { config.memory[name] = mib }
                try config.toml.write(to: url, atomically: true, encoding: .utf8)
            }
        }
        var report: SoakReport?
        try await DevnetRunner.withStarted(manifest, dir: dir, keep: keep, progress: output) { started in
            report = try await soak(started, output: output)
        }
        guard let report else { throw BenchmarkError("the soak produced no report") }
        return report
    }

    private func soak(_ manifest: DevnetManifest, output: @Sendable (String) -> Void) async throws -> SoakReport {
        let developer = try KeyStore(home: URL(fileURLWithPath: manifest.faucet.home, isDirectory: true))
            .load(DevnetLayout.developerKey)
        output("waiting for the API nodes to serve…")
        try await waitForAPIs(manifest)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: SoakTraffic.clientConfiguration)
        let traffic = SoakTraffic(manifest: manifest, developer: developer, maxTokens: maxTokens, http: http)
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + duration
        var samples: [SoakReport.Sample] = []
        // Each sample's line ends with the requests so far, so a run whose traffic stopped
        // succeeding says so while it runs, not only in the report.
        func sample() async {
            let elapsed = (clock.now - start).soakSeconds
            var nodes: [SoakReport.NodeSample] = []
            for node in manifest.nodes {
                var sample = SoakProbe.node(node)
                sample.gauges = await SoakProbe.memoryGauges(node, http: http)
                nodes.append(sample)
            }
            samples.append(SoakReport.Sample(seconds: elapsed, nodes: nodes))
            let line = nodes.enumerated().map { i, n in
                "n\(i) rss \(n.rssBytes >> 20) MiB (anon \(Int(n.gauges?["resident.anon"] ?? 0) >> 20)) fds \(n.fds) "
                    + "disk \(n.diskBytes >> 20) MiB"
            }.joined(separator: " | ")
            let counts = await traffic.counts
            output(
                String(format: "t=%5.0fs ", elapsed) + line
                    + " | requests \(counts.succeeded) ok, \(counts.failed) failed"
                    + (counts.failed > 0 ? " (first: \(counts.firstFailure?.prefix(120) ?? ""))" : ""))
        }
        await sample()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await traffic.run(rate: rate, until: end) }
            var next = start + interval
            while next <= end {
                try await Task.sleep(until: next, clock: clock)
                await sample()
                next = next + interval
            }
            do {
                try await group.waitForAll()
            } catch {
                try? await http.shutdown()
                throw error
            }
        }
        try await http.shutdown()
        // Every request has ended and the traffic's client has closed its connections: what is
        // still open is the node's own. That includes the idle connections of its own pools (a TA's
        // to its executors, a validator's to the payloads' hosts), which close after the pool's
        // idle timeout (60 s), and a busy machine leaves more of them. So the drained sample is
        // taken once each node is back to its quietest second-half count, or after that timeout
        // and a margin: what stays open then is what the fd verdict reads.
        let counts = await traffic.counts
        var report = SoakReport(
            participants: manifest.nodes.count, rate: rate, seconds: duration.soakSeconds, sent: counts.sent,
            succeeded: counts.succeeded, failed: counts.failed, skipped: counts.skipped,
            firstFailure: counts.firstFailure, samples: samples)
        let quietest = manifest.nodes.indices.map { report.quietestFds(node: $0) ?? 0 }
        let settled = clock.now + Self.poolIdleTimeout + .seconds(10)
        var drained: [SoakReport.NodeSample]
        repeat {
            try await Task.sleep(for: .seconds(2))
            drained = manifest.nodes.map { SoakProbe.node($0) }
        } while clock.now < settled && zip(drained, quietest).contains { $0.fds > $1 }
        output(
            String(format: "drained after %.0f s: ", (clock.now - end).soakSeconds)
                + drained.enumerated().map { i, n in
                    "n\(i) rss \(n.rssBytes >> 20) MiB fds \(n.fds) (\(n.sockets) sockets)"
                }.joined(separator: " | "))
        report.drained = drained
        return report
    }

    /// The devnet model with a declared capacity (§6.5) far above what these nodes serve. With the
    /// devnet's own (1 token/s per unit of weight) steady traffic keeps utilisation above 0.60, the
    /// price climbs 2% a block, and a 60-minute run at 4 requests/s had drained the developer's
    /// 10,000 GNK after 15 minutes: every later request was refused 402 and the second half
    /// measured an idle network. A soak measures resources, not the price, so the price stays low.
    static let model: Genesis.Model = {
        var model = Genesis.Model.devnetDefault
        model.tokensPerSecondPerWeight = 1_000
        return model
    }()

    /// AsyncHTTPClient's default `connectionPool.idleTimeout`, which the nodes' clients keep.
    static let poolIdleTimeout = Duration.seconds(60)

    private func waitForAPIs(_ manifest: DevnetManifest) async throws {
        let deadline = ContinuousClock.now + .seconds(180)
        for node in manifest.nodes {
            while true {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(node.apiPort)/v1/models")
                request.method = .GET
                if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)),
                    response.status == .ok,
                    let body = try? await response.body.collect(upTo: 1 << 20),
                    String(buffer: body).contains("\"id\"")
                {
                    break
                }
                guard ContinuousClock.now < deadline else {
                    throw BenchmarkError("\(node.moniker)'s API node did not serve a model in 180 s")
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}

/// The client traffic of a soak: signed chat requests at a steady rate, alternately streamed and
/// not, each to the next node's Transfer Agent. At most `maxInFlight` at once; a request due while
/// that many are open is skipped (counted), so a slow network shows as skips, not as a backlog.
actor SoakTraffic {
    struct Counts: Sendable {
        var sent = 0
        var succeeded = 0
        var failed = 0
        var skipped = 0
        var firstFailure: String?
    }

    let manifest: DevnetManifest
    let developer: SigningKey
    let maxTokens: Int
    let maxInFlight = 16
    /// The traffic's own client, shut down by the caller once the traffic has ended so that its
    /// idle keep-alive connections are not counted among the nodes' open files.
    let http: HTTPClient
    private(set) var counts = Counts()
    private var inFlight = 0

    /// As many connections per node as requests may be open at once.
    static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        return configuration
    }

    init(manifest: DevnetManifest, developer: SigningKey, maxTokens: Int, http: HTTPClient) {
        self.manifest = manifest
        self.developer = developer
        self.maxTokens = maxTokens
        self.http = http
    }

    func run(rate: Double, until end: ContinuousClock.Instant) async throws {
        let clock = ContinuousClock()
        let step = Duration.nanoseconds(Int64(1e9 / max(rate, 0.001)))
        var due = clock.now
        var n = 0
        await withTaskGroup(of: Void.self) { group in
            while due < end {
                try? await Task.sleep(until: due, clock: clock)
                if inFlight >= maxInFlight {
                    counts.skipped += 1
                } else {
                    inFlight += 1
                    counts.sent += 1
                    let request = self.request(n)
                    group.addTask { [self, http] in
                        let outcome = await Self.send(request, http: http)
                        await self.finished(outcome)
                    }
                }
                n += 1
                due = due + step
            }
            await group.waitForAll()
        }
    }

    private func finished(_ outcome: String?) {
        inFlight -= 1
        if let outcome {
            counts.failed += 1
            if counts.firstFailure == nil { counts.firstFailure = outcome }
        } else {
            counts.succeeded += 1
        }
    }

    private func request(_ n: Int) -> HTTPClientRequest {
        let node = manifest.nodes[n % manifest.nodes.count]
        let stream = n % 2 == 0
        let body = Array(
            #"{"model":"\#(Genesis.Model.devnetDefault.id)","messages":[{"role":"user","content":"Soak request \#(n): name a colour."}],"max_tokens":\#(maxTokens),"stream":\#(stream)}"#
                .utf8)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(node.apiPort)/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let headers = SignedRequest.headers(
            body: body, key: developer, transferAgent: node.accountAddress, chainID: manifest.chainID,
            timestamp: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    /// nil on success (200 and the whole body read), else why not.
    private static func send(_ request: HTTPClientRequest, http: HTTPClient) async -> String? {
        do {
            let response = try await http.execute(request, timeout: .seconds(120))
            let body = try await response.body.collect(upTo: 8 << 20)
            guard response.status == .ok else {
                return "HTTP \(response.status.code): \(String(buffer: body).prefix(200))"
            }
            return nil
        } catch {
            return "\(error)"
        }
    }
}

/// Reads one node process's resources from `/proc` and its home's data directory.
public enum SoakProbe {
    static func node(_ node: DevnetManifest.Node) -> SoakReport.NodeSample {
        let data = URL(fileURLWithPath: node.home).appendingPathComponent("data")
        var sample = SoakReport.NodeSample()
        if let pid = node.pid {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            sample.rssBytes = UInt64(ProcessMemory.statusNumber(status, "VmRSS:")) * 1024
            sample.threads = ProcessMemory.statusNumber(status, "Threads:")
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            sample.fds = fds.count
            sample.sockets = fds.filter {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)"))?
                    .hasPrefix("socket:") == true
            }.count
        }
        sample.stateBytes = files(data, ["state.sqlite", "state.sqlite-wal", "state.sqlite-shm"])
        sample.stateWALBytes = files(data, ["state.sqlite-wal"])
        sample.blocksBytes = files(data, ["blocks.sqlite", "blocks.sqlite-wal", "blocks.sqlite-shm"])
        sample.walBytes = tree(data.appendingPathComponent("wal"))
        sample.payloadBytes = tree(data.appendingPathComponent("payloads"))
        sample.diskBytes = tree(data)
        return sample
    }

    /// The node's own account of its memory, from its chain `/metrics`: each bounded cache
    /// (`cache.state_page`, …: `gonka_cache_bytes`), its resident memory (`resident.anon`,
    /// `resident.file`) and heap (`heap.in_use`, `heap.mmapped`, `heap.free`), in bytes. nil when
    /// the node does not answer (down, or a binary without them).
    static func memoryGauges(_ node: DevnetManifest.Node, http: HTTPClient) async -> [String: Double]? {
        var request = HTTPClientRequest(url: "\(node.rpcURL)/metrics")
        request.method = .GET
        guard let response = try? await http.execute(request, timeout: .seconds(10)), response.status == .ok,
            let body = try? await response.body.collect(upTo: 4 << 20)
        else { return nil }
        let gauges = memoryGauges(exposition: String(buffer: body))
        return gauges.isEmpty ? nil : gauges
    }

    /// The memory gauges of a Prometheus exposition, keyed as ``memoryGauges(_:http:)`` says.
    public static func memoryGauges(exposition: String) -> [String: Double] {
        let families = [
            "gonka_cache_bytes{cache=": "cache", "gonka_process_resident_bytes{kind=": "resident",
            "gonka_process_heap_bytes{kind=": "heap",
        ]
        var out: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let (family, prefix) = families.first(where: { line.hasPrefix($0.key) }),
                let close = line.firstIndex(of: "}"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            else { continue }
            let label = line[line.index(line.startIndex, offsetBy: family.count)..<close]
                .trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            out["\(prefix).\(label)"] = value
        }
        return out
    }

    static func files(_ dir: URL, _ names: [String]) -> UInt64 {
        names.reduce(0) { $0 + size(dir.appendingPathComponent($1).path) }
    }

    static func size(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    static func tree(_ dir: URL) -> UInt64 {
        guard let walker = FileManager.default.enumerator(atPath: dir.path) else { return 0 }
        var total: UInt64 = 0
        while let name = walker.nextObject() as? String { total += size(dir.appendingPathComponent(name).path) }
        return total
    }
}

/// What a soak measured, and the slopes of the second half.
public struct SoakReport: Codable, Sendable {
    public struct NodeSample: Codable, Sendable, Equatable {
        public var rssBytes: UInt64 = 0
        public var threads = 0
        public var fds = 0
        /// Of ``fds``, the sockets (connections and listeners).
        public var sockets = 0
        /// The state database with its SQLite WAL; ``stateWALBytes`` is the WAL alone.
        public var stateBytes: UInt64 = 0
        public var stateWALBytes: UInt64 = 0
        public var walBytes: UInt64 = 0
        public var blocksBytes: UInt64 = 0
        public var payloadBytes: UInt64 = 0
        /// The whole data directory.
        public var diskBytes: UInt64 = 0
        /// The node's memory as it counts it (``SoakProbe/memoryGauges(_:http:)``; nil when not read).
        public var gauges: [String: Double]?

        public init() {}
    }

    public struct Sample: Codable, Sendable, Equatable {
        public var seconds: Double
        public var nodes: [NodeSample]

        public init(seconds: Double, nodes: [NodeSample]) {
            self.seconds = seconds
            self.nodes = nodes
        }
    }

    public var participants: Int
    public var rate: Double
    public var seconds: Double
    public var sent: Int
    public var succeeded: Int
    public var failed: Int
    public var skipped: Int
    public var firstFailure: String?
    public var samples: [Sample]
    /// Each node once every request had ended (nil in reports from before it was taken).
    public var drained: [NodeSample]?

    public init(
        participants: Int, rate: Double, seconds: Double, sent: Int, succeeded: Int, failed: Int, skipped: Int,
        firstFailure: String?, samples: [Sample], drained: [NodeSample]? = nil
    ) {
        self.drained = drained
        self.participants = participants
        self.rate = rate
        self.seconds = seconds
        self.sent = sent
        self.succeeded = succeeded
        self.failed = failed
        self.skipped = skipped
        self.firstFailure = firstFailure
        self.samples = samples
    }

    /// The metrics a slope is given for, by name, each read from a node sample.
    public static let metrics: [(name: String, unit: String, read: @Sendable (NodeSample) -> Double)] = [
        ("rss", "MiB", { Double($0.rssBytes) / 1_048_576 }),
        ("disk", "MiB", { Double($0.diskBytes) / 1_048_576 }),
        ("state", "MiB", { Double($0.stateBytes) / 1_048_576 }),
        ("state-wal", "MiB", { Double($0.stateWALBytes) / 1_048_576 }),
        ("wal", "MiB", { Double($0.walBytes) / 1_048_576 }),
        ("blocks", "MiB", { Double($0.blocksBytes) / 1_048_576 }),
        ("payloads", "MiB", { Double($0.payloadBytes) / 1_048_576 }),
        ("fds", "", { Double($0.fds) }),
        ("sockets", "", { Double($0.sockets) }),
        ("threads", "", { Double($0.threads) }),
        // The node's own account (nil-safe: 0 where it was not read), so RSS growth can be told
        // apart into caches filling toward their budgets, heap the allocator keeps free, and the rest.
        ("anon", "MiB", { ($0.gauges?["resident.anon"] ?? 0) / 1_048_576 }),
        ("heap-used", "MiB", { ($0.gauges?["heap.in_use"] ?? 0) / 1_048_576 }),
        ("heap-free", "MiB", { ($0.gauges?["heap.free"] ?? 0) / 1_048_576 }),
        ("c-page", "MiB", { ($0.gauges?["cache.state_page"] ?? 0) / 1_048_576 }),
        ("c-node", "MiB", { ($0.gauges?["cache.state_node"] ?? 0) / 1_048_576 }),
        ("c-value", "MiB", { ($0.gauges?["cache.state_value"] ?? 0) / 1_048_576 }),
        ("c-sigs", "MiB", { ($0.gauges?["cache.signatures"] ?? 0) / 1_048_576 }),
        ("c-mempool", "MiB", { ($0.gauges?["cache.mempool"] ?? 0) / 1_048_576 }),
    ]

    /// The samples of the second half of the run (at least two when there are two).
    var secondHalf: [Sample] {
        let half = samples.filter { $0.seconds >= seconds / 2 }
        return half.count >= 2 ? half : Array(samples.suffix(2))
    }

    /// The least-squares slope per minute of `metric` on node `node` over the second half.
    public func slopePerMinute(_ metric: String, node: Int) -> Double {
        guard let read = Self.metrics.first(where: { $0.name == metric })?.read else { return 0 }
        let points = secondHalf.compactMap { s in
            s.nodes.indices.contains(node) ? (s.seconds / 60, read(s.nodes[node])) : nil
        }
        guard points.count >= 2 else { return 0 }
        let n = Double(points.count)
        let mx = points.map(\.0).reduce(0, +) / n
        let my = points.map(\.1).reduce(0, +) / n
        let sxx = points.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        guard sxx > 0 else { return 0 }
        return points.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +) / sxx
    }

    /// `metric` on `node` at the sample nearest `seconds`.
    public func value(_ metric: String, node: Int, at seconds: Double) -> Double {
        guard let read = Self.metrics.first(where: { $0.name == metric })?.read,
            let sample = samples.min(by: { abs($0.seconds - seconds) < abs($1.seconds - seconds) }),
            sample.nodes.indices.contains(node)
        else { return 0 }
        return read(sample.nodes[node])
    }

    /// The fewest open file descriptors of `node` in a second-half sample (nil without one): the
    /// count a drained node comes back to.
    public func quietestFds(node: Int) -> Int? {
        secondHalf.compactMap { $0.nodes.indices.contains(node) ? $0.nodes[node].fds : nil }.min()
    }

    /// How fast `node`'s open file descriptors grow, per minute. With a drained sample: from the
    /// fewest open during the second half to the count once every request had ended, over the
    /// second half's minutes, so connections that were merely open at the last sample (more of them
    /// on a loaded machine, where requests take longer) count for nothing; without one, the slope.
    public func fdGrowthPerMinute(node: Int) -> Double {
        guard let drained, drained.indices.contains(node) else { return slopePerMinute("fds", node: node) }
        guard let fewest = quietestFds(node: node), let first = secondHalf.first?.seconds else { return 0 }
        let minutes = max(seconds - first, 1) / 60
        return Double(drained[node].fds - fewest) / minutes
    }

    /// The clear leaks: a node whose RSS grows faster than `rssMiBPerMinute` over the second half or
    /// whose open file descriptors grow faster than `fdsPerMinute` (``fdGrowthPerMinute(node:)``),
    /// and any failed request.
    public func leaks(rssMiBPerMinute: Double, fdsPerMinute: Double) -> [String] {
        var out: [String] = []
        if failed > 0 { out.append("\(failed) of \(sent) requests failed (first: \(firstFailure ?? "?"))") }
        for node in 0..<participants {
            let rss = slopePerMinute("rss", node: node)
            if rss > rssMiBPerMinute {
                out.append(String(format: "node %d: RSS grows %.1f MiB/min (limit %.1f)", node, rss, rssMiBPerMinute))
            }
            let fds = fdGrowthPerMinute(node: node)
            if fds > fdsPerMinute {
                out.append(String(format: "node %d: open fds grow %.1f/min (limit %.1f)", node, fds, fdsPerMinute))
            }
        }
        return out
    }

    /// The human report: totals, each node's values at the start, middle and end, and the slopes of
    /// the second half.
    public var lines: [String] {
        var out = [
            String(
                format:
                    "%d nodes, %.1f requests/s asked for %.1f min: %d sent (%.2f/s), %d ok, %d failed, %d skipped "
                    + "(due while 16 were open)",
                participants, rate, seconds / 60, sent, Double(sent) / max(seconds, 1), succeeded, failed, skipped)
        ]
        if let firstFailure { out.append("first failure: \(firstFailure)") }
        let marks = [0, seconds / 2, seconds]
        for node in 0..<participants {
            out.append("node \(node):")
            for metric in Self.metrics {
                let values = marks.map { String(format: "%9.1f", value(metric.name, node: node, at: $0)) }
                let slope = slopePerMinute(metric.name, node: node)
                let mean = secondHalf.compactMap { $0.nodes.indices.contains(node) ? metric.read($0.nodes[node]) : nil }
                let average = mean.isEmpty ? 0 : mean.reduce(0, +) / Double(mean.count)
                let percent = average > 0 ? slope / average * 100 : 0
                out.append(
                    "  \(metric.name.padding(toLength: 9, withPad: " ", startingAt: 0)) start/mid/end "
                        + values.joined(separator: " ") + " \(metric.unit)"
                        + String(format: "   second-half slope %+.2f %@/min (%+.2f%%/min)", slope, metric.unit, percent)
                )
            }
            if let drained, drained.indices.contains(node) {
                out.append(
                    String(
                        format: "  drained   rss %.1f MiB, fds %d of which %d sockets (fd growth %+.2f/min)",
                        Double(drained[node].rssBytes) / 1_048_576, drained[node].fds, drained[node].sockets,
                        fdGrowthPerMinute(node: node)))
            }
        }
        return out
    }
}

extension Duration {
    var soakSeconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
