import GonkaClient
import Logging
import Synchronization

/// The explorer's one connection to the chain node's event stream, shared by every open page: the
/// first `/explorer/events` subscriber opens it, each event is relayed (``Explorer/relayed(_:)``)
/// to every subscriber, and the last one to leave closes it. So a hundred open tabs cost the chain
/// node one stream, not a hundred.
///
/// A subscriber that reads slowly loses its oldest undelivered events (it holds at most
/// ``buffered``), never the others' and never the upstream's pace. When the chain node ends the
/// stream every subscriber's stream ends too: browsers reconnect (EventSource does so by itself),
/// and the first to come back opens a new upstream.
final class ExplorerEventRelay: Sendable {
    /// Events held for one subscriber that has not taken them yet.
    static let buffered = 64

    private struct State {
        var subscribers: [UInt64: AsyncStream<String>.Continuation] = [:]
        var nextID: UInt64 = 0
        var upstream: Task<Void, Never>?
        /// Bumped whenever an upstream is started or dropped, so a stream that ends after it was
        /// replaced does not finish its successor's subscribers.
        var generation: UInt64 = 0
        var upstreamsOpened: UInt64 = 0
    }

    private let state = Mutex(State())
    private let client: ChainClient
    private let logger: Logger

    init(client: ChainClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// A stream of relayed SSE texts, and the id to hand to ``unsubscribe(_:)`` when the page goes.
    func subscribe() -> (id: UInt64, events: AsyncStream<String>) {
        let (stream, continuation) = AsyncStream.makeStream(
            of: String.self, bufferingPolicy: .bufferingNewest(Self.buffered))
        let id = state.withLock { state in
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            if state.upstream == nil {
                state.generation += 1
                state.upstreamsOpened += 1
                let generation = state.generation
                // Unstructured on purpose: the upstream outlives any one page's request.
                state.upstream = Task { [self] in await run(generation: generation) }
            }
            return state.nextID
        }
        return (id, stream)
    }

    /// Drops subscriber `id`; the last one's leaving closes the upstream.
    func unsubscribe(_ id: UInt64) {
        let (continuation, upstream) = state.withLock {
            state -> (AsyncStream<String>.Continuation?, Task<Void, Never>?) in
            let continuation = state.subscribers.removeValue(forKey: id)
            guard state.subscribers.isEmpty, let upstream = state.upstream else {
                return (continuation, nil)
            }
            state.upstream = nil
            state.generation += 1
            return (continuation, upstream)
        }
        continuation?.finish()
        upstream?.cancel()
    }

    /// Connections to the chain node's event stream opened so far (tests).
    var upstreamsOpened: UInt64 { state.withLock { $0.upstreamsOpened } }

    /// Pages subscribed now (tests).
    var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    private func run(generation: UInt64) async {
        do {
            for try await event in client.events() {
                guard let text = Explorer.relayed(event) else { continue }
                let subscribers = state.withLock { Array($0.subscribers.values) }
                for subscriber in subscribers { subscriber.yield(text) }
            }
        } catch {
            if !Task.isCancelled {
                logger.info("explorer: chain event stream ended", metadata: ["error": "\(error)"])
            }
        }
        let ended = state.withLock { state -> [AsyncStream<String>.Continuation] in
            guard state.generation == generation else { return [] }
            let all = Array(state.subscribers.values)
            state.subscribers = [:]
            state.upstream = nil
            state.generation += 1
            return all
        }
        for subscriber in ended { subscriber.finish() }
    }
}
