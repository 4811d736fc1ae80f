import APINode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Hummingbird
import Inference
import Logging
import MLNode
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing
import Verification

/// The API node's `/v1/score` client (`APINode.score`): the embedded backend and a real remote ML
/// node give the same checked positions; a remote answer of the wrong length or shape, a refusal,
/// an outage each give a typed ``MLScoreError`` (the validator's own failure).
@Suite(.hangGuard)
struct ScoreClientTests {
    /// A node that talks to no chain: only its registry and HTTP client are used here.
    static func isolatedNode() throws -> (node: APINode, dir: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("score-\(UUID().uuidString)")
        let configuration = APINodeConfiguration(
            chainID: TestChain.chainID, key: SigningKey(), payloadDirectory: dir.appendingPathComponent("payloads"))
        let client = try ChainClient(baseURL: "http://127.0.0.1:\(try freePort())", timeout: .seconds(2))
        return (try APINode(configuration: configuration, chainClient: client, logger: TestNet.logger("score")), dir)
    }

    /// Runs `body` with an HTTP server on a loopback port whose routes `build` adds.
    static func withServer<T: Sendable>(
        _ build: (Router<BasicRequestContext>) -> Void, _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        let router = Router()
        build(router)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: TestNet.logger("fake-ml"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            defer { group.cancelAll() }
            return try await body(port)
        }
    }

    /// With penalties, so the remote path must carry them to the node's replay (a dropped field
    /// turns the replayed draws into misses).
    static let sampling: SamplingParameters = {
        var p = SamplingParameters(temperature: 1.2, topK: 40, topP: 0.95, minP: 0.02, seed: 31)
        p.adjustments.presencePenalty = 1.5
        p.adjustments.frequencyPenalty = 1
        p.adjustments.repetitionPenalty = 1.4
        return p
    }()

    /// A real completion: generated on `backend` with ``sampling``.
    static func completion(_ backend: NativeBackend) async throws -> (prompt: [Int], completion: [Int]) {
        let prompt = backend.chatPrompt([ChatMessage(role: "user", content: "Describe a forest in one sentence.")])
        var parameters = sampling
        parameters.maxTokens = 24
        let generation = try await backend.admit().generate(prompt: prompt, parameters: parameters) { _ in true }
        return (prompt, generation.tokens)
    }

    /// Embedded and remote scoring agree, carry a verdict per position, and replay the executor's
    /// draws with no miss; the remote node is a real `MLNodeServer` over the real model.
    @Test(.timeLimit(.minutes(5))) func embeddedAndRemoteScoresAgree() async throws {
        let model = try Model.loaded.get()
        let backend = NativeBackend(model: model, id: Model.id, parallel: 1, queue: 4, threads: 1, contextLength: 256)
        let (prompt, completion) = try await Self.completion(backend)
        try #require(completion.count >= 4)
        let request = MLScoreRequest(
            model: Model.id, promptTokens: prompt, completionTokens: completion, topLogprobs: 5, sampling: Self.sampling
        )
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = MLNodeServer.application(backend: backend, port: 0, logger: TestNet.logger("remote")) {
            continuation.yield($0)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            defer { group.cancelAll() }

            let (remoteNode, remoteDir) = try Self.isolatedNode()
            defer { try? FileManager.default.removeItem(at: remoteDir) }
            remoteNode.registry.add(url: "http://127.0.0.1:\(port)", model: Model.id)
            let remote = try await remoteNode.score(request)

            // The embedded entry's URL is a closed port: only the in-process path can answer.
            let (embeddedNode, embeddedDir) = try Self.isolatedNode()
            defer { try? FileManager.default.removeItem(at: embeddedDir) }
            embeddedNode.registry.setLocalBackend(backend)
            embeddedNode.registry.add(url: "http://127.0.0.1:\(try freePort())", model: Model.id, embedded: true)
            let embedded = try await embeddedNode.score(request)

            #expect(remote.count == completion.count && embedded.count == completion.count)
            for (i, (r, e)) in zip(remote, embedded).enumerated() {
                #expect(r.forcedToken == UInt32(completion[i]) && e.forcedToken == r.forcedToken)
                // JSON carries the Float's shortest decimal: equal to ~1e-7.
                #expect(abs(r.forcedLogprob - e.forcedLogprob) < 1e-5)
                #expect(r.top.map(\.token) == e.top.map(\.token) && r.top.count == 5)
                #expect(r.sampler == e.sampler)
                let verdict = try #require(r.sampler)
                #expect(verdict.drawn == r.forcedToken || verdict.ambiguous, "position \(i)")
                #expect(!verdict.outsideSupport)
            }
            // The in-flight count is given back.
            #expect(remoteNode.registry.list().allSatisfy { $0.inFlight == 0 })
            // Without sampling: no verdicts.
            var opaque = request
            opaque.sampling = nil
            #expect(try await remoteNode.score(opaque).allSatisfy { $0.sampler == nil })
        }
    }

