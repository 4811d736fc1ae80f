import APINode
import AsyncHTTPClient
import Foundation
import GonkaCore
import GonkaTestTraits
import HTTPTypes
import Hummingbird
import MLNode
import NIOCore
import Synchronization
import Telemetry
import Testing

/// Issue 18: the request path's spans exported over OTLP/HTTP (swift-otel) to a collector
/// stand-in — one trace from the client's `traceparent` through the TA to the executor.
@Suite(.serialized, .hangGuard) struct TracingTests {
    @Test(.timeLimit(.minutes(5))) func oneRequestIsOneTraceAcrossTheTAAndTheExecutor() async throws {
        let collector = try await CollectorStandIn.start()
        defer { collector.stop() }
        try await TestNet.with(participants: 2, otlpEndpoint: collector.url) { net in
            let ta = net.accountKeys[0].publicKey.address
            let body = chatBody("Say hello.", maxTokens: 6)
            // The developer's own trace: the TA's span must join it.
            let clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
            let clientSpan = "00f067aa0ba902b7"
            let headers =
                BadInputTests.signed(body, key: net.wallet[0], ta: ta) + [
                    ("traceparent", "00-\(clientTrace)-\(clientSpan)-01")
                ]
            let answer = try await post(net.apiURLs[0] + "/v1/chat/completions", body: body, headers: headers)
            #expect(answer.status == 200, "\(answer.text)")
            let id = try #require(answer.headers[GonkaHeader.inferenceID.lowercased()])
            let executor = try #require(answer.headers[GonkaHeader.executor.lowercased()])
            let executorIndex = try #require(
                net.accountKeys.firstIndex { $0.publicKey.address.description == executor })

            // Both roots end after the answer (the executor's after the payload and the Finish).
            let spans = try await collector.waitFor(seconds: 60) { spans in
                let roots = spans.filter { $0.attributes["gonka.inference_id"] == id }
                return Set(roots.compactMap { $0.attributes["gonka.role"] }) == ["ta", "executor"]
            }
            let roots = spans.filter { $0.attributes["gonka.inference_id"] == id }
            let taRoot = try #require(roots.first { $0.attributes["gonka.role"] == "ta" })
            let executorRoot = try #require(roots.first { $0.attributes["gonka.role"] == "executor" })

            // One trace: the client's.
            #expect(taRoot.traceID == clientTrace)
            #expect(taRoot.parentSpanID == clientSpan)
            #expect(executorRoot.traceID == clientTrace)
            #expect(taRoot.name == "POST /v1/chat/completions" && taRoot.kind == 2)
            #expect(executorRoot.name == "POST /v1/executor/chat/completions" && executorRoot.kind == 2)
            // Each from its own node.
            #expect(taRoot.instance == "node0")
            #expect(executorRoot.instance == "node\(executorIndex)")
            #expect(taRoot.attributes["gonka.outcome"] == "completed")
            #expect(executorRoot.attributes["gonka.outcome"] == "completed")

            // The executor's root is the child of the TA's forward attempt that reached it.
            let trace = spans.filter { $0.traceID == clientTrace }
            let attempt = try #require(trace.first { $0.spanID == executorRoot.parentSpanID })
            #expect(attempt.name == "ta forward attempt" && attempt.kind == 3)
            #expect(attempt.parentSpanID == taRoot.spanID)
            #expect(attempt.attributes["gonka.executor"] == executor)

            // The phases hang off their node's root, named as the issue names the path.
            let taPhases = Set(trace.filter { $0.parentSpanID == taRoot.spanID }.map(\.name))
            let executorPhases = Set(trace.filter { $0.parentSpanID == executorRoot.spanID }.map(\.name))
            for name in ["ta admit: verify", "ta admit: escrow", "ta draw", "ta forward", "ta relay: answer"] {
                #expect(taPhases.contains(name), "TA phases: \(taPhases)")
            }
            for name in ["executor verify", "ml node prefill", "ml node decode", "executor payload and Finish"] {
                #expect(executorPhases.contains(name), "executor phases: \(executorPhases)")
            }

            // A refused request: its own root span and outcome, no executor.
            var forged = BadInputTests.signed(body, key: net.wallet[0], ta: ta)
            forged = forged.map { $0.0 == "Authorization" ? ($0.0, "Gonka " + String(repeating: "A", count: 88)) : $0 }
            let refused = try await post(net.apiURLs[0] + "/v1/chat/completions", body: body, headers: forged)
            #expect(refused.status == 401, "\(refused.text)")
            let code = try #require(refused.errorCode)
            let refusedRoot = try await collector.waitFor(seconds: 30) { spans in
                spans.contains { $0.attributes["gonka.reason"] == code }
            }.first { $0.attributes["gonka.reason"] == code }
            #expect(
                refusedRoot?.attributes["gonka.outcome"] == "refused" && refusedRoot?.attributes["gonka.role"] == "ta")

