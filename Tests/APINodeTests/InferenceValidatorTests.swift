import Foundation
import GonkaCore
import GonkaTestKit
import Inference
import Ledger
import MLNode
import Testing
import Verification

@testable import APINode

/// One inference's check from fetched bytes to verdict, on the real model (PROTOCOL §7.2, the
/// worker's bad-input classes): an honest payload passes; bytes that do not match the commitment,
/// a truncated payload and a missing one fail with their reason; a score answer of the wrong
/// length is the validator's own fault (a local error, never a verdict).
@Suite(.hangGuard)
struct InferenceValidatorTests {
    /// An executor's payload for a seeded sampled chat request, generated on `backend`.
    static func honestPayload(_ backend: NativeBackend, executor: Address) async throws -> InferencePayload {
        let request =
            #"{"model":"\#(Model.id)","messages":[{"role":"user","content":"Describe a river."}],"max_tokens":12,"temperature":1.1,"top_k":40,"seed":77,"logprobs":true,"top_logprobs":5}"#
        let prompt = backend.chatPrompt([ChatMessage(role: "user", content: "Describe a river.")])
        let parameters = SamplingParameters(temperature: 1.1, topK: 40, maxTokens: 12, seed: 77, topLogprobs: 5)
        let generation = try await backend.admit().generate(prompt: prompt, parameters: parameters) { _ in true }
        return InferencePayload(
            inferenceID: String(repeating: "7", count: 64), executor: executor.description, model: Model.id,
            request: Array(request.utf8), promptTokens: UInt64(prompt.count),
            completionTokens: UInt64(generation.tokens.count), finishReason: "length",
            tokens: generation.logprobs.map { entry in
                .init(
                    token: UInt32(entry.token), logprob: entry.logprob,
                    top: entry.top.map { .init(token: UInt32($0.token), logprob: $0.logprob) })
            })
    }

    /// Scores that drop the last position: what a broken remote ML node might answer.
    struct ShortScoring: ValidationScoring {
        let inner: any ValidationScoring
        func promptTokens(model: String, prompt: ValidationInput.Prompt) async throws -> [Int] {
            try await inner.promptTokens(model: model, prompt: prompt)
        }
        func score(
            model: String, prompt: [Int], completion: [Int], top: Int, sampling: ValidationInput.Sampling?,
            samplerMargin: Double
        ) async throws -> [InferenceCheck.ValidatorPosition] {
            Array(
                try await inner.score(
                    model: model, prompt: prompt, completion: completion, top: top, sampling: sampling,
                    samplerMargin: samplerMargin
                ).dropLast())
        }
    }

    @Test(.timeLimit(.minutes(5))) func honestPassesAndEachBadPayloadFailsWithItsReason() async throws {
        let model = try Model.loaded.get()
        let backend = NativeBackend(model: model, id: Model.id, parallel: 1, queue: 4, threads: 1, contextLength: 256)
        let (node, dir) = try ScoreClientTests.isolatedNode()
        defer { try? FileManager.default.removeItem(at: dir) }
        node.registry.setLocalBackend(backend)
        node.registry.add(url: "http://127.0.0.1:\(try freePort())", model: Model.id, embedded: true)
        let executor = SigningKey().publicKey.address
        let payload = try await Self.honestPayload(backend, executor: executor)
        let bytes = payload.encoded
        let finished = InferenceValidator.Finished(
            inferenceID: payload.inferenceID, executor: executor, responseCommitment: payload.commitment,
            completionTokens: payload.completionTokens)
        let registered = InferenceValidator.Model(id: Model.id, validationThresholdPpm: 50_000, sampler: .native)
        let validator = InferenceValidator(params: .defaults, scoring: NodeScoring(node: node))

        let honest = try await validator.check(bytes: bytes, finished: finished, model: registered)
        #expect(honest.passed, "\(honest)")
        #expect(honest.samplerMisses == 0)

        var edited = payload
        edited.request = Array(#"{"prompt":"something else"}"#.utf8)
        let cases: [(String, [UInt8]?, InferenceCheck.Reason)] = [
            ("missing", nil, .unavailable),
            ("truncated", Array(bytes.dropLast(5)), .commitment),
            ("bytes that do not hash to the commitment", edited.encoded, .commitment),
            (
                "another inference's payload",
                {
                    var other = payload
                    other.inferenceID = String(repeating: "8", count: 64)
                    return other.encoded
                }(), .commitment
            ),
            ("garbage", Array("not a payload".utf8), .commitment),
        ]
        for (name, candidate, reason) in cases {
            let verdict = try await validator.check(bytes: candidate, finished: finished, model: registered)
            #expect(!verdict.passed, "\(name)")
            #expect(verdict.reason == reason, "\(name): \(String(describing: verdict.reason))")
        }
        // The executor's tokens with another seed's claim: the replay misses.
        var reseeded = payload
        reseeded.request = Array(
            String(decoding: payload.request, as: UTF8.self).replacingOccurrences(
                of: "\"seed\":77", with: "\"seed\":78"
            )
            .utf8)
        let wrongSeed = try await validator.check(
            bytes: reseeded.encoded,
            finished: .init(
                inferenceID: payload.inferenceID, executor: executor, responseCommitment: reseeded.commitment,
                completionTokens: payload.completionTokens), model: registered)
        #expect(!wrongSeed.passed && wrongSeed.reason == .sampler, "\(wrongSeed)")

        // A score answer of the wrong length: the validator's own fault, never a verdict.
        let broken = InferenceValidator(params: .defaults, scoring: ShortScoring(inner: NodeScoring(node: node)))
        await #expect(throws: InferenceValidatorError.self) {
            try await broken.check(bytes: bytes, finished: finished, model: registered)
        }
    }

