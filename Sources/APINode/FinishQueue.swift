import ServiceLifecycle

/// The executor's bookkeeping after an answer (payload to disk, commitment into the Finish, the
/// Finish queued) runs here rather than in the response: the connection the TA forwarded on is
/// free for its next request as soon as the answer's last bytes are out, instead of after a file
/// write (measured ~6 ms median, ~50 ms p99 on a loaded machine). A crash loses what is queued,
/// as it lost the same work when it ran after the response's end; at graceful shutdown the queue
/// is drained first.
final class FinishQueue: Sendable {
    struct Job: Sendable {
        var assignment: APINode.Assignment
        var capture: ExecutorCapture
        var executed: [UInt8]
        var trace: PathTrace
    }

    private let stream: AsyncStream<Job>
    private let input: AsyncStream<Job>.Continuation

    init() { (stream, input) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .unbounded) }

    /// Queues a finished answer's bookkeeping; false once the queue is closed (the caller then does
    /// it itself).
    func enqueue(_ job: Job) -> Bool {
        if case .enqueued = input.yield(job) { return true }
        return false
    }

    func close() { input.finish() }

    /// Runs the jobs in order until the queue is closed and empty.
    func drain(_ run: (Job) async -> Void) async {
        for await job in stream { await run(job) }
    }
}

/// Runs ``APINode``'s finish queue; at graceful shutdown it closes the queue and finishes what is
/// in it.
struct FinishQueueService: Service {
    let node: APINode

    func run() async throws {
        await withGracefulShutdownHandler {
            await node.finishQueue.drain { job in await node.finish(job) }
        } onGracefulShutdown: {
            node.finishQueue.close()
        }
    }
}
