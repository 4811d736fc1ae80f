import APINode
import AsyncHTTPClient
import Foundation
import GonkaCore
import GonkaTestTraits
import Hummingbird
import MLNode
import NIOCore
import Synchronization
import Testing

/// An executor that goes silent mid-answer (dead, or behind a partition that never sends a reset)
/// is cut by the TA's idle timeout, so the client's request ends instead of hanging; a live
/// executor keeps its answer open past that timeout with keepalives (PROTOCOL §6.3).
@Suite(.serialized, .hangGuard) struct IdleTimeoutTests {
    /// The executor's ML node is silent for longer than the TA's idle timeout (as in a long
    /// prefill, or a non-streamed answer, which writes nothing until its end): the executor's
    /// keepalive spaces hold the answer open, so it ends the executor's way (the ML node stopped
    /// before the end: 502 from the executor's error object), not by the TA giving up early.
    @Test(.timeLimit(.minutes(5))) func keepalivesHoldASilentAnswerOpenPastTheIdleTimeout() async throws {
        let silence = Duration.seconds(6)
        try await Self.request(
            silence: silence, idle: .seconds(2), heartbeat: .milliseconds(200), stream: false
        ) { answer, elapsed, _ in
            #expect(answer.status == 502, "\(answer.status): \(answer.text.prefix(300))")
            #expect(answer.text.contains("stopped before the end"), "\(answer.text.prefix(300))")
            #expect(elapsed >= silence - .milliseconds(500), "cut after \(elapsed)")
        }
    }

    /// The executor's ML node answers its head and then nothing, and the executor sends no
    /// keepalive: the TA stops waiting after its idle timeout and ends the client's stream with an
    /// error event and `[DONE]`.
    @Test(.timeLimit(.minutes(5))) func aSilentExecutorIsCutAfterTheIdleTimeout() async throws {
        try await Self.request(
            silence: .seconds(30), idle: .seconds(1), heartbeat: .seconds(3600), stream: true
        ) { answer, elapsed, net in
            #expect(answer.status == 200)
            #expect(answer.text.contains("upstream_failed"), "\(answer.text.prefix(300))")
            #expect(answer.text.hasSuffix("data: [DONE]\n\n"))
            #expect(elapsed < .seconds(15), "the stream ended after \(elapsed)")
            #expect(
                net.apiNodes[0].metrics.value(
                    #"gonka_api_request_outcome_total{role="ta",outcome="failed",reason="mid_answer"}"#) == 1)
        }
    }

    /// One request through a 2-node network whose every ML node is a ``StallingMLNode`` silent for
    /// `silence`, with the TA's idle timeout `idle` and the executors' keepalive every `heartbeat`;
    /// `check` gets the answer, how long it took and the network.
    static func request(
        silence: Duration, idle: Duration, heartbeat: Duration, stream: Bool,
        _ check: @Sendable (HTTPResult, Duration, TestNet) throws -> Void
    ) async throws {
        let stall = try await StallingMLNode.start(silence: silence)
        defer { stall.stop() }
        try await TestNet.with(
            participants: 2,
            configure: { _, api in
                api.executorIdleTimeout = idle
                api.answerHeartbeat = heartbeat
            }
        ) { net in
            for api in net.apiNodes {
                for entry in api.registry.list() { _ = api.registry.setEnabled(entry.id, false) }
                _ = api.registry.add(url: stall.url, model: Model.id)
            }
            let ta = net.accountKeys[0].publicKey.address
            let body = chatBody("Hello?", maxTokens: 20, stream: stream)
            let started = ContinuousClock.now
            let answer = try await post(
                net.apiURLs[0] + "/v1/chat/completions", body: body,
                headers: BadInputTests.signed(body, key: net.wallet[0], ta: ta))
            try check(answer, ContinuousClock.now - started, net)
        }
    }
}

/// An ML node stand-in that answers a generation's head and then stays silent for `silence`,
/// then ends the stream without `[DONE]` (an ML node that stopped).
final class StallingMLNode: Sendable {
    private let task: Task<Void, any Error>
    let url: String

    private init(task: Task<Void, any Error>, url: String) {
        self.task = task
        self.url = url
    }

    static func start(silence: Duration) async throws -> StallingMLNode {
        let router = Router()
        router.post("/v1/chat/completions") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    try? await Task.sleep(for: silence)
                    try await writer.finish(nil)
                })
        }
        let port = Mutex<Int?>(nil)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
            logger: TestNet.logger("stalling-ml"))
        let task = Task { try await app.runService() }
        let deadline = ContinuousClock.now + .seconds(30)
        while port.withLock({ $0 }) == nil {
            guard ContinuousClock.now < deadline else {
                task.cancel()
                throw TestNetError("the stalling ML node never listened")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return StallingMLNode(task: task, url: "http://127.0.0.1:\(port.withLock { $0 } ?? 0)")
    }

    func stop() { task.cancel() }
}