            // Exactly one outcome per request and role: the TA saw two requests, the executor one.
            let taMetrics = net.apiNodes[0].metrics
            #expect(
                taMetrics.value(#"gonka_api_request_outcome_total{role="ta",outcome="completed",reason="ok"}"#) == 1)
            #expect(
                taMetrics.value(#"gonka_api_request_outcome_total{role="ta",outcome="refused",reason="\#(code)"}"#) == 1
            )
            let outcomes = net.apiNodes.flatMap { node in
                node.metrics.text.split(separator: "\n").filter { $0.hasPrefix("gonka_api_request_outcome_total{") }
            }
            let total = outcomes.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
            #expect(total == 3, "\(outcomes)")
            let executorMetrics = net.apiNodes[executorIndex].metrics
            #expect(
                executorMetrics.value(
                    #"gonka_api_request_outcome_total{role="executor",outcome="completed",reason="ok"}"#)
                    == 1)

            // The embedded ML node's families are in its API node's /metrics (it has no port to scrape).
            let scraped = try await get(net.apiURLs[executorIndex] + "/metrics").text
            #expect(scraped.contains("# TYPE gonka_mlnode_generation_tokens_total counter"))
            #expect(scraped.contains("# TYPE gonka_mlnode_kv_cache_usage_perc gauge"))
            #expect(
                net.apiNodes[executorIndex].embeddedMLMetrics.registry.value("gonka_mlnode_generation_tokens_total") > 0
            )

            // Server-Timing is written from the same marks: each phase it names lasts as long
            // as the span of that phase (to its 3 decimals of a millisecond).
            let timing = PathTrace.parseServerTiming(try #require(answer.headers["server-timing"]))
            #expect(timing.count >= 8, "\(timing)")
            for (name, milliseconds) in timing {
                let span = try #require(trace.first { $0.attributes["gonka.phase"] == name }, "no span for \(name)")
                #expect(
                    abs(span.milliseconds - milliseconds) < 0.002, "\(name): \(span.milliseconds) vs \(milliseconds)")
            }

            // Through the signing proxy: the developer's trace context goes on to the TA, and the
            // phase timings come back.
            let proxy = SigningProxy(key: net.wallet[1], nodes: [net.apiURLs[0]], logger: TestNet.logger("proxy"))
            let proxyTrace = "0af7651916cd43dd8448eb211c80319c"
            try await GatewayTests().withProxy(proxy) { base in
                let viaProxy = try await post(
                    base + "/v1/chat/completions", body: chatBody("Proxy?", maxTokens: 2),
                    headers: [("traceparent", "00-\(proxyTrace)-b7ad6b7169203331-01")])
                #expect(viaProxy.status == 200, "\(viaProxy.text)")
                #expect(viaProxy.headers["server-timing"]?.contains("ta-forward") == true)
            }
            _ = try await collector.waitFor(seconds: 30) { spans in
                spans.contains { $0.traceID == proxyTrace && $0.attributes["gonka.role"] == "ta" }
            }
        }
    }

    /// A bad endpoint is refused when the tracer is made, with the reason; a good one is not.
    @Test func endpointsAreChecked() throws {
        #expect(TraceExport.problem(withEndpoint: "http://127.0.0.1:4318") == nil)
        #expect(TraceExport.problem(withEndpoint: "https://collector.example/otlp/") == nil)
        for bad in ["", "127.0.0.1:4318", "ftp://host:21", "http://", "http://host:4318/?x=1"] {
            #expect(TraceExport.problem(withEndpoint: bad) != nil, "\(bad)")
            #expect(throws: TraceExportError.self) {
                try TraceExport.otlp(.init(endpoint: bad), serviceName: "s", instance: "i", logger: TestNet.logger("x"))
            }
        }
        #expect(TraceExport.OTLPSettings(endpoint: "http://h:4318").tracesURL == "http://h:4318/v1/traces")
        #expect(TraceExport.OTLPSettings(endpoint: "http://h:4318/").tracesURL == "http://h:4318/v1/traces")
    }
}

