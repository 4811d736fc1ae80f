import Foundation
import GonkaTestKit
import Inference
import Testing

@testable import MLNode

/// The ML node fronting a real llama.cpp server (`scripts/llama-server`) on the real model:
/// generation, scoring, token counts and health through `--backend openai`.
@Suite(.serialized, .timeLimit(.minutes(5)), .hangGuard, .enabled(if: LlamaServer.available, "\(LlamaServer.skipped)"))
struct RemoteBackendTests {
    static func tokenizer() throws -> Tokenizer { try Tokenizer(gguf: GGUFFile(path: TestModelFile.path())) }

    /// The remote backend over llama-server at `base` (flavour detected).
    static func backend(_ base: String, modelID: String = LlamaServer.modelID) async throws -> RemoteBackend {
        try await RemoteBackend.connect(
            upstream: base, flavour: nil, modelID: modelID, tokenizer: tokenizer(), parallel: 2, queue: 4)
    }

    static let question: [String: any Sendable] = [
        "model": LlamaServer.modelID, "temperature": 0, "max_tokens": 16,
        "messages": [["role": "user", "content": "What is the capital of France?"]],
    ]

    /// Ids of a completion answer's `token_id:ID` logprob tokens.
    static func ids(_ logprobs: [String: Any]?) -> [Int] {
        ((logprobs?["tokens"] as? [String]) ?? []).compactMap { Int($0.dropFirst("token_id:".count)) }
    }

    @Test func detectsTheFlavourAndTheContext() async throws {
        try await LlamaServer.with { base, _ in
            let backend = try await Self.backend(base)
            #expect(backend.flavour == .llamacpp)
            #expect(backend.info.contextLength == 1024)
            #expect(backend.info.vocabularySize == 49152)
        }
    }

