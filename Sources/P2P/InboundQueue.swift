import NIOCore
import Synchronization

/// The queue behind `P2PHost.inbound`, with backpressure towards the sockets: above the high
/// watermark the connection that delivered stops reading (TCP then pushes back on the sender,
/// whose bounded send queue fills and makes its `send` return false); once the consumer has
/// drained to the low watermark every paused connection reads again. Nothing is dropped unless a
/// single read burst overshoots the hard limit (twice the high watermark), which is counted.
final class InboundQueue: Sendable {
    enum PushResult { case queued, queuedPauseReading, dropped }

    private struct State {
        var buffer = CircularBuffer<InboundMessage>()
        var waiter: CheckedContinuation<InboundMessage?, Never>?
        var finished = false
        var paused: [ObjectIdentifier: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())
    private let highWatermark: Int
    private let lowWatermark: Int
    private let hardLimit: Int

    init(limit: Int) {
        highWatermark = max(1, limit)
        lowWatermark = highWatermark / 2
        hardLimit = 2 * highWatermark
    }

    /// The public single-consumer stream; each `next()` of its iterator takes one message here.
    func makeStream() -> AsyncStream<InboundMessage> {
        AsyncStream(unfolding: { [self] in await next() })
    }

    /// Called on `channel`'s event loop; on `.queuedPauseReading` the caller stops reading and
    /// processing until `resume` (which must hop to its event loop) is called.
    func push(
        _ message: InboundMessage, from channel: any Channel, resume: @escaping @Sendable () -> Void
    ) -> PushResult {
        let (waiter, result) = state.withLock { state -> (CheckedContinuation<InboundMessage?, Never>?, PushResult) in
            if state.finished { return (nil, .dropped) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, .queued)
            }
            guard state.buffer.count < hardLimit else { return (nil, .dropped) }
            state.buffer.append(message)
            guard state.buffer.count >= highWatermark else { return (nil, .queued) }
            // Registered under the lock, so a consumer draining right now cannot miss this channel.
            state.paused[ObjectIdentifier(channel)] = resume
            return (nil, .queuedPauseReading)
        }
        waiter?.resume(returning: message)
        return result
    }

    func next() async -> InboundMessage? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<InboundMessage?, Never>) in
                let (ready, resume) = state.withLock { state -> (InboundMessage??, [@Sendable () -> Void]) in
                    if let message = state.buffer.popFirst() {
                        guard state.buffer.count <= lowWatermark, !state.paused.isEmpty else { return (message, []) }
                        defer { state.paused = [:] }
                        return (message, Array(state.paused.values))
                    }
                    // Checked under the lock: a cancellation handler that ran before we stored the
                    // waiter has already set the flag, so no waiter is ever left behind.
                    if state.finished || Task.isCancelled { return (.some(nil), []) }
                    state.waiter = continuation
                    return (nil, [])
                }
                for resumeReading in resume { resumeReading() }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Ends the stream once the consumer has taken what is queued.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
