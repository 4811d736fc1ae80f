import GonkaTestKit
import Inference
import Testing

struct ModelTests {
    @Test func loadsTheEmbeddedModel() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let c = model.config
        #expect(c.layers == 30 && c.embedding == 576 && c.feedForward == 1536)
        #expect(c.heads == 9 && c.kvHeads == 3 && c.headDim == 64)
        #expect(c.contextLength == 8192 && c.vocabularySize == 49_152)
        #expect(c.ropeBase == 100_000)
        #expect(model.tiedHead)
        #expect(model.file.tensors.count == 272)
    }

    /// The float reference: forced-token logprob and each top-5 logprob within 0.05, top-1 identical.
    @Test func scoringMatchesTheFloatReference() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let reference = try ReferenceLogprobs.load()
        let session = LlamaSession(model: model, capacity: 64)
        let scores = try session.score(prompt: [reference.ids[0]], completion: Array(reference.ids.dropFirst()), top: 5)
        try #require(scores.count == reference.scores.count)
        var worst: Float = 0
        for (ours, expected) in zip(scores, reference.scores) {
            #expect(ours.token == expected.next)
            worst = max(worst, abs(ours.logprob - expected.next_logprob))
            #expect(abs(ours.logprob - expected.next_logprob) < 0.05, "position \(expected.pos)")
            #expect(ours.top.first?.token == Int(expected.top5[0][0]), "top-1 at position \(expected.pos)")
            for (k, pair) in expected.top5.enumerated() {
                worst = max(worst, abs(ours.top[k].logprob - Float(pair[1])))
                #expect(abs(ours.top[k].logprob - Float(pair[1])) < 0.05, "top-\(k + 1) at position \(expected.pos)")
            }
        }
        print("reference logprobs: max |Δ| = \(worst)")
    }

    /// Each output row is computed the same way whichever thread computes it, so scores do not
    /// depend on the thread count (validators may run with other counts than hosts).
    /// Seconds of forward passes: computed off the cooperative pool (`BackgroundCompute`).
    @Test func scoresAreIdenticalAcrossThreadCounts() async throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let reference = try ReferenceLogprobs.load()
        let prompt = [reference.ids[0]]
        let completion = Array(reference.ids.dropFirst())
        // A completion longer than one head chunk: causal, so its first positions score the same.
        let long = completion + Array(repeating: completion, count: 6).flatMap { $0 }
        let firstFive = Array(reference.ids.prefix(5))
        let (one, two, three, longScores, greedy) = try await BackgroundCompute.run {
            let one = try LlamaSession(model: model, capacity: 64, threads: 1).score(
                prompt: prompt, completion: completion)
            let two = try LlamaSession(model: model, capacity: 64, threads: 2).score(
                prompt: prompt, completion: completion)
            let three = try LlamaSession(model: model, capacity: 64, threads: 3).score(
                prompt: prompt, completion: completion)
            let longScores = try LlamaSession(model: model, capacity: 128, threads: 2).score(
                prompt: prompt, completion: long)
            let greedy = try LlamaSession(model: model, capacity: 64, threads: 2).generate(
                prompt: firstFive, parameters: .init(temperature: 0, maxTokens: 3))
            return (one, two, three, longScores, greedy.tokens)
        }
        #expect(one == two)
        #expect(one == three)
        #expect(longScores.count == long.count)
        #expect(Array(longScores.prefix(one.count)) == one)
        #expect(greedy == [7042, 30, 198])
    }

    @Test func greedyCompletesTheCapitalOfFrance() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let prompt = model.tokenizer.encode("The capital of France is")
        #expect(prompt == [504, 3575, 282, 4649, 314])
        let session = LlamaSession(model: model, capacity: 64)
        let result = try session.generate(prompt: prompt, parameters: SamplingParameters(temperature: 0, maxTokens: 5))
        #expect(Array(result.tokens.prefix(2)) == [7042, 30])
        #expect(result.text.hasPrefix(" Paris."))
        if let golden = TokenizerGolden.load() {
            #expect(result.tokens == Array(golden.greedy.float_reference_next20.prefix(5)))
        }
    }

    /// Validation re-scores what a host generated: the logprobs reported while decoding (one
    /// position per pass, one thread) are bit-identical to teacher-forced scoring of the same prompt
    /// and completion in one prefill batch on other thread counts (batch-invariant kernels, issue 19
    /// part 3), so an honest validator on this engine measures distance 0.
    @Test func generationLogprobsAreBitIdenticalToScoring() async throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let prompt = model.tokenizer.encode(
            ChatTemplate.render([ChatMessage(role: "user", content: "Name three colours.")]))
        let parameters = SamplingParameters(temperature: 0.9, topP: 0.95, maxTokens: 40, seed: 7, topLogprobs: 5)
        // Seconds of forward passes: off the cooperative pool (`BackgroundCompute`).
        let (generated, scoredOnTwo, scoredOnThree) = try await BackgroundCompute.run {
            let generated = try LlamaSession(model: model, capacity: 256, threads: 1).generate(
                prompt: prompt, parameters: parameters)
            let scoredOnTwo = try LlamaSession(model: model, capacity: 256, threads: 2).score(
                prompt: prompt, completion: generated.tokens, top: 5)
            let scoredOnThree = try LlamaSession(model: model, capacity: 256, threads: 3).score(
                prompt: prompt, completion: generated.tokens, top: 5)
            return (generated, scoredOnTwo, scoredOnThree)
        }
        try #require(generated.tokens.count > 8)
        for scored in [scoredOnTwo, scoredOnThree] {
            try #require(scored.count == generated.logprobs.count)
            var differing = 0
            for (g, s) in zip(generated.logprobs, scored) {
                if g.token != s.token || g.logprob.bitPattern != s.logprob.bitPattern { differing += 1 }
                if zip(g.top, s.top).contains(where: { $0.token != $1.token || $0.logprob != $1.logprob }) {
                    differing += 1
                }
            }
            #expect(differing == 0, "positions whose decoded and scored logprobs differ")
        }
    }

    @Test func sameSeedSameCompletion() async throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let prompt = model.tokenizer.encode(ChatTemplate.render([ChatMessage(role: "user", content: "Tell a story.")]))
        let parameters = SamplingParameters(temperature: 1, topK: 40, minP: 0.02, maxTokens: 16, seed: 42)
        // Seconds of forward passes: off the cooperative pool (`BackgroundCompute`).
        let (first, second) = try await BackgroundCompute.run {
            let session = LlamaSession(model: model, capacity: 128)
            return (
                try session.generate(prompt: prompt, parameters: parameters),
                try session.generate(prompt: prompt, parameters: parameters)
            )
        }
        #expect(first.tokens == second.tokens)
        #expect(first.text == second.text)
        #expect(first.tokens.count == 16 || first.finishReason == .stop)
    }

    @Test func stopStringsEndTheText() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let session = LlamaSession(model: model, capacity: 64)
        let result = try session.generate(
            prompt: [504, 3575, 282, 4649, 314],
            parameters: SamplingParameters(temperature: 0, maxTokens: 8, stop: ["."]))
        #expect(result.text == " Paris")
        #expect(result.finishReason == .stop)
        var streamed = ""
        let cancelled = try session.generate(
            prompt: [504, 3575, 282, 4649, 314], parameters: SamplingParameters(temperature: 0, maxTokens: 8)
        ) { token in
            streamed += token.text
            return false
        }
        #expect(cancelled.finishReason == .cancelled)
        #expect(streamed == " Paris")
    }

    @Test func badInputsAreTypedErrors() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let session = LlamaSession(model: model, capacity: 16)
        #expect(throws: InferenceError.tokenOutOfVocabulary(id: 60_000, position: 2, vocabularySize: 49_152)) {
            try session.score(prompt: [504, 3575], completion: [60_000], top: 5)
        }
        #expect(throws: InferenceError.tokenOutOfVocabulary(id: -3, position: 0, vocabularySize: 49_152)) {
            try session.generate(prompt: [-3], parameters: SamplingParameters(maxTokens: 1))
        }
        #expect(throws: InferenceError.contextOverflow(need: 20, limit: 16)) {
            try session.generate(
                prompt: Array(repeating: 504, count: 10), parameters: SamplingParameters(maxTokens: 10))
        }
        #expect(throws: InferenceError.contextOverflow(need: 17, limit: 16)) {
            try session.score(prompt: Array(repeating: 504, count: 9), completion: Array(repeating: 504, count: 8))
        }
        #expect(throws: InferenceError.emptyInput("prompt")) {
            try session.generate(prompt: [], parameters: SamplingParameters())
        }
        #expect(throws: InferenceError.emptyInput("completion")) { try session.score(prompt: [1], completion: []) }
        for bad in [
            SamplingParameters(temperature: -1), SamplingParameters(temperature: .nan), SamplingParameters(topP: 0),
            SamplingParameters(minP: 2), SamplingParameters(maxTokens: 0), SamplingParameters(stop: [""]),
            SamplingParameters(topLogprobs: 21), SamplingParameters(topK: -1),
        ] {
            #expect(throws: InferenceError.self) { try session.generate(prompt: [504], parameters: bad) }
        }
        #expect(throws: InferenceError.self) { try session.score(prompt: [504], completion: [504], top: 21) }
        // Nothing above left the session unusable.
        let ok = try session.generate(
            prompt: [504, 3575, 282, 4649, 314], parameters: .init(temperature: 0, maxTokens: 2))
        #expect(ok.tokens == [7042, 30])
    }
}
