import Foundation
import MLNode
import Synchronization

/// The ML nodes this API node runs inference on (admin API: add / list / enable / disable /
/// remove). The executor picks the least busy enabled node serving the model.
public final class MLNodeRegistry: Sendable {
    public struct Entry: Sendable, Hashable, Codable {
        public var id: String
        /// `http://host:port` of an OpenAI-compatible server (a `gonka mlnode`, the embedded one, vLLM).
        public var url: String
        public var model: String
        public var enabled: Bool
        /// Requests in flight on it now.
        public var inFlight: Int
        public var embedded: Bool
    }

    private struct State {
        var entries: [Entry] = []
        var nextID = 1
    }
    private let state = Mutex(State())
    /// The in-process backend, when the node runs one: exact chat-template token counts.
    private let local = Mutex<(any MLBackend)?>(nil)

    public init() {}

    public func setLocalBackend(_ backend: any MLBackend) { local.withLock { $0 = backend } }
    public var localBackend: (any MLBackend)? { local.withLock { $0 } }

    @discardableResult
    public func add(url: String, model: String, embedded: Bool = false) -> Entry {
        state.withLock { s in
            var trimmed = url
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            let entry = Entry(
                id: "ml\(s.nextID)", url: trimmed, model: model, enabled: true, inFlight: 0, embedded: embedded)
            s.nextID += 1
            s.entries.append(entry)
            return entry
        }
    }

    public func list() -> [Entry] { state.withLock { $0.entries } }

    /// Enables or disables `id`; false when there is no such node.
    public func setEnabled(_ id: String, _ enabled: Bool) -> Bool {
        state.withLock { s in
            guard let i = s.entries.firstIndex(where: { $0.id == id }) else { return false }
            s.entries[i].enabled = enabled
            return true
        }
    }

    public func remove(_ id: String) -> Bool {
        state.withLock { s in
            guard let i = s.entries.firstIndex(where: { $0.id == id }) else { return false }
            s.entries.remove(at: i)
            return true
        }
    }

    /// Models served by an enabled node.
    public var models: [String] {
        state.withLock { s in Array(Set(s.entries.filter(\.enabled).map(\.model))).sorted() }
    }

    /// Takes the least busy enabled node serving `model` (counted in flight until `release`).
    func acquire(model: String) -> Entry? {
        state.withLock { s in
            guard
                let i = s.entries.indices.filter({ s.entries[$0].enabled && s.entries[$0].model == model })
                    .min(by: { s.entries[$0].inFlight < s.entries[$1].inFlight })
            else { return nil }
            s.entries[i].inFlight += 1
            return s.entries[i]
        }
    }

    func release(_ id: String) {
        state.withLock { s in
            if let i = s.entries.firstIndex(where: { $0.id == id }) { s.entries[i].inFlight -= 1 }
        }
    }

    /// Any enabled node serving `model` (for tokenizing), without counting it busy.
    func any(model: String) -> Entry? {
        state.withLock { s in s.entries.first { $0.enabled && $0.model == model } }
    }
}
