import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Where one node's spans go (issue 18): nowhere (``off``), or to an OpenTelemetry collector over
/// OTLP/HTTP (`[telemetry] otlp_endpoint`, ``otlp(_:serviceName:instance:logger:)``). Each node
/// gets its own tracer and no process-global `InstrumentationSystem` is bootstrapped, so several
/// nodes in one test process keep their spans (and their `service.instance.id`) apart.
public struct TraceExport: Sendable {
    /// Makes the spans: swift-otel's tracer, or `NoOpTracer`.
    public let tracer: any Tracer
    /// The exporter's background work (batching, sending, the last flush at shutdown); run it in
    /// the node's `ServiceGroup`, first, so that it stops after the services that make spans.
    public let service: (any Service)?

    /// Whether spans are recorded at all (the request path skips making them when not).
    public var isEnabled: Bool { service != nil }

    /// No spans.
    public static let off = TraceExport(tracer: NoOpTracer(), service: nil)

    private init(tracer: any Tracer, service: (any Service)?) {
        self.tracer = tracer
        self.service = service
    }

    /// Where and how to send: `endpoint` is the collector's base URL (`http://host:4318`, the
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` convention: spans go to `endpoint/v1/traces`).
    public struct OTLPSettings: Sendable, Hashable {
        public var endpoint: String
        public var format: WireFormat
        /// The longest a finished span waits in the batch before it is sent.
        public var exportDelay: Duration

        public init(endpoint: String, format: WireFormat = .protobuf, exportDelay: Duration = .seconds(2)) {
            self.endpoint = endpoint
            self.format = format
            self.exportDelay = exportDelay
        }

        /// The URL spans are posted to.
        public var tracesURL: String {
            endpoint.hasSuffix("/") ? endpoint + "v1/traces" : endpoint + "/v1/traces"
        }
    }

    /// OTLP/HTTP's two encodings, named as `OTEL_EXPORTER_OTLP_PROTOCOL` names them.
    public enum WireFormat: String, Sendable, CaseIterable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }

    /// Checks an endpoint as `[telemetry] otlp_endpoint` takes it: an `http` or `https` URL with a
    /// host, without query or fragment. Returns why not, or nil when it is fine.
    public static func problem(withEndpoint endpoint: String) -> String? {
        guard let url = URLComponents(string: endpoint), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty
        else {
            return "must be an http:// or https:// URL with a host (e.g. http://127.0.0.1:4318), got \"\(endpoint)\""
        }
        guard url.query == nil, url.fragment == nil else {
            return "must not have a query or fragment, got \"\(endpoint)\""
        }
        return nil
    }

    /// Spans exported to `settings.endpoint` as `serviceName` (`service.name`) from `instance`
    /// (`service.instance.id`: which node, e.g. its address). Every span is sampled; the exporter
    /// batches, and a collector that is down costs dropped spans (logged by the exporter at
    /// warning level through `logger`), never a failed request.
    public static func otlp(
        _ settings: OTLPSettings, serviceName: String, instance: String, logger: Logger
    ) throws -> TraceExport {
        if let problem = problem(withEndpoint: settings.endpoint) { throw TraceExportError(problem) }
        var config = OTel.Configuration.default
        config.serviceName = serviceName
        config.resourceAttributes = ["service.instance.id": instance]
        config.diagnosticLogger = .custom(logger)
        config.diagnosticLogLevel = .warning
        config.propagators = [.traceContext]
        config.metrics.enabled = false
        config.logs.enabled = false
        config.traces.sampler = .alwaysOn
        config.traces.batchSpanProcessor.scheduleDelay = settings.exportDelay
        config.traces.otlpExporter.endpoint = settings.tracesURL
        config.traces.otlpExporter.protocol = settings.format == .json ? .httpJSON : .httpProtobuf
        let backend = try OTel.makeTracingBackend(configuration: config)
        return TraceExport(tracer: backend.factory, service: backend.service)
    }
}

/// A tracing setting that cannot be used (a malformed endpoint).
public struct TraceExportError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