    /// A remote `/v1/score` answering `positions` (a JSON array text) with `status`.
    struct Reply: Sendable {
        var status: HTTPResponse.Status = .ok
        var body: String
    }

    /// One position's JSON: `token` with one alternative `top` (default: itself), and the replayed
    /// draw when `drawn` is given.
    static func position(_ token: Int, drawn: Int? = nil, top: String? = nil) -> String {
        let verdict = drawn.map { #","drawn":\#($0),"ambiguous":false,"outside_support":false"# } ?? ""
        let alternatives = top ?? #"[{"token":\#(token),"logprob":-0.5}]"#
        return #"{"token":\#(token),"logprob":-0.5,"top_logprobs":\#(alternatives)\#(verdict)}"#
    }

    static func positions(_ items: String...) -> String { #"{"positions":[\#(items.joined(separator: ","))]}"# }

    static let badReplies: [(String, Reply, String)] = [
        ("one position short", Reply(body: positions(position(7, drawn: 7))), "wrong_length"),
        (
            "one position too many",
            Reply(body: positions(position(7, drawn: 7), position(8, drawn: 8), position(9, drawn: 9))),
            "wrong_length"
        ),
        ("no positions", Reply(body: positions()), "wrong_length"),
        ("another token", Reply(body: positions(position(7, drawn: 7), position(9, drawn: 9))), "wrong_token"),
        ("not JSON", Reply(body: "<html>bad gateway</html>"), "malformed_score"),
        ("not a score", Reply(body: #"{"choices":[]}"#), "malformed_score"),
        (
            "logprob of wrong type",
            Reply(body: positions(#"{"token":7,"logprob":"x","top_logprobs":[]}"#, position(8, drawn: 8))),
            "malformed_score"
        ),
        (
            "negative alternative id",
            Reply(
                body: positions(
                    position(7, drawn: 7, top: #"[{"token":-4,"logprob":-1}]"#), position(8, drawn: 8))),
            "malformed_score"
        ),
        (
            "empty alternatives",
            Reply(body: positions(position(7, drawn: 7, top: "[]"), position(8, drawn: 8))), "malformed_score"
        ),
        ("no replayed draw", Reply(body: positions(position(7, drawn: 7), position(8))), "missing_verdict"),
        ("server error", Reply(status: .internalServerError, body: "{}"), "ml_node_failed"),
        ("at capacity", Reply(status: .tooManyRequests, body: "{}"), "ml_node_overloaded"),
        (
            "refused",
            Reply(
                status: .badRequest,
                body: #"{"error":{"message":"'sampling.seed' is missing","type":"invalid_request_error"}}"#),
            "score_refused"
        ),
    ]

    /// Each malformed or failed remote answer is a typed error naming the node; the node is given
    /// back to the registry each time.
    @Test(.timeLimit(.minutes(2))) func badRemoteAnswersAreTypedErrors() async throws {
        let replies = Self.badReplies
        let index = Mutex(0)
        try await Self.withServer({ router in
            router.post("/v1/score") { _, _ in
                let reply = replies[index.withLock { $0 }].1
                return Response(
                    status: reply.status, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: reply.body)))
            }
        }) { port in
            let (node, dir) = try Self.isolatedNode()
            defer { try? FileManager.default.removeItem(at: dir) }
            let entry = node.registry.add(url: "http://127.0.0.1:\(port)", model: "m")
            let request = MLScoreRequest(
                model: "m", promptTokens: [1, 2], completionTokens: [7, 8], topLogprobs: 1,
                sampling: SamplingParameters(temperature: 1, seed: 3))
            for (i, (name, _, expected)) in replies.enumerated() {
                index.withLock { $0 = i }
                do throws(MLScoreError) {
                    let positions = try await node.score(request)
                    Issue.record("\(name): accepted \(positions.count) positions")
                } catch {
                    #expect(error.shortDescription == expected, "\(name): \(error)")
                    #expect(error.description.contains(entry.id), "\(name): \(error)")
                }
            }
            #expect(node.registry.list().allSatisfy { $0.inFlight == 0 })
            // The well-formed answer is accepted: the fake is not refusing everything.
            index.withLock { $0 = 0 }
            var short = request
            short.completionTokens = [7]
            #expect(try await node.score(short).count == 1)
        }
    }

    @Test(.timeLimit(.minutes(1))) func noNodeOrNoAnswerAreTypedErrors() async throws {
        let (node, dir) = try Self.isolatedNode()
        defer { try? FileManager.default.removeItem(at: dir) }
        let request = MLScoreRequest(model: "m", promptTokens: [1], completionTokens: [2], sampling: nil)
        await #expect(throws: MLScoreError.noNode(model: "m")) { try await node.score(request) }
        node.registry.add(url: "http://127.0.0.1:\(try freePort())", model: "m")
        do throws(MLScoreError) {
            _ = try await node.score(request)
            Issue.record("a closed port answered")
        } catch {
            #expect(error.shortDescription == "transport")
        }
    }
}
