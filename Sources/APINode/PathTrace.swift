import Foundation
import HTTPTypes
import Synchronization

/// Where one request's time went on one node: monotonic marks at the steps of the TA's or the
/// executor's path. The marks before the response head go out as a `Server-Timing` header (the
/// executor's inside the TA's, so a client sees both nodes); the whole trace, streaming marks
/// included, goes to the node's ``PathTraceLog`` and a debug log line when the answer ends. A mark
/// is one clock read and an append into reserved storage: cheap enough to stay on in production.
public struct PathTrace: Sendable {
    /// The steps, in the order a request passes them. A phase's duration is the time from the
    /// previous mark taken to its own mark.
    public enum Mark: String, Sendable, CaseIterable, Comparable {
        // Transfer Agent (PROTOCOL §6.2)
        /// The body was read.
        case taReceived = "ta-received"
        /// Headers parsed, freshness, the requester's key, the developer's signature.
        case taVerified = "ta-verify"
        /// Prompt tokens counted with the model's tokenizer.
        case taCounted = "ta-count"
        /// Price, escrow against the balance, replay cache.
        case taEscrowed = "ta-escrow"
        /// The executor set read, the draw, the TA signature, the request built.
        case taDrawn = "ta-draw"
        /// The executor's response head arrived (the forward's round trip up to its head).
        case taHead = "ta-forward"
        /// The first body bytes from the executor were relayed to the client.
        case taFirstByte = "ta-first-byte"
        /// The first bytes carrying generated text were relayed to the client.
        case taFirstToken = "ta-first-token"
        /// The last bytes were relayed.
        case taEnd = "ta-end"

        // Executor (PROTOCOL §6.3)
        /// The forwarded body was read.
        case execReceived = "exec-received"
        /// Both signatures, the TA a participant, the draw re-checked, replay cache.
        case execVerified = "exec-verify"
        /// The body rewritten (logprobs, seed, stream) and an ML node picked.
        case execRewritten = "exec-rewrite"
        /// The ML node's response head arrived.
        case execMLHead = "exec-ml-head"
        /// The first chunk with generated text arrived from the ML node.
        case execMLFirstToken = "exec-ml-first-token"
        /// That chunk, re-encoded for the client, was written towards the TA.
        case execFirstRelayed = "exec-first-relayed"
        /// The ML node's stream ended ([DONE] seen).
        case execMLEnd = "exec-ml-end"
        /// The answer's last bytes were written and the response finished.
        case execEnd = "exec-end"
        /// Payload stored and MsgFinishInference queued (after the response: bookkeeping).
        case execStored = "exec-stored"

        public static func < (a: Self, b: Self) -> Bool { a.order < b.order }

        var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    }

    /// `Server-Timing`, the header the phases go out in.
    public static let serverTimingHeader = HTTPField.Name("Server-Timing")!

    public private(set) var marks: [(mark: Mark, at: ContinuousClock.Instant)] = []
    /// The request's OpenTelemetry spans when this node exports traces (``RequestSpans``): made
    /// from these marks when the request ends.
    var spans: RequestSpans?

    /// `ta` or `executor`: which side of the path the marks are from.
    public var role: String { marks.first.map { $0.mark < .execReceived ? "ta" : "executor" } ?? "ta" }

    public init(_ first: Mark, at instant: ContinuousClock.Instant = .now) {
        marks.reserveCapacity(10)
        marks.append((first, instant))
    }

    /// Records `mark` now. A mark taken twice keeps its first instant, unless `replacing`: then
    /// it moves to `instant` (a trace starts when its request arrives, and its first phase is
    /// timed from when the body was read).
    public mutating func mark(_ mark: Mark, at instant: ContinuousClock.Instant = .now, replacing: Bool = false) {
        if let index = marks.firstIndex(where: { $0.mark == mark }) {
            if replacing { marks[index].at = instant }
            return
        }
        marks.append((mark, instant))
    }

    public func instant(of mark: Mark) -> ContinuousClock.Instant? { marks.first { $0.mark == mark }?.at }

    /// Each mark after the first with the time since the previous one, in milliseconds.
    public var phases: [(name: String, milliseconds: Double)] {
        zip(marks, marks.dropFirst()).map { previous, this in
            (this.mark.rawValue, (this.at - previous.at).milliseconds)
        }
    }

    /// The phases as a `Server-Timing` header value (W3C Server Timing: `name;dur=ms`, comma
    /// separated), after `prefix` (e.g. the executor's phases the TA relays).
    public func serverTiming(after prefix: String? = nil) -> String {
        let own = phases.map { "\($0.name);dur=\(String(format: "%.3f", $0.milliseconds))" }.joined(separator: ", ")
        guard let prefix, !prefix.isEmpty else { return own }
        return own.isEmpty ? prefix : prefix + ", " + own
    }

    /// Parses a `Server-Timing` value into `(name, milliseconds)`; entries without a numeric `dur`
    /// are skipped, so a header from another server never breaks a reader.
    public static func parseServerTiming(_ value: String) -> [(name: String, milliseconds: Double)] {
        value.split(separator: ",").compactMap { entry in
            let parts = entry.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let name = parts.first, !name.isEmpty else { return nil }
            for parameter in parts.dropFirst() where parameter.hasPrefix("dur=") {
                if let ms = Double(parameter.dropFirst(4)), ms.isFinite, ms >= 0 { return (name, ms) }
            }
            return nil
        }
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}

/// The last traces of finished requests on one node (both roles), for `gonka bench api --trace`
/// and tests. Bounded: the oldest are dropped.
public final class PathTraceLog: Sendable {
    public struct Entry: Sendable {
        public var inferenceID: String
        public var trace: PathTrace
    }

    private let entries = Mutex<[Entry]>([])
    private let capacity: Int

    public init(capacity: Int = 1024) { self.capacity = capacity }

    func append(_ trace: PathTrace, inferenceID: String) {
        entries.withLock { list in
            if list.count >= capacity { list.removeFirst(list.count - capacity + 1) }
            list.append(Entry(inferenceID: inferenceID, trace: trace))
        }
    }

    public var all: [Entry] { entries.withLock { $0 } }

    public func entries(for inferenceID: String) -> [Entry] {
        entries.withLock { $0.filter { $0.inferenceID == inferenceID } }
    }
}

/// Finds the first bytes of a streamed answer that carry generated text: a `"content":"` (chat)
/// or `"text":"` (completion) followed by something other than the closing quote (the role chunk
/// before it carries `"content":""`). Keeps a short tail across buffers; costs nothing once found.
struct FirstTokenScan: Sendable {
    private static let keys: [[UInt8]] = [Array(#""content":""#.utf8), Array(#""text":""#.utf8)]
    private var tail: [UInt8] = []
    private(set) var found = false

    /// Feeds the next bytes; true exactly once, for the bytes where the first text appears.
    mutating func push(_ bytes: some Collection<UInt8>) -> Bool {
        guard !found else { return false }
        let window = tail + bytes
        for key in Self.keys {
            var i = 0
            while i + key.count < window.count {
                if window[i] == key[0], window[i..<(i + key.count)].elementsEqual(key), window[i + key.count] != 0x22 {
                    found = true
                    tail = []
                    return true
                }
                i += 1
            }
        }
        tail = Array(window.suffix(Self.keys.map(\.count).max() ?? 0))
        return false
    }
}
