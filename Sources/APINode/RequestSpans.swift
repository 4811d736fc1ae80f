import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOHTTP1
import Tracing

/// One request's spans on one node (issue 18, OpenTelemetry through swift-distributed-tracing):
/// a root span from the request's first ``PathTrace`` mark to its last, and at its end one child
/// span per phase, cut at the same marks that write `Server-Timing` and feed `bench api --trace`,
/// so the three never disagree. Live spans are made only where another node must see the
/// context: each forward attempt of the TA (``child(_:kind:)``) carries its `traceparent` to the
/// executor, whose root span is then that attempt's child — one trace across both nodes.
///
/// Spans carry wall-clock instants and the marks are monotonic: the root's start is read on both
/// clocks once and every mark is placed by its monotonic distance from it.
struct RequestSpans: Sendable {
    let tracer: any Tracer
    let root: any Span
    private let anchor: ContinuousClock.Instant
    private let anchorWall: DefaultTracerClock.Instant

    /// Starts the root span `operation` at `start`, as a child of the context in `headers` (a
    /// caller's `traceparent`), or of nothing.
    init(tracer: any Tracer, operation: String, headers: HTTPFields, start: ContinuousClock.Instant) {
        self.tracer = tracer
        anchor = ContinuousClock.now
        anchorWall = DefaultTracerClock.now
        var parent = InstrumentationContext.topLevel
        tracer.extract(headers, into: &parent, using: HTTPFieldsExtractor())
        let at = Self.wall(start, anchor: anchor, anchorWall: anchorWall)
        root = tracer.startSpan(
            operation, context: parent, ofKind: .server, at: at, function: #function, file: #fileID, line: #line)
    }

    /// A live child of the root starting now (a forward attempt); end it with `end()`.
    func child(_ operation: String, kind: SpanKind) -> any Span {
        tracer.startSpan(
            operation, context: root.context, ofKind: kind, at: DefaultTracerClock.now, function: #function,
            file: #fileID, line: #line)
    }

    /// Writes `context` into outgoing request headers as `traceparent` (and `tracestate`).
    func inject(_ context: InstrumentationContext, into headers: inout HTTPHeaders) {
        tracer.inject(context, into: &headers, using: HTTPHeadersInjector())
    }

    /// The phases of `trace` as children of the root, then the root itself ended at the last
    /// mark with the request's outcome (an error status unless it completed).
    func end(_ trace: PathTrace, outcome: RequestOutcome, inferenceID: String?) {
        for (previous, this) in zip(trace.marks, trace.marks.dropFirst()) {
            let span = tracer.startSpan(
                this.mark.spanName, context: root.context, ofKind: .internal, at: wall(previous.at),
                function: #function, file: #fileID, line: #line)
            span.attributes["gonka.phase"] = this.mark.rawValue
            span.end(at: wall(this.at))
        }
        if let inferenceID { root.attributes["gonka.inference_id"] = inferenceID }
        root.attributes["gonka.role"] = trace.role
        root.attributes["gonka.outcome"] = outcome.outcome
        root.attributes["gonka.reason"] = outcome.reason
        if outcome != .completed { root.setStatus(SpanStatus(code: .error, message: outcome.reason)) }
        root.end(at: wall(trace.marks.last?.at ?? anchor))
    }

    private func wall(_ instant: ContinuousClock.Instant) -> DefaultTracerClock.Instant {
        Self.wall(instant, anchor: anchor, anchorWall: anchorWall)
    }

    private static func wall(
        _ instant: ContinuousClock.Instant, anchor: ContinuousClock.Instant, anchorWall: DefaultTracerClock.Instant
    ) -> DefaultTracerClock.Instant {
        let (seconds, attoseconds) = (instant - anchor).components
        let offset = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        let base = Int64(clamping: anchorWall.nanosecondsSinceEpoch)
        return DefaultTracerClock.Instant(nanosecondsSinceEpoch: UInt64(clamping: base + offset))
    }
}

extension PathTrace.Mark {
    /// The name of the span for the phase that ends at this mark (its `Server-Timing` name is the
    /// span's `gonka.phase` attribute).
    var spanName: String {
        switch self {
        case .taReceived: "ta receive"
        case .taVerified: "ta admit: verify"
        case .taCounted: "ta admit: count prompt tokens"
        case .taEscrowed: "ta admit: escrow"
        case .taDrawn: "ta draw"
        case .taHead: "ta forward"
        case .taFirstByte: "ta relay: first byte"
        case .taFirstToken: "ta relay: first token"
        case .taEnd: "ta relay: answer"
        case .execReceived: "executor receive"
        case .execVerified: "executor verify"
        case .execRewritten: "executor rewrite"
        case .execMLHead: "ml node admit"
        case .execMLFirstToken: "ml node prefill"
        case .execFirstRelayed: "executor relay: first token"
        case .execMLEnd: "ml node decode"
        case .execEnd: "executor answer end"
        case .execStored: "executor payload and Finish"
        }
    }
}

/// Reads `traceparent` from a request's header fields.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}

/// Writes `traceparent` into an outgoing AsyncHTTPClient request's headers.
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}
