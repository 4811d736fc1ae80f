import Foundation
import GonkaTestKit
import Hummingbird
import Inference
import NIOCore
import Testing

@testable import MLNode

/// An upstream that misbehaves (a Hummingbird stand-in for llama-server): down, slow, malformed,
/// short of logprobs, skipping tokens, serving another model. Every case is a clear 502/504 (or a
/// 503 health), never a crash and never a made-up token.
@Suite(.serialized, .timeLimit(.minutes(2)), .hangGuard)
struct RemoteUpstreamFaultTests {
    static func tokenizer() throws -> Tokenizer { try Tokenizer(gguf: GGUFFile(path: TestModelFile.path())) }

    /// A stand-in whose `/completion` answers `completion` (SSE lines when streaming) after `delay`.
    static func standIn(
        models: String = #"{"data":[{"id":"m","meta":{"n_vocab":49152}}]}"#,
        completion: @escaping @Sendable () -> String, delay: Duration = .zero
    ) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/health") { _, _ in "{\"status\":\"ok\"}" }
        router.get("/props") { _, _ in #"{"default_generation_settings":{"n_ctx":512}}"# }
        router.get("/v1/models") { _, _ in models }
        router.post("/completion") { _, _ in
            try await Task.sleep(for: delay)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: .init(byteBuffer: ByteBuffer(string: completion())))
        }
        return router
    }

    /// One streamed llama-server token chunk.
    static func token(_ id: Int, predicted: Int, logprob: Double = -0.5, top: Int = 2) -> String {
        let alternatives = (0..<top).map { #"{"id":\#(id + $0),"logprob":\#(logprob - Double($0))}"# }
        return
            #"data: {"content":"x","tokens":[\#(id)],"stop":false,"tokens_predicted":\#(predicted),"completion_probabilities":[{"id":\#(id),"logprob":\#(logprob),"top_logprobs":[\#(alternatives.joined(separator: ","))]}]}"#
            + "\n\n"
    }

    static let end = #"data: {"content":"","tokens":[],"stop":true,"stop_type":"limit","tokens_predicted":2}"# + "\n\n"

    static let request: [String: any Sendable] = [
        "model": "m", "prompt": "Hello", "max_tokens": 2, "logprobs": 2, "temperature": 0,
    ]

    /// Runs a completion through a remote ML node over `router` (its timeout `timeout`).
    static func complete(
        through router: Router<BasicRequestContext>, timeout: Duration = .seconds(30),
        stream: Bool = false
    ) async throws -> HTTPResult {
        let tokenizer = try tokenizer()
        return try await LiveServer.with(router: router) { upstream in
            let backend = RemoteBackend(
                upstream: upstream, flavour: .llamacpp, modelID: "m", tokenizer: tokenizer, contextLength: 512,
                timeout: timeout)
            return try await LiveServer.node(backend) { node in
                var json = request
                json["stream"] = stream
                return try await node.post("/v1/completions", json: json)
            }
        }
    }

    @Test func aWellFormedStandInServes() async throws {
        let answer = try await Self.complete(
            through: Self.standIn { Self.token(504, predicted: 1) + Self.token(3575, predicted: 2) + Self.end })
        #expect(answer.status == 200, "\(answer.text)")
        let choice = try #require((answer.json["choices"] as? [[String: Any]])?.first)
        #expect(choice["text"] as? String == "The capital")
        #expect((answer.json["usage"] as? [String: Int])?["completion_tokens"] == 2)
    }

    @Test func aDownUpstreamIs502AndUnhealthy() async throws {
        // A port nothing listens on: a server started and stopped.
        let closed = try await LiveServer.with(router: Router(context: BasicRequestContext.self)) { $0 }
        let backend = RemoteBackend(
            upstream: closed, flavour: .llamacpp, modelID: "m", tokenizer: try Self.tokenizer(), contextLength: 512)
        try await LiveServer.node(backend) { node in
            let chat = try await node.post("/v1/completions", json: Self.request)
            #expect(chat.status == 502, "\(chat.text)")
            #expect((chat.error["message"] as? String)?.contains("could not be reached") == true, "\(chat.text)")
            let health = try await node.get("/health")
            #expect(health.status == 503)
            #expect(health.json["status"] as? String == "unavailable")
        }
        await #expect(throws: MLNodeError.self) {
            _ = try await RemoteBackend.connect(
                upstream: closed, flavour: nil, modelID: "m", tokenizer: try Self.tokenizer())
        }
    }

    @Test func aSlowUpstreamIs504() async throws {
        let answer = try await Self.complete(
            through: Self.standIn(completion: { Self.token(504, predicted: 1) + Self.end }, delay: .seconds(5)),
            timeout: .seconds(1))
        #expect(answer.status == 504, "\(answer.text)")
        #expect(answer.error["code"] as? String == "upstream_timeout")
    }

    /// Upstream streams that must not be believed, and what the node's error says.
    static let malformed: [(body: String, expected: String)] = [
        ("data: {not json\n\n", "not the JSON expected"),
        (#"data: {"error":{"code":500,"message":"boom"}}"# + "\n\n", "reported an error"),
        (token(504, predicted: 1, top: 1) + end, "1 alternatives where 2 were asked for"),
        (token(504, predicted: 2) + end, "does not end with its token's bytes"),
        (
            token(504, predicted: 1) + #"data: {"tokens":[],"stop":true,"stop_type":"eos","tokens_predicted":3}"#
                + "\n\n",
            "says it generated 3 token(s) but reported 1"
        ),
        (token(99999, predicted: 1) + end, "outside the vocabulary"),
        (token(504, predicted: 1, logprob: 0.7) + end, "is not a log-probability"),
        (#"data: {"tokens":[504,505],"stop":false,"completion_probabilities":[]}"# + "\n\n", "2 token(s) with 0"),
        (token(504, predicted: 1), "ended before the generation did"),
    ]

    @Test(arguments: malformed)
    func aMalformedAnswerIs502(body: String, expected: String) async throws {
        for stream in [false, true] {
            let answer = try await Self.complete(through: Self.standIn { body }, stream: stream)
            if stream {
                // Streamed: the error arrives as the stream's last event; no token chunk claims a made-up token.
                #expect(answer.status == 200)
                let error = answer.chunks.last?["error"] as? [String: Any]
                #expect((error?["message"] as? String)?.contains(expected) == true, "\(answer.text)")
            } else {
                #expect(answer.status == 502, "\(answer.text)")
                #expect((answer.error["message"] as? String)?.contains(expected) == true, "\(answer.text)")
            }
        }
    }

    /// llama-server sends no chunk for a token that ends inside a UTF-8 character (the first half
    /// of 🙂); the next chunk's text holds its bytes, and a forced score its logprobs.
    @Test(arguments: [false, true]) func aSkippedSplitTokenIsRecovered(replaced: Bool) async throws {
        let tokenizer = try Self.tokenizer()
        let probe = RemoteBackend(
            upstream: "http://127.0.0.1:1", flavour: .llamacpp, modelID: "m", tokenizer: tokenizer, contextLength: 512
        ).probeToken
        let split = tokenizer.encode("🙂", parseSpecial: true)
        try #require(split.count == 2 && ChoiceText.endsInsideCharacter(tokenizer.bytes(of: split[0])))
        // Replaced: the skipped bytes and the next token ("The") arrive as U+FFFD + "The".
        let next = replaced ? 504 : split[1]
        let router = Router(context: BasicRequestContext.self)
        router.get("/v1/models") { _, _ in #"{"data":[{"id":"m"}]}"# }
        router.post("/completion") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            if String(buffer: body).contains(#""stream":true"#) {
                let chunk =
                    #"data: {"content":"\#(replaced ? "\u{FFFD}The" : "🙂")","tokens":[\#(next)],"stop":false,"tokens_predicted":2,"completion_probabilities":[{"id":\#(next),"logprob":-0.5,"top_logprobs":[{"id":\#(next),"logprob":-0.5},{"id":9,"logprob":-2}]}]}"#
                return Response(
                    status: .ok, headers: [.contentType: "text/event-stream"],
                    body: .init(byteBuffer: ByteBuffer(string: chunk + "\n\n" + Self.end)))
            }
            // The forced score of the skipped token: the probe token sampled, the full list holds it.
            let answer =
                #"{"tokens":[\#(probe)],"stop":true,"completion_probabilities":[{"id":\#(probe),"logprob":-3,"top_logprobs":[{"id":\#(split[0]),"logprob":-1.5},{"id":\#(probe),"logprob":-3},{"id":7,"logprob":-4}]}]}"#
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        let answer = try await LiveServer.with(router: router) { upstream in
            let backend = RemoteBackend(
                upstream: upstream, flavour: .llamacpp, modelID: "m", tokenizer: tokenizer, contextLength: 512)
            return try await LiveServer.node(backend) { node in
                try await node.post(
                    "/v1/completions",
                    json: [
                        "model": "m", "prompt": "Smile", "max_tokens": 2, "logprobs": 2,
                        "return_tokens_as_token_ids": true,
                    ])
            }
        }
        if replaced {
            // The bytes are lost to U+FFFD: refused, never guessed.
            #expect(answer.status == 502, "\(answer.text)")
            #expect((answer.error["message"] as? String)?.contains("U+FFFD") == true, "\(answer.text)")
            return
        }
        #expect(answer.status == 200, "\(answer.text)")
        let choice = try #require((answer.json["choices"] as? [[String: Any]])?.first)
        #expect(choice["text"] as? String == "🙂")
        let logprobs = try #require(choice["logprobs"] as? [String: Any])
        #expect(logprobs["tokens"] as? [String] == split.map { "token_id:\($0)" })
        #expect(logprobs["token_logprobs"] as? [Double] == [-1.5, -0.5])
        #expect((logprobs["top_logprobs"] as? [[String: Double]])?.first?.count == 2)
    }

    /// A vLLM-shaped stand-in (no `/props`): the flavour and context are detected, a streamed
    /// generation with `token_id:ID` logprobs and the usage count comes through the node, and a
    /// `prompt_logprobs` answer becomes `/v1/score`'s positions.
    @Test func aVLLMStandInServesAndScores() async throws {
        let tokenizer = try Self.tokenizer()
        let router = Router(context: BasicRequestContext.self)
        router.get("/health") { _, _ in "" }
        router.get("/v1/models") { _, _ in
            #"{"object":"list","data":[{"id":"m","object":"model","max_model_len":777}]}"#
        }
        router.post("/v1/completions") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            if String(buffer: body).contains(#""prompt_logprobs""#) {
                let answer =
                    #"{"choices":[{"index":0,"text":"!","finish_reason":"length","prompt_logprobs":[null,{"2":{"logprob":-1.0,"rank":1}},{"504":{"logprob":-0.25,"rank":1},"9":{"logprob":-2.5,"rank":2}}]}]}"#
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: answer)))
            }
            let chunk =
                #"data: {"choices":[{"index":0,"text":"The","logprobs":{"tokens":["token_id:504"],"token_logprobs":[-0.25],"top_logprobs":[{"token_id:504":-0.25,"token_id:9":-2.5}]},"finish_reason":"length"}]}"#
            let usage = #"data: {"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1}}"#
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: .init(byteBuffer: ByteBuffer(string: chunk + "\n\n" + usage + "\n\ndata: [DONE]\n\n")))
        }
        try await LiveServer.with(router: router) { upstream in
            let backend = try await RemoteBackend.connect(
                upstream: upstream, flavour: nil, modelID: "m", tokenizer: tokenizer)
            #expect(backend.flavour == .vllm)
            #expect(backend.info.contextLength == 777)
            #expect(await backend.health() == .ready)
            try await LiveServer.node(backend) { node in
                let answer = try await node.post(
                    "/v1/completions",
                    json: [
                        "model": "m", "prompt": [1, 2], "max_tokens": 1, "logprobs": 2,
                        "return_tokens_as_token_ids": true,
                    ])
                #expect(answer.status == 200, "\(answer.text)")
                let choice = try #require((answer.json["choices"] as? [[String: Any]])?.first)
                #expect(choice["text"] as? String == "The")
                #expect((choice["logprobs"] as? [String: Any])?["tokens"] as? [String] == ["token_id:504"])
                let score = try await node.post(
                    "/v1/score", json: ["prompt_tokens": [1, 2], "completion_tokens": [504], "top_logprobs": 2])
                #expect(score.status == 200, "\(score.text)")
                let position = try #require((score.json["positions"] as? [[String: Any]])?.first)
                #expect(position["token"] as? Int == 504)
                #expect(position["logprob"] as? Double == -0.25)
                #expect((position["top_logprobs"] as? [[String: Any]])?.compactMap { $0["token"] as? Int } == [504, 9])
            }
        }
    }

    @Test func anotherModelIsUnhealthy() async throws {
        let router = Self.standIn(models: #"{"data":[{"id":"cheaper-model"}]}"#) { Self.end }
        let tokenizer = try Self.tokenizer()
        try await LiveServer.with(router: router) { upstream in
            let backend = RemoteBackend(
                upstream: upstream, flavour: .llamacpp, modelID: "m", tokenizer: tokenizer, contextLength: 512)
            #expect(
                await backend.health()
                    == .unavailable("upstream serves [\"cheaper-model\"], not the registered model 'm'"))
        }
        let wrongVocabulary = Self.standIn(models: #"{"data":[{"id":"m","meta":{"n_vocab":32000}}]}"#) { Self.end }
        try await LiveServer.with(router: wrongVocabulary) { upstream in
            let backend = RemoteBackend(
                upstream: upstream, flavour: .llamacpp, modelID: "m", tokenizer: tokenizer, contextLength: 512)
            guard case .unavailable(let reason) = await backend.health() else {
                Issue.record("a model of another vocabulary passed health")
                return
            }
            #expect(reason.contains("32000"))
        }
    }

    /// A score answer that does not force the token, or has a malformed body, is a 502.
    @Test func aBadScoreAnswerIs502() async throws {
        let unforced =
            #"{"tokens":[7],"stop":true,"completion_probabilities":[{"id":7,"logprob":-1,"top_logprobs":[{"id":7,"logprob":-1}]}]}"#
        for (body, expected) in [(unforced, "did not sample the forced token"), ("[1,2", "not the JSON expected")] {
            let router = Self.standIn { body }
            let tokenizer = try Self.tokenizer()
            let answer = try await LiveServer.with(router: router) { upstream in
                let backend = RemoteBackend(
                    upstream: upstream, flavour: .llamacpp, modelID: "m", tokenizer: tokenizer, contextLength: 512)
                return try await LiveServer.node(backend) { node in
                    try await node.post(
                        "/v1/score", json: ["prompt_tokens": [1, 2], "completion_tokens": [504], "top_logprobs": 1])
                }
            }
            #expect(answer.status == 502, "\(answer.text)")
            #expect((answer.error["message"] as? String)?.contains(expected) == true, "\(answer.text)")
        }
    }
}
