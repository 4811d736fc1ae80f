import Foundation
import Inference
import MLNode
import Testing

/// The ML node over real HTTP on loopback with the real model.
@Suite(.serialized, .timeLimit(.minutes(3)), .hangGuard)
struct ServerTests {
    static let capital: [String: any Sendable] = [
        "model": "test-model", "temperature": 0, "max_tokens": 12,
        "messages": [["role": "user", "content": "What is the capital of France?"]],
    ]

    @Test func healthAndModels() async throws {
        try await TestServer.with { server in
            let health = try await server.get("/health")
            #expect(health.status == 200)
            #expect(health.json["status"] as? String == "ok")
            let models = try await server.get("/v1/models")
            #expect(models.status == 200)
            let data = try #require(models.json["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == ["test-model"])
            #expect(data.first?["max_model_len"] as? Int == 512)
        }
    }

    /// Greedy chat answers the capital question; streaming yields the same text, a usage chunk and `[DONE]`.
    @Test func chatCompletionAndStream() async throws {
        try await TestServer.with { server in
            let plain = try await server.post("/v1/chat/completions", json: Self.capital)
            #expect(plain.status == 200, "\(plain.text)")
            let choice = try #require((plain.json["choices"] as? [[String: Any]])?.first)
            let text = try #require((choice["message"] as? [String: Any])?["content"] as? String)
            #expect(text.contains("Paris"), "\(text)")
            let usage = try #require(plain.json["usage"] as? [String: Int])
            #expect(usage["prompt_tokens"]! > 10)
            #expect(usage["completion_tokens"]! >= 1 && usage["completion_tokens"]! <= 12)
            #expect(usage["total_tokens"] == usage["prompt_tokens"]! + usage["completion_tokens"]!)

            var streamed = Self.capital
            streamed["stream"] = true
            streamed["stream_options"] = ["include_usage": true]
            let stream = try await server.post("/v1/chat/completions", json: streamed)
            #expect(stream.status == 200)
            #expect(stream.contentType.hasPrefix("text/event-stream"))
            #expect(stream.events.last == "[DONE]")
            let chunks = stream.chunks
            let deltas = chunks.compactMap { chunk -> String? in
                ((chunk["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"]
                    as? String
            }
            #expect(deltas.joined() == text)
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            let usageChunk = try #require(chunks.last)
            #expect((usageChunk["choices"] as? [Any])?.isEmpty == true)
            #expect(usageChunk["usage"] as? [String: Int] == usage)
            let finish = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
            #expect(finish.count == 1)

            // Without include_usage no chunk carries usage (OpenAI's behaviour).
            streamed["stream_options"] = nil
            let noUsage = try await server.post("/v1/chat/completions", json: streamed)
            #expect(noUsage.chunks.allSatisfy { $0["usage"] == nil })
        }
    }

    /// Chat logprobs in OpenAI's shape; top_logprobs sorted and including the chosen token under greedy.
    @Test func chatLogprobs() async throws {
        try await TestServer.with { server in
            var request = Self.capital
            request["logprobs"] = true
            request["top_logprobs"] = 3
            let result = try await server.post("/v1/chat/completions", json: request)
            #expect(result.status == 200, "\(result.text)")
            let choice = try #require((result.json["choices"] as? [[String: Any]])?.first)
            let content = try #require((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            let usage = try #require(result.json["usage"] as? [String: Int])
            #expect(content.count == usage["completion_tokens"])
            var joined: [UInt8] = []
            for entry in content {
                let logprob = try #require(entry["logprob"] as? Double)
                #expect(logprob <= 0 && logprob > -50)
                let top = try #require(entry["top_logprobs"] as? [[String: Any]])
                #expect(top.count == 3)
                let values = top.compactMap { $0["logprob"] as? Double }
                #expect(values == values.sorted(by: >))
                // Greedy: the chosen token is the most likely one.
                #expect(abs(values[0] - logprob) < 1e-5)
                #expect(top[0]["token"] as? String == entry["token"] as? String)
                joined += (entry["bytes"] as? [Int] ?? []).map { UInt8($0) }
            }
            let text = (choice["message"] as? [String: Any])?["content"] as? String
            #expect(String(decoding: joined, as: UTF8.self) == text)
        }
    }

    /// Legacy completions: text prompt or ids, `logprobs: k`, streaming text equals the plain text.
    @Test func completions() async throws {
        try await TestServer.with { server in
            let request: [String: any Sendable] = [
                "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0, "logprobs": 2,
            ]
            let plain = try await server.post("/v1/completions", json: request)
            #expect(plain.status == 200, "\(plain.text)")
            #expect(plain.json["object"] as? String == "text_completion")
            let choice = try #require((plain.json["choices"] as? [[String: Any]])?.first)
            let text = try #require(choice["text"] as? String)
            #expect(text.contains("Paris"), "\(text)")
            let logprobs = try #require(choice["logprobs"] as? [String: Any])
            let tokens = try #require(logprobs["tokens"] as? [String])
            #expect(tokens.joined() == text)
            #expect((logprobs["token_logprobs"] as? [Double])?.count == tokens.count)
            #expect((logprobs["top_logprobs"] as? [[String: Double]])?.allSatisfy { $0.count == 2 } == true)

            let ids = try await server.post("/v1/tokenize", json: ["prompt": "The capital of France is"])
            let byIDs = try await server.post(
                "/v1/completions",
                json: ["prompt": ids.json["tokens"] as? [Int] ?? [], "max_tokens": 8, "temperature": 0])
            #expect((byIDs.json["choices"] as? [[String: Any]])?.first?["text"] as? String == text)

            var streamed = request
            streamed["stream"] = true
            let stream = try await server.post("/v1/completions", json: streamed)
            let pieces = stream.chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }
            #expect(pieces.joined() == text)
            #expect(stream.events.last == "[DONE]")
        }
    }

    /// A stop string ends generation before it, streamed or not, and is never streamed in part.
    @Test func stopStrings() async throws {
        try await TestServer.with { server in
            let free: [String: any Sendable] = [
                "prompt": "List three colours: red,", "max_tokens": 16, "temperature": 0,
            ]
            let unstopped = try await server.post("/v1/completions", json: free)
            let full = try #require((unstopped.json["choices"] as? [[String: Any]])?.first?["text"] as? String)
            // Stop at the second character sequence the greedy text contains.
            let stop = String(full.dropFirst(2).prefix(2))
            try #require(stop.count == 2)
            var stopped = free
            stopped["stop"] = [stop, "never-appears-here"]
            let plain = try await server.post("/v1/completions", json: stopped)
            let choice = try #require((plain.json["choices"] as? [[String: Any]])?.first)
            let text = try #require(choice["text"] as? String)
            #expect(!text.contains(stop))
            #expect(full.hasPrefix(text))
            #expect(choice["finish_reason"] as? String == "stop")
            stopped["stream"] = true
            let stream = try await server.post("/v1/completions", json: stopped)
            let pieces = stream.chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }
            #expect(pieces.joined() == text)
        }
    }