/// An OpenTelemetry collector stand-in: a loopback HTTP server taking OTLP/HTTP JSON at
/// `POST /v1/traces` and keeping every span with its resource's `service.instance.id`.
final class CollectorStandIn: Sendable {
    struct Span: Sendable {
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        var kind: Int
        var instance: String
        var attributes: [String: String]
        var milliseconds: Double
    }

    private let spans = Mutex<[Span]>([])
    private let task = Mutex<Task<Void, any Error>?>(nil)
    private let port = Mutex<Int?>(nil)

    var url: String { "http://127.0.0.1:\(port.withLock { $0 } ?? 0)" }
    var all: [Span] { spans.withLock { $0 } }

    static func start() async throws -> CollectorStandIn {
        let collector = CollectorStandIn()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            collector.take(Data(body.readableBytesView))
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in collector.port.withLock { $0 = channel.localAddress?.port } },
            logger: TestNet.logger("collector"))
        collector.task.withLock { $0 = Task { try await app.runService() } }
        let deadline = ContinuousClock.now + .seconds(30)
        while collector.port.withLock({ $0 }) == nil {
            guard ContinuousClock.now < deadline else { throw TestNetError("the collector stand-in never listened") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return collector
    }

    func stop() { task.withLock { $0?.cancel() } }

    /// Waits until `ready` holds for the spans received so far; returns them.
    func waitFor(seconds: Int, _ ready: ([Span]) -> Bool) async throws -> [Span] {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            let now = all
            if ready(now) { return now }
            guard ContinuousClock.now < deadline else {
                throw TestNetError("the collector has \(now.count) spans, not the ones awaited: \(now.map(\.name))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// One export request: `resourceSpans[].resource.attributes` and `scopeSpans[].spans[]`.
    private func take(_ body: Data) {
        guard let root = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return }
        var found: [Span] = []
        for resource in root["resourceSpans"] as? [[String: Any]] ?? [] {
            let resourceAttributes = Self.attributes((resource["resource"] as? [String: Any])?["attributes"])
            for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scope["spans"] as? [[String: Any]] ?? [] {
                    let start = Double(span["startTimeUnixNano"] as? String ?? "") ?? 0
                    let end = Double(span["endTimeUnixNano"] as? String ?? "") ?? 0
                    found.append(
                        Span(
                            traceID: Self.hex(span["traceId"]), spanID: Self.hex(span["spanId"]),
                            parentSpanID: Self.hex(span["parentSpanId"]), name: span["name"] as? String ?? "",
                            kind: Self.kind(span["kind"]), instance: resourceAttributes["service.instance.id"] ?? "",
                            attributes: Self.attributes(span["attributes"]), milliseconds: (end - start) / 1e6))
                }
            }
        }
        spans.withLock { $0 += found }
    }

    /// OTLP/JSON ids as the protobuf JSON mapping writes bytes (base64), read back as hex.
    private static func hex(_ value: Any?) -> String {
        guard let text = value as? String, !text.isEmpty else { return "" }
        guard let bytes = Data(base64Encoded: text) else { return text.lowercased() }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// `SPAN_KIND_SERVER` is 2, `SPAN_KIND_CLIENT` 3 (as a number or its enum name).
    private static func kind(_ value: Any?) -> Int {
        if let number = value as? Int { return number }
        switch value as? String {
        case "SPAN_KIND_INTERNAL": return 1
        case "SPAN_KIND_SERVER": return 2
        case "SPAN_KIND_CLIENT": return 3
        default: return 0
        }
    }

    private static func attributes(_ value: Any?) -> [String: String] {
        var out: [String: String] = [:]
        for attribute in value as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any] else {
                continue
            }
            if let text = value["stringValue"] as? String {
                out[key] = text
            } else if let number = value["intValue"] {
                out[key] = "\(number)"
            }
        }
        return out
    }
}