    /// Completions and chat, streamed and not: token ids whose text is the answer's text, usage
    /// counted in the model's tokens, the same answer either way.
    @Test func generationGivesTokenIDsWhoseTextMatches() async throws {
        try await LlamaServer.with { base, _ in
            let backend = try await Self.backend(base)
            try await LiveServer.node(backend) { node in
                let completion = try await node.post(
                    "/v1/completions",
                    json: [
                        "model": LlamaServer.modelID, "prompt": "The capital of France is", "max_tokens": 12,
                        "temperature": 0, "logprobs": 3, "return_tokens_as_token_ids": true,
                    ])
                #expect(completion.status == 200, "\(completion.text)")
                let choice = try #require((completion.json["choices"] as? [[String: Any]])?.first)
                let text = try #require(choice["text"] as? String)
                let ids = Self.ids(choice["logprobs"] as? [String: Any])
                #expect(!ids.isEmpty && ids.count <= 12)
                #expect(try backend.detokenize(ids) == text, "\(ids) → \(text)")
                let usage = try #require(completion.json["usage"] as? [String: Int])
                #expect(usage["completion_tokens"] == ids.count)
                #expect(usage["prompt_tokens"] == backend.tokenize("The capital of France is").count)
                let tops = try #require((choice["logprobs"] as? [String: Any])?["top_logprobs"] as? [[String: Double]])
                #expect(tops.allSatisfy { $0.count == 3 })

                let chat = try await node.post("/v1/chat/completions", json: Self.question)
                #expect(chat.status == 200, "\(chat.text)")
                let message = try #require(
                    ((chat.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"]
                        as? String)
                #expect(!message.isEmpty)

                var streamed = Self.question
                streamed["stream"] = true
                streamed["stream_options"] = ["include_usage": true]
                let stream = try await node.post("/v1/chat/completions", json: streamed)
                #expect(stream.status == 200)
                #expect(stream.events.last == "[DONE]")
                let deltas = stream.chunks.compactMap {
                    (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
                }
                #expect(deltas.joined() == message)
                let usage2 = try #require(stream.chunks.last?["usage"] as? [String: Int])
                let plainUsage = try #require(chat.json["usage"] as? [String: Int])
                #expect(usage2 == plainUsage)

                var streamedCompletion: [String: any Sendable] = [
                    "model": LlamaServer.modelID, "prompt": "The capital of France is", "max_tokens": 12,
                    "temperature": 0, "logprobs": 3, "return_tokens_as_token_ids": true, "stream": true,
                ]
                streamedCompletion["stream_options"] = ["include_usage": true]
                let pieces = try await node.post("/v1/completions", json: streamedCompletion)
                let streamedIDs = pieces.chunks.flatMap {
                    Self.ids(($0["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])
                }
                #expect(streamedIDs == ids)
                let streamedText = pieces.chunks.compactMap {
                    ($0["choices"] as? [[String: Any]])?.first?["text"] as? String
                }
                #expect(streamedText.joined() == text)
            }
        }
    }

    /// `n` > 1: one upstream request per choice (seed + choice), each choice's ids and text its own.
    @Test func severalChoices() async throws {
        try await LlamaServer.with { base, _ in
            let backend = try await Self.backend(base)
            try await LiveServer.node(backend) { node in
                let answer = try await node.post(
                    "/v1/completions",
                    json: [
                        "model": LlamaServer.modelID, "prompt": "Name a colour:", "max_tokens": 8, "n": 3,
                        "temperature": 1, "seed": 5, "logprobs": 1, "return_tokens_as_token_ids": true,
                    ])
                #expect(answer.status == 200, "\(answer.text)")
                let choices = try #require(answer.json["choices"] as? [[String: Any]])
                #expect(choices.map { $0["index"] as? Int } == [0, 1, 2])
                var total = 0
                for choice in choices {
                    let ids = Self.ids(choice["logprobs"] as? [String: Any])
                    total += ids.count
                    #expect(try backend.detokenize(ids) == choice["text"] as? String)
                }
                #expect((answer.json["usage"] as? [String: Int])?["completion_tokens"] == total)
                #expect(Set(choices.compactMap { $0["text"] as? String }).count > 1, "three identical samples")
            }
        }
    }

    /// Stop strings are the node's: the upstream generates on, the node cuts the text before the
    /// stop string at the token that completes it, as the native engine does.
    @Test func stopStringsEndTheChoice() async throws {
        try await LlamaServer.with { base, _ in
            let backend = try await Self.backend(base)
            try await LiveServer.node(backend) { node in
                var request: [String: any Sendable] = [
                    "model": LlamaServer.modelID, "prompt": "The capital of France is", "max_tokens": 16,
                    "temperature": 0, "logprobs": 1, "return_tokens_as_token_ids": true,
                ]
                let full = try await node.post("/v1/completions", json: request)
                let text = try #require((full.json["choices"] as? [[String: Any]])?.first?["text"] as? String)
                let words = text.split(separator: " ")
                try #require(words.count >= 3, "\(text)")
                let stop = " " + words[2]
                request["stop"] = [stop]
                let cut = try await node.post("/v1/completions", json: request)
                let choice = try #require((cut.json["choices"] as? [[String: Any]])?.first)
                let expected = String(text[..<text.range(of: stop)!.lowerBound])
                #expect(choice["text"] as? String == expected, "\(text) / stop \(stop)")
                #expect(choice["finish_reason"] as? String == "stop")
                let ids = Self.ids(choice["logprobs"] as? [String: Any])
                // The token that completed the stop string counts; its text is not shown.
                #expect(try backend.detokenize(ids).hasPrefix(expected + stop.prefix(1)))
            }
        }
    }

    /// Teacher-forced scores through llama-server equal the logprobs it reported while generating
    /// (greedy and sampled), and agree with our engine's scores of the same tokens on the same GGUF
    /// (measured numbers printed).
    @Test func scoreOfAGenerationEqualsItsLogprobs() async throws {
        struct Run: Sendable {
            var prompt: [Int]
            var tokens: [Int]
            var generated: [Double]
            var forced: [Double]
        }
        let (runs, scoreSeconds) = try await LlamaServer.with { base, _ in
            let backend = try await Self.backend(base)
            var runs: [Run] = []
            var seconds = 0.0
            for (k, prompt) in ["Write a short poem about rivers.", "List three uses of copper.", "Why do cats purr?"]
                .enumerated()
            {
                let ids = backend.chatPrompt([ChatMessage(role: "user", content: prompt)])
                let parameters = SamplingParameters(
                    temperature: k == 0 ? 0 : 1, maxTokens: 96, seed: UInt64(k + 7), topLogprobs: 5)
                let generation = try await backend.admit().generate(
                    prompt: ids, parameters: parameters, onToken: { _ in true })
                #expect(generation.tokens.count >= 8)
                let start = ContinuousClock.now
                let scored = try await backend.admit(priority: .validation).score(
                    prompt: ids, completion: generation.tokens, top: 5, replay: nil)
                let (whole, atto) = (ContinuousClock.now - start).components
                seconds += Double(whole) + Double(atto) / 1e18
                #expect(scored.map(\.logprob.token) == generation.tokens)
                #expect(scored.allSatisfy { $0.logprob.top.count == 5 })
                runs.append(
                    Run(
                        prompt: ids, tokens: generation.tokens,
                        generated: generation.logprobs.map { Double($0.logprob) },
                        forced: scored.map { Double($0.logprob.logprob) }))
            }
            return (runs, seconds)
        }
        let native = LlamaSession(model: try Fixture.loaded.get(), threads: 1)
        var ours: [Double] = []
        for run in runs {
            ours += try native.score(prompt: run.prompt, completion: run.tokens, top: 5).map { Double($0.logprob) }
        }
        let forced = runs.flatMap(\.forced)
        let selfGaps = zip(runs.flatMap(\.generated), forced).map { abs($0 - $1) }
        let crossGaps = zip(forced, ours).map { abs($0 - $1) }
        let selfMax = selfGaps.max() ?? 0
        let crossMax = crossGaps.max() ?? 0
        let crossMean = crossGaps.reduce(0, +) / Double(max(1, crossGaps.count))
        print(
            "llama-server forced vs generated over \(selfGaps.count) positions: max |Δlogprob| \(selfMax); "
                + "llama-server vs our engine (same GGUF): max \(crossMax), mean \(crossMean); score "
                + String(format: "%.1f ms", 1000 * scoreSeconds / Double(max(1, forced.count))) + " per position")
        #expect(selfMax < 1e-3, "forced logprobs drift from the generated ones: \(selfMax)")
        #expect(crossMean < 0.05, "llama-server and our engine disagree on the same GGUF: mean \(crossMean)")
    }

    /// A token that ends inside a UTF-8 character (llama-server reports no logprob for it when it
    /// is sampled) is scored through the full list of alternatives, and agrees with our engine.
    @Test func scoresTokensThatSplitACharacter() async throws {
        let tokenizer = try Self.tokenizer()
        let prompt = tokenizer.encode(
            ChatTemplate.render([ChatMessage(role: "user", content: "Send me a smiley.")]), parseSpecial: true)
        let completion = tokenizer.encode("🙂 Sure, ꙮ and Ω≈√ here", parseSpecial: true)
        let split = completion.filter { ChoiceText.endsInsideCharacter(tokenizer.bytes(of: $0)) }
        #expect(!split.isEmpty, "the text has no token that splits a character: \(completion)")
        let scored = try await LlamaServer.with { base, _ in
            try await Self.backend(base).admit(priority: .validation).score(
                prompt: prompt, completion: completion, top: 3, replay: nil)
        }
        let reference = try LlamaSession(model: try Fixture.loaded.get(), threads: 1).score(
            prompt: prompt, completion: completion, top: 3)
        #expect(scored.map(\.logprob.token) == completion)
        // Each position, split or not, agrees with our engine's score of the same GGUF as closely as
        // the validator asks of an emitted token (the one-token distance within position_ceiling).
        for (remote, local) in zip(scored, reference) {
            let (a, b) = (remote.logprob.logprob, local.logprob)
            #expect(abs(a - b) / (abs(a) + abs(b) + 1e-6) / 2 < 0.05, "\(remote.logprob) vs \(local)")
            #expect(remote.logprob.top.count == 3)
        }
    }

    /// `/v1/tokenize` counts what llama-server's own tokenizer counts (special tokens, digits,
    /// non-ASCII).
    @Test func tokenizeCountEqualsTheUpstreams() async throws {
        try await LlamaServer.with { base, _ in
            let backend = try await Self.backend(base)
            let text = "<|im_start|>user\nPay 1234 coins for naïve café 🙂?<|im_end|>\n"
            try await LiveServer.node(backend) { node in
                let ours = try await node.post("/v1/tokenize", json: ["prompt": text])
                let theirs = try await TestServerClient(base: base).post(
                    "/tokenize", json: ["content": text, "parse_special": true])
                #expect(ours.status == 200 && theirs.status == 200)
                #expect(ours.json["tokens"] as? [Int] == theirs.json["tokens"] as? [Int])
                #expect(ours.json["count"] as? Int == (theirs.json["tokens"] as? [Int])?.count)
            }
        }
    }

    /// `/health` is 200 while llama-server serves the registered model, 503 with the reason when
    /// it serves another or is gone; generation then answers 502.
    @Test func healthFollowsTheUpstream() async throws {
        try await LlamaServer.with { base, process in
            let backend = try await Self.backend(base)
            let other = RemoteBackend(
                upstream: base, flavour: .llamacpp, modelID: "another-model", tokenizer: try Self.tokenizer(),
                contextLength: 1024)
            try await LiveServer.node(other) { node in
                let health = try await node.get("/health")
                #expect(health.status == 503)
                #expect(
                    (health.json["reason"] as? String)?.contains("not the registered model") == true, "\(health.text)")
            }
            try await LiveServer.node(backend) { node in
                #expect(try await node.get("/health").status == 200)
                LlamaServer.stop(process)
                let down = try await node.get("/health")
                #expect(down.status == 503, "\(down.text)")
                let chat = try await node.post("/v1/chat/completions", json: Self.question)
                #expect(chat.status == 502, "\(chat.text)")
                #expect(chat.error["code"] as? String == "upstream_error")
                let metrics = try await node.get("/metrics")
                #expect(metrics.status == 200 && metrics.text.contains("gonka_mlnode_request_failure_total"))
            }
        }
    }

    /// What an opaque engine cannot do is refused with a 400 naming the field, not served wrongly.
    @Test func replayAndGrammarAreRefused() async throws {
        try await LlamaServer.with { base, _ in
            let backend = try await Self.backend(base)
            try await LiveServer.node(backend) { node in
                let score = try await node.post(
                    "/v1/score",
                    json: [
                        "prompt_tokens": [1, 2, 3], "completion_tokens": [4, 5], "top_logprobs": 2,
                        "sampling": ["temperature": 1, "seed": 3],
                    ])
                #expect(score.status == 400, "\(score.text)")
                #expect(score.error["param"] as? String == "sampling")
                var json = Self.question
                json["response_format"] = ["type": "json_object"]
                let chat = try await node.post("/v1/chat/completions", json: json)
                #expect(chat.status == 400, "\(chat.text)")
                #expect(chat.error["param"] as? String == "response_format")
            }
        }
    }
}
