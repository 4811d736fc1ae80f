import CoreMetrics
import Prometheus
import Synchronization

/// One process part's metrics (a chain node, an API node, an ML node, the proxy): swift-metrics
/// `Counter`, `Gauge` and `Timer` values backed by a swift-prometheus registry of its own, so two
/// nodes in one test process never mix their counts and no global `MetricsSystem` is bootstrapped.
/// `GET /metrics` answers ``exposition`` (Prometheus text format 0.0.4).
///
/// Metric objects are made once per name and label values and kept; a name keeps the label names
/// and type it was first used with (the registry refuses a second shape).
public final class MetricsRegistry: Sendable {
    /// Latency buckets (seconds) for request phases: first token, end to end, upstream.
    public static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]
    /// Buckets for short per-token intervals.
    public static let tokenBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
    ]

    /// The registry the exposition is written from.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let counters = Mutex<[Key: CoreMetrics.Counter]>([:])
    private let gauges = Mutex<[Key: CoreMetrics.Gauge]>([:])
    private let timers = Mutex<[Key: CoreMetrics.Timer]>([:])

    private struct Key: Hashable {
        var name: String
        var labels: [String]
    }

    /// A registry whose timers named in `buckets` use those buckets, others ``latencyBuckets``.
    public init(buckets: [String: [Duration]] = [:]) {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        factory.durationHistogramBuckets = buckets
        self.factory = factory
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> Key {
        Key(name: name, labels: labels.flatMap { [$0.0, $0.1] })
    }

    /// Adds `amount` to the counter `name` with `labels`.
    public func increment(_ name: String, _ labels: [(String, String)] = [], by amount: Int = 1) {
        let counter = counters.withLock { map in
            let key = Self.key(name, labels)
            if let counter = map[key] { return counter }
            let counter = CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
            map[key] = counter
            return counter
        }
        counter.increment(by: amount)
    }

    /// Sets the gauge `name` with `labels` to `value`.
    public func set(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        gauge(name, labels).record(value)
    }

    /// Sets the gauge `name` with `labels` to `value` (fractional).
    public func set(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        gauge(name, labels).record(value)
    }

    private func gauge(_ name: String, _ labels: [(String, String)]) -> CoreMetrics.Gauge {
        gauges.withLock { map in
            let key = Self.key(name, labels)
            if let gauge = map[key] { return gauge }
            let gauge = CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
            map[key] = gauge
            return gauge
        }
    }

    /// Records one observation of the histogram `name` (in seconds) with `labels`.
    public func observe(_ name: String, _ labels: [(String, String)] = [], _ duration: Duration) {
        let timer = timers.withLock { map in
            let key = Self.key(name, labels)
            if let timer = map[key] { return timer }
            let timer = CoreMetrics.Timer(label: name, dimensions: labels, factory: factory)
            map[key] = timer
            return timer
        }
        timer.recordNanoseconds(Self.nanoseconds(duration))
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Prometheus text exposition of every metric recorded so far.
    public var exposition: String { registry.emitToString() }

    /// A sample's value as the exposition shows it (`name` or `name{label="value",…}` exactly as
    /// written there), or 0 when absent: for tests and tools that read one figure.
    public func value(_ sample: String) -> Double {
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), line[..<space] == sample[...] else { continue }
            return Double(line[line.index(after: space)...]) ?? 0
        }
        return 0
    }
}