    static let jsonFormat =
        #"{"type":"json_schema","json_schema":{"name":"river","strict":true,"schema":{"type":"object","additionalProperties":false,"required":["name","length_km","countries"],"properties":{"name":{"type":"string","maxLength":20},"length_km":{"type":"integer"},"countries":{"type":"array","maxItems":3,"items":{"enum":["France","Spain","Italy","Germany"]}}}}}}"#

    /// A payload of `n` choices of a constrained chat request, generated on `backend` (the grammar
    /// honoured when `honour`, else the free answers recorded under the constrained request).
    static func constrainedPayload(
        _ backend: NativeBackend, executor: Address, choices: Int, honour: Bool
    ) async throws -> InferencePayload {
        let request =
            #"{"model":"\#(Model.id)","messages":[{"role":"user","content":[{"type":"text","text":"Describe a river"},{"type":"text","text":"as JSON."}]}],"max_tokens":150,"temperature":1,"seed":91,"n":\#(choices),"logprobs":true,"top_logprobs":5,"response_format":\#(jsonFormat)}"#
        let prompt = backend.chatPrompt([ChatMessage(role: "user", content: "Describe a river\nas JSON.")])
        let grammar = try OutputGrammar.compile(responseFormat: try JSONValue(parsing: jsonFormat))
        let parameters = SamplingParameters(
            temperature: 1, maxTokens: 150, seed: 91, topLogprobs: 5, grammar: honour ? grammar : nil)
        let generations = try await backend.admit().generate(prompt: prompt, parameters: parameters, choices: choices) {
            _ in true
        }
        return Self.payload(
            id: String(repeating: "9", count: 64), executor: executor, request: request, promptTokens: prompt.count,
            generations: generations)
    }

    /// The payload an executor records for `generations` of `request`.
    static func payload(
        id: String, executor: Address, request: String, promptTokens: Int, generations: [Generation]
    ) -> InferencePayload {
        InferencePayload(
            inferenceID: id, executor: executor.description, model: Model.id,
            request: Array(request.utf8), promptTokens: UInt64(promptTokens),
            completionTokens: UInt64(generations.reduce(0) { $0 + $1.tokens.count }),
            choices: generations.map { generation in
                InferencePayload.Choice(
                    finishReason: generation.finishReason == .length ? "length" : "stop",
                    tokens: generation.logprobs.map { entry in
                        .init(
                            token: UInt32(entry.token), logprob: entry.logprob,
                            top: entry.top.map { .init(token: UInt32($0.token), logprob: $0.logprob) })
                    })
            })
    }

    /// Issue 20: a constrained request with n = 2 validates as honest (each choice replayed with its
    /// stream and the grammar); an executor that ignores the constraint, or answers choice 1 with
    /// choice 0's stream, is caught by the sampler test.
    @Test(.timeLimit(.minutes(5))) func constrainedChoicesReplayWithTheGrammar() async throws {
        let model = try Model.loaded.get()
        let backend = NativeBackend(model: model, id: Model.id, parallel: 1, queue: 4, threads: 1, contextLength: 256)
        let (node, dir) = try ScoreClientTests.isolatedNode()
        defer { try? FileManager.default.removeItem(at: dir) }
        node.registry.setLocalBackend(backend)
        node.registry.add(url: "http://127.0.0.1:\(try freePort())", model: Model.id, embedded: true)
        let executor = SigningKey().publicKey.address
        let registered = InferenceValidator.Model(id: Model.id, validationThresholdPpm: 50_000, sampler: .native)
        let validator = InferenceValidator(params: .defaults, scoring: NodeScoring(node: node))
        func check(_ payload: InferencePayload) async throws -> InferenceCheck.Verdict {
            try await validator.check(
                bytes: payload.encoded,
                finished: .init(
                    inferenceID: payload.inferenceID, executor: executor, responseCommitment: payload.commitment,
                    completionTokens: payload.completionTokens), model: registered)
        }

        let honest = try await Self.constrainedPayload(backend, executor: executor, choices: 2, honour: true)
        #expect(honest.encoded.starts(with: Array("gonka-payload-v2".utf8)))
        #expect(InferencePayload(decoding: honest.encoded) == honest)
        for choice in honest.choices {
            #expect(choice.finishReason == "stop")
            let text = try backend.detokenize(choice.tokens.map { Int($0.token) })
            #expect((try? JSONValue(parsing: text)) != nil, "\(text)")
        }
        let passed = try await check(honest)
        #expect(passed.passed, "\(passed)")
        #expect(passed.samplerMisses == 0 && passed.impossibleTokens == 0)

        let ignored = try await Self.constrainedPayload(backend, executor: executor, choices: 2, honour: false)
        let caught = try await check(ignored)
        #expect(!caught.passed && caught.reason == .sampler, "\(caught)")
        #expect(caught.impossibleTokens > 0)

        var swapped = honest
        swapped.choices[1] = honest.choices[0]
        swapped.completionTokens = UInt64(swapped.tokens.count)
        let copied = try await check(swapped)
        #expect(!copied.passed && copied.reason == .sampler, "choice 1 with choice 0's stream: \(copied)")
    }

