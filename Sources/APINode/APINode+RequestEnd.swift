import HTTPTypes
import Logging
import MLNode
import Telemetry
import Tracing

extension APINode {
    /// `GET /metrics`: this node's families, then the embedded ML node's (when it has one), with
    /// the gauges read at scrape time set first.
    func metricsExposition() -> String {
        var text = metrics.exposition(txBacklog: txs.backlog())
        if let embedded = registry.localBackend {
            if !text.hasSuffix("\n") { text += "\n" }
            text += embeddedMLMetrics.exposition(load: embedded.load)
        }
        return text
    }

    /// A request's trace from its first mark, with a root span when this node exports traces
    /// (`operation`: the span's name; `headers`: where a caller's `traceparent` is read).
    func startTrace(_ first: PathTrace.Mark, operation: String, headers: HTTPFields) -> PathTrace {
        var trace = PathTrace(first)
        if configuration.tracing.isEnabled {
            trace.spans = RequestSpans(
                tracer: configuration.tracing.tracer, operation: operation, headers: headers, start: trace.marks[0].at)
        }
        return trace
    }

    /// The one place a request ends on this node, for both roles: its trace kept for
    /// `bench api --trace`, its latency histograms, its outcome counted (exactly once: every path
    /// of the TA and the executor ends here or in the refusal before a trace), its spans ended.
    func ended(_ trace: PathTrace, inferenceID: String?, outcome: RequestOutcome) {
        if let inferenceID { traces.append(trace, inferenceID: inferenceID) }
        metrics.observe(trace)
        metrics.increment(
            "gonka_api_request_outcome_total",
            [("role", trace.role), ("outcome", outcome.outcome), ("reason", outcome.reason)])
        trace.spans?.end(trace, outcome: outcome, inferenceID: inferenceID)
        logger.debug(
            trace.role == "ta" ? "relayed" : "executed",
            metadata: [
                "inference.id": "\(inferenceID ?? "-")", "outcome": "\(outcome.outcome)", "reason": "\(outcome.reason)",
                "timing": "\(trace.serverTiming())",
            ])
    }
}