    /// `/v1/score` with the request's sampling replays the executor's draws (PROTOCOL §7.2 test 3):
    /// with the generation's seed every position is drawn (or ambiguous) and none is outside the
    /// support; with another seed, draws differ; without `sampling` the fields are absent.
    @Test func scoreReplaysTheSampler() async throws {
        try await TestServer.with { server in
            let messages: [[String: String]] = [["role": "user", "content": "Write a short poem about the sea."]]
            let request: [String: any Sendable] = [
                "messages": messages, "temperature": 1.3, "top_k": 50, "top_p": 0.97, "min_p": 0.01, "seed": 99,
                "max_tokens": 32, "logprobs": true, "return_tokens_as_token_ids": true,
            ]
            let generated = try await server.post("/v1/chat/completions", json: request)
            #expect(generated.status == 200, "\(generated.text)")
            let choice = try #require((generated.json["choices"] as? [[String: Any]])?.first)
            let content = try #require((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            let completion = content.compactMap {
                ($0["token"] as? String).flatMap { Int($0.dropFirst("token_id:".count)) }
            }
            try #require(completion.count >= 8)
            let prompt = ChatTemplate.render(messages.map { ChatMessage(role: $0["role"]!, content: $0["content"]!) })
            let promptIDs = try #require(
                try await server.post("/v1/tokenize", json: ["prompt": prompt]).json["tokens"] as? [Int])
            func replay(seed: Int) async throws -> (misses: Int, outside: Int, positions: [[String: Any]]) {
                let sampling: [String: any Sendable] = [
                    "temperature": 1.3, "top_k": 50, "top_p": 0.97, "min_p": 0.01, "seed": seed,
                ]
                let score = try await server.post(
                    "/v1/score",
                    json: [
                        "prompt_tokens": promptIDs, "completion_tokens": completion, "top_logprobs": 5,
                        "sampling": sampling, "sampler_margin": 0.001,
                    ])
                #expect(score.status == 200, "\(score.text)")
                let positions = try #require(score.json["positions"] as? [[String: Any]])
                #expect(positions.count == completion.count)
                var misses = 0
                var outside = 0
                for (token, position) in zip(completion, positions) {
                    let drawn = try #require(position["drawn"] as? Int)
                    let ambiguous = try #require(position["ambiguous"] as? Bool)
                    if try #require(position["outside_support"] as? Bool) { outside += 1 }
                    if drawn != token && !ambiguous { misses += 1 }
                }
                return (misses, outside, positions)
            }
            let honest = try await replay(seed: 99)
            #expect(honest.misses == 0 && honest.outside == 0)
            let wrong = try await replay(seed: 100)
            #expect(wrong.misses > 1)
            print("HTTP replay: \(completion.count) positions, right seed 0 misses, wrong seed \(wrong.misses) misses")
            let plain = try await server.post(
                "/v1/score", json: ["prompt_tokens": promptIDs, "completion_tokens": completion])
            let first = try #require((plain.json["positions"] as? [[String: Any]])?.first)
            #expect(first["drawn"] == nil && first["ambiguous"] == nil && first["outside_support"] == nil)
        }
    }

    /// Validation depends on it: logprobs reported while generating equal `/v1/score` of the same prompt
    /// and completion within 0.01; the same seed gives the same completion.
    @Test func selfConsistency() async throws {
        try await TestServer.with { server in
            let messages: [[String: String]] = [["role": "user", "content": "Write a short sentence about the sea."]]
            let request: [String: any Sendable] = [
                "messages": messages, "temperature": 0.9, "seed": 1234, "max_tokens": 24, "logprobs": true,
                "top_logprobs": 5, "return_tokens_as_token_ids": true,
            ]
            let first = try await server.post("/v1/chat/completions", json: request)
            let second = try await server.post("/v1/chat/completions", json: request)
            #expect(first.status == 200, "\(first.text)")
            let choice = try #require((first.json["choices"] as? [[String: Any]])?.first)
            let again = try #require((second.json["choices"] as? [[String: Any]])?.first)
            let text = (choice["message"] as? [String: Any])?["content"] as? String
            #expect(text != nil && text == (again["message"] as? [String: Any])?["content"] as? String)
            let content = try #require((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            let completion = content.compactMap {
                ($0["token"] as? String).flatMap { Int($0.dropFirst("token_id:".count)) }
            }
            try #require(completion.count == content.count && completion.count >= 2)

            let prompt = ChatTemplate.render(messages.map { ChatMessage(role: $0["role"]!, content: $0["content"]!) })
            let promptIDs = try #require(
                try await server.post("/v1/tokenize", json: ["prompt": prompt]).json["tokens"] as? [Int])
            let score = try await server.post(
                "/v1/score",
                json: ["prompt_tokens": promptIDs, "completion_tokens": completion, "top_logprobs": 5])
            #expect(score.status == 200, "\(score.text)")
            let positions = try #require(score.json["positions"] as? [[String: Any]])
            #expect(positions.count == completion.count)
            var worst = 0.0
            for (generated, scored) in zip(content, positions) {
                let a = try #require(generated["logprob"] as? Double)
                let b = try #require(scored["logprob"] as? Double)
                worst = max(worst, abs(a - b))
                let topGenerated = (generated["top_logprobs"] as? [[String: Any]] ?? []).compactMap {
                    ($0["token"] as? String).flatMap { Int($0.dropFirst("token_id:".count)) }
                }
                let topScored = (scored["top_logprobs"] as? [[String: Any]] ?? []).compactMap { $0["token"] as? Int }
                #expect(topGenerated.count == 5 && topScored.count == 5)
                // Alternatives both lists hold agree too (near-ties may order differently).
                let generatedTop = generated["top_logprobs"] as? [[String: Any]] ?? []
                let scoredTop = scored["top_logprobs"] as? [[String: Any]] ?? []
                for (id, g) in zip(topGenerated, generatedTop.compactMap { $0["logprob"] as? Double }) {
                    if let s = scoredTop.first(where: { $0["token"] as? Int == id })?["logprob"] as? Double {
                        worst = max(worst, abs(g - s))
                    }
                }
                #expect(Set(topGenerated).intersection(topScored).count >= 3)
            }
            #expect(worst < 0.01, "largest |generated − scored| logprob difference \(worst)")
            print("HTTP generation vs /v1/score: max |Δ logprob| = \(worst) over \(completion.count) tokens")

            // A different seed at temperature 0.9 changes the completion for at least one of three seeds.
            var texts: Set<String> = [text ?? ""]
            for seed in [1, 2, 3] {
                var other = request
                other["seed"] = seed
                let result = try await server.post("/v1/chat/completions", json: other)
                texts.insert(
                    ((result.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?[
                        "content"] as? String ?? "")
            }
            #expect(texts.count > 1)
        }
    }

    @Test func tokenizeDetokenize() async throws {
        try await TestServer.with { server in
            let text = "Hello, world! <|im_start|>user\nÜnïcödé 🎉"
            let tokenized = try await server.post("/v1/tokenize", json: ["model": "test-model", "prompt": text])
            #expect(tokenized.status == 200)
            let ids = try #require(tokenized.json["tokens"] as? [Int])
            #expect(tokenized.json["count"] as? Int == ids.count)
            #expect(ids == server.backend.tokenize(text))
            #expect(ids.contains(server.backend.model.tokenizer.tokens.firstIndex(of: "<|im_start|>") ?? -1))
            let detokenized = try await server.post("/v1/detokenize", json: ["tokens": ids])
            #expect(detokenized.json["prompt"] as? String == text)
        }
    }
}