    static let toolRequest =
        #"{"model":"\#(Model.id)","messages":[{"role":"user","content":"What is the weather in Oslo?"}],"max_tokens":60,"temperature":1,"seed":23,"logprobs":true,"top_logprobs":5,"tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object","required":["city"],"properties":{"city":{"type":"string","maxLength":16}}}}},{"type":"function","function":{"name":"time"}}],"tool_choice":"required"}"#

    /// An executor's payload for a request forcing a tool call; `honour` false: the sampler runs
    /// without the call's constraint (the prompt still shows the tools).
    static func toolCallPayload(
        _ backend: NativeBackend, executor: Address, honour: Bool
    ) async throws -> InferencePayload {
        let object = try JSONValue(parsing: toolRequest)
        let tools = try #require(try ChatTools.parse(object))
        let prompt = backend.chatPrompt(tools.prompt(try ChatMessages.parse(object["messages"])))
        let grammar = try OutputGrammar.compile(responseFormat: try #require(tools.constraint))
        let parameters = SamplingParameters(
            temperature: 1, maxTokens: 60, seed: 23, topLogprobs: 5, grammar: honour ? grammar : nil)
        let generations = try await backend.admit().generate(prompt: prompt, parameters: parameters, choices: 1) {
            _ in true
        }
        return Self.payload(
            id: String(repeating: "8", count: 64), executor: executor, request: toolRequest,
            promptTokens: prompt.count, generations: generations)
    }

    /// Issue 20 part 4: a forced tool call (tool_choice required) is replayed with the call's
    /// constraint, read from the payload's request: the honest call passes; an executor that lets
    /// the model answer freely is caught by the sampler test.
    @Test(.timeLimit(.minutes(5))) func forcedToolCallsReplayWithTheConstraint() async throws {
        let model = try Model.loaded.get()
        let backend = NativeBackend(model: model, id: Model.id, parallel: 1, queue: 4, threads: 1, contextLength: 512)
        let (node, dir) = try ScoreClientTests.isolatedNode()
        defer { try? FileManager.default.removeItem(at: dir) }
        node.registry.setLocalBackend(backend)
        node.registry.add(url: "http://127.0.0.1:\(try freePort())", model: Model.id, embedded: true)
        let executor = SigningKey().publicKey.address
        let registered = InferenceValidator.Model(id: Model.id, validationThresholdPpm: 50_000, sampler: .native)
        let validator = InferenceValidator(params: .defaults, scoring: NodeScoring(node: node))
        func check(_ payload: InferencePayload) async throws -> InferenceCheck.Verdict {
            try await validator.check(
                bytes: payload.encoded,
                finished: .init(
                    inferenceID: payload.inferenceID, executor: executor, responseCommitment: payload.commitment,
                    completionTokens: payload.completionTokens), model: registered)
        }
        let input = try ValidationInput(
            bytes: try await Self.toolCallPayload(backend, executor: executor, honour: true).encoded,
            inferenceID: String(repeating: "8", count: 64), executor: executor)
        #expect(input.sampling.responseFormat?["type"]?.stringValue == ToolCallFormat.type)
        // The prompt replayed is the one the model saw: the tools block in the system message.
        let object = try JSONValue(parsing: Self.toolRequest)
        let shown = try #require(try ChatTools.parse(object)).prompt(try ChatMessages.parse(object["messages"]))
        #expect(input.prompt == .chat(shown))
        #expect(shown.first?.content.contains("<tools>") == true)

        let honest = try await Self.toolCallPayload(backend, executor: executor, honour: true)
        let text = try backend.detokenize(honest.choices[0].tokens.map { Int($0.token) })
        #expect(text.hasPrefix("<tool_call>\n{\"name\": "), "\(text)")
        let passed = try await check(honest)
        #expect(passed.passed, "\(passed)")
        #expect(passed.samplerMisses == 0 && passed.impossibleTokens == 0)

        let ignored = try await Self.toolCallPayload(backend, executor: executor, honour: false)
        let caught = try await check(ignored)
        #expect(!caught.passed && caught.reason == .sampler, "\(caught)")
    }
}
