import Foundation
import GonkaCore
import GonkaTestKit
import Inference
import Testing

/// The validator's replay (PROTOCOL §7.2 test 3) on constructed logits: each flag's true and false
/// side, greedy and sampled, with each filter.
struct SamplerReplayTests {
    /// Logits whose softmax at temperature 1 is `probabilities`.
    static func logits(_ probabilities: [Double]) -> [Float] { probabilities.map { Float(Foundation.log($0)) } }

    static func judge(
        _ probabilities: [Double], _ parameters: SamplingParameters, u: Float, emitted: Int, margin: Double = 1e-3
    ) -> SamplerReplay.Draw {
        logits(probabilities).withUnsafeBufferPointer {
            SamplerReplay.judge($0, parameters: parameters, uniform: u, emitted: emitted, margin: margin)
        }
    }

    static let plain = SamplingParameters(temperature: 1)

    /// Shorthand for an expected verdict.
    static func draw(_ drawn: Int, ambiguous: Bool = false, outside: Bool = false) -> SamplerReplay.Draw {
        .init(drawn: drawn, ambiguous: ambiguous, outsideSupport: outside)
    }

    /// No filter: the CDF walks token ids in order, intervals [0, .5), [.5, .8), [.8, 1).
    @Test func sampledDrawAndAmbiguity() {
        let p = [0.5, 0.3, 0.2]
        let plain = Self.plain
        #expect(Self.judge(p, plain, u: 0.25, emitted: 0) == Self.draw(0))
        // A clear miss: the uniform is far from token 1's interval.
        #expect(Self.judge(p, plain, u: 0.25, emitted: 1) == Self.draw(0))
        // Within 1e-3 of the boundary at 0.5: ambiguous; 2e-3 away: not.
        #expect(Self.judge(p, plain, u: 0.4995, emitted: 1) == Self.draw(0, ambiguous: true))
        #expect(Self.judge(p, plain, u: 0.498, emitted: 1).ambiguous == false)
        // The upper boundary counts too, and id order (not probability order) is the walk.
        #expect(Self.judge(p, plain, u: 0.8005, emitted: 1) == Self.draw(2, ambiguous: true))
        #expect(Self.judge(p, plain, u: 0.9, emitted: 2) == Self.draw(2))
        // A wider margin makes the far miss ambiguous.
        #expect(Self.judge(p, plain, u: 0.25, emitted: 1, margin: 0.3).ambiguous)
    }

    @Test func greedyDrawsTheArgmax() {
        let greedy = SamplingParameters(temperature: 0)
        let clear = [0.5, 0.3, 0.2]
        #expect(Self.judge(clear, greedy, u: 0.99, emitted: 0) == Self.draw(0))
        #expect(Self.judge(clear, greedy, u: 0.01, emitted: 1) == Self.draw(0))
        // A near tie: either token is ambiguous; the argmax is still token 1.
        let near = [0.2005, 0.4, 0.3995]
        #expect(Self.judge(near, greedy, u: 0.5, emitted: 2) == Self.draw(1, ambiguous: true))
        #expect(Self.judge(near, greedy, u: 0.5, emitted: 1) == Self.draw(1, ambiguous: true))
        #expect(Self.judge(near, greedy, u: 0.5, emitted: 0).ambiguous == false)
        // An exact tie goes to the lower id.
        let tie: [Float] = [1, 3, 3, 0]
        let drawn = tie.withUnsafeBufferPointer {
            SamplerReplay.judge($0, parameters: greedy, uniform: 0.5, emitted: 2, margin: 1e-3)
        }
        #expect(drawn == Self.draw(1, ambiguous: true))
        // A greedy request never has tokens outside its support: a wrong token is a miss.
        #expect(Self.judge([0.999, 0.000_5, 0.000_5], greedy, u: 0.5, emitted: 2).outsideSupport == false)
    }

    /// min-p on w = p / p_max: 0.5 keeps w ≥ 0.5; widened, w ≥ 0.499.
    @Test func minPSupport() {
        let parameters = SamplingParameters(temperature: 1, minP: 0.5)
        let p = [0.4, 0.199_8, 0.300_2, 0.1]  // w = 1, 0.4995, 0.7505, 0.25
        let inside = Self.judge(p, parameters, u: 0.1, emitted: 2)
        #expect(inside == Self.draw(0))
        let band = Self.judge(p, parameters, u: 0.1, emitted: 1)
        #expect(band == Self.draw(0, ambiguous: true))
        let outside = Self.judge(p, parameters, u: 0.1, emitted: 3)
        #expect(outside == Self.draw(0, outside: true))
    }

    /// top-k = 2 over normalised probabilities: the k-th is 0.3; widened, ≥ 0.299 is kept.
    @Test func topKSupport() {
        let parameters = SamplingParameters(temperature: 1, topK: 2)
        let p = [0.3, 0.4, 0.299_5, 0.000_5]
        // Sorted walk: token 1 [0, 4/7), token 0 [4/7, 1).
        #expect(Self.judge(p, parameters, u: 0.2, emitted: 1) == Self.draw(1))
        #expect(Self.judge(p, parameters, u: 0.2, emitted: 0) == Self.draw(1))
        #expect(Self.judge(p, parameters, u: 0.5712, emitted: 0).ambiguous)
        #expect(Self.judge(p, parameters, u: 0.2, emitted: 2) == Self.draw(1, ambiguous: true))
        #expect(Self.judge(p, parameters, u: 0.2, emitted: 3) == Self.draw(1, outside: true))
        // With margin 0 the near-tie is cut too.
        #expect(Self.judge(p, parameters, u: 0.2, emitted: 2, margin: 0).outsideSupport)
    }

    /// top-p keeps an entry while the mass before it is < top_p (widened: < top_p + margin).
    @Test func topPSupport() {
        let parameters = SamplingParameters(temperature: 1, topP: 0.5995)
        let p = [0.2, 0.4, 0.2, 0.2]  // sorted: 1 (before 0), 0 (0.4), 2 (0.6), 3 (0.8)
        #expect(Self.judge(p, parameters, u: 0.9, emitted: 0) == Self.draw(0))
        #expect(Self.judge(p, parameters, u: 0.1, emitted: 1) == Self.draw(1))
        #expect(Self.judge(p, parameters, u: 0.1, emitted: 2) == Self.draw(1, ambiguous: true))
        #expect(Self.judge(p, parameters, u: 0.1, emitted: 3) == Self.draw(1, outside: true))
        let strict = SamplingParameters(temperature: 1, topP: 0.55)
        #expect(Self.judge(p, strict, u: 0.1, emitted: 2).outsideSupport)
    }

    /// Temperature reshapes the weights before every filter.
    @Test func temperatureSharpensMinP() {
        let p = [0.5, 0.3, 0.2]  // w at T = 1: 1, 0.6, 0.4; at T = 0.5: 1, 0.36, 0.16
        #expect(!Self.judge(p, SamplingParameters(temperature: 1, minP: 0.3), u: 0.1, emitted: 2).outsideSupport)
        #expect(Self.judge(p, SamplingParameters(temperature: 0.5, minP: 0.3), u: 0.1, emitted: 2).outsideSupport)
    }

    @Test func outOfVocabularyTokenIsOutsideTheSupport() {
        #expect(Self.judge([0.5, 0.5], Self.plain, u: 0.1, emitted: 7).outsideSupport)
        #expect(Self.judge([0.5, 0.5], .init(temperature: 0), u: 0.1, emitted: -1).outsideSupport)
    }

    /// The replay draws exactly what the sampler draws, position after position, for the same seed.
    @Test(arguments: [
        SamplingParameters(temperature: 0.8, topK: 5, seed: 3),
        SamplingParameters(temperature: 1.1, topP: 0.9, minP: 0.05, seed: 9),
        SamplingParameters(temperature: 1, seed: 11),
        SamplingParameters(temperature: 0, seed: 1),
    ])
    func replayDrawsWhatTheSamplerDraws(parameters: SamplingParameters) throws {
        var sampler = Sampler(parameters)
        var replay = try SamplerReplay(parameters: parameters)
        var random = Sampler.stream(seed: 1234)
        for _ in 0..<200 {
            let logits = (0..<64).map { _ in 6 * random.nextUniformFloat() }
            let (sampled, replayed) = logits.withUnsafeBufferPointer { row in
                let id = sampler.sample(row)
                return (id, replay.replay(row, emitted: id))
            }
            #expect(replayed.drawn == sampled)
            #expect(!replayed.outsideSupport)
        }
    }

    @Test func badParametersAreRefused() {
        #expect(throws: InferenceError.self) { try SamplerReplay(parameters: .init(temperature: -1)) }
        #expect(throws: InferenceError.self) { try SamplerReplay(parameters: .init(topP: 0)) }
        #expect(throws: InferenceError.self) { try SamplerReplay(parameters: .init(), margin: .nan) }
        #expect(throws: InferenceError.self) { try SamplerReplay(parameters: .init(), margin: 2) }
    }
}

/// The replay on the real model: a completion generated with a seed, scored teacher-forced in one
/// batch, replays with no misses and no impossible token; with another seed it misses.
struct SamplerReplayModelTests {
    struct Count: Sendable {
        var positions = 0
        var misses = 0
        var ambiguous = 0
        var impossible = 0
    }

    static func count(_ scored: [ScoredToken], _ tokens: [Int]) -> Count {
        var count = Count(positions: scored.count)
        for (s, token) in zip(scored, tokens) {
            guard let draw = s.draw else { continue }
            if draw.drawn != token && !draw.ambiguous { count.misses += 1 }
            if draw.ambiguous { count.ambiguous += 1 }
            if draw.outsideSupport { count.impossible += 1 }
        }
        return count
    }

    @Test(
        .timeLimit(.minutes(5)),
        arguments: [
            SamplingParameters(temperature: 1.2, topK: 40, topP: 0.95, minP: 0.02, maxTokens: 48, seed: 77),
            SamplingParameters(temperature: 1.5, maxTokens: 48, seed: 5),
            SamplingParameters(temperature: 0, maxTokens: 24, seed: 5),
        ])
    func generatedOutputReplaysExactly(parameters: SamplingParameters) async throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let prompt = model.tokenizer.encode(
            ChatTemplate.render([ChatMessage(role: "user", content: "Write a short poem about the sea.")]))
        var reseeded = parameters
        reseeded.seed += 1
        let wrong = reseeded
        let (tokens, right, other, cost) = try await BackgroundCompute.run {
            let session = LlamaSession(model: model, capacity: 256, threads: 2)
            let clock = ContinuousClock()
            let start = clock.now
            let generated = try session.generate(prompt: prompt, parameters: parameters)
            let generating = clock.now - start
            let right = try session.score(
                prompt: prompt, completion: generated.tokens, top: 5, replay: SamplerReplay(parameters: parameters))
            let replayed = clock.now - start - generating
            let other = try session.score(
                prompt: prompt, completion: generated.tokens, top: 5, replay: SamplerReplay(parameters: wrong))
            let plainStart = clock.now
            _ = try session.score(prompt: prompt, completion: generated.tokens, top: 5)
            let plain = clock.now - plainStart
            return (generated.tokens, right, other, (generating, replayed, plain))
        }
        // What the replay adds to scoring, beside what generation costs (not asserted: timing).
        print("replay cost: generate \(cost.0), score+replay \(cost.1), score alone \(cost.2)")
        try #require(tokens.count >= 16)
        let honest = Self.count(right, tokens)
        let cheat = Self.count(other, tokens)
        print(
            "replay \(parameters.temperature)/\(parameters.topK)/\(parameters.topP): \(tokens.count) positions,"
                + " right seed misses \(honest.misses) ambiguous \(honest.ambiguous) impossible \(honest.impossible);"
                + " wrong seed misses \(cheat.misses)")
        #expect(honest.misses == 0)
        #expect(honest.impossible == 0)
        #expect(right.allSatisfy { $0.draw != nil })
        if parameters.temperature > 0 {
            // Enough misses to fail the check (> max(1, ⌈3N/100⌉)).
            #expect(cheat.misses > max(1, (3 * tokens.count + 99) / 100))
        } else {
            #expect(cheat.misses == 0)  // greedy ignores the seed
        }
    }

    /// `logit_bias` and the penalties on the real model: a token biased by −100 never appears and
    /// the greedy answer changes; a penalised sampled answer replays exactly (the replay adjusts
    /// the validator's logits as the executor's sampler did); an executor that ignored the
    /// penalties is caught by the replay of what was asked.
    @Test(.timeLimit(.minutes(5)))
    func penaltiesAndBiasReplayAndIgnoringThemIsCaught() async throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let prompt = model.tokenizer.encode(
            ChatTemplate.render([ChatMessage(role: "user", content: "Write a short poem about the sea.")]))
        let vocabulary = model.config.vocabularySize
        let outcome = try await BackgroundCompute.run {
            let session = LlamaSession(model: model, capacity: 256, threads: 2)
            let greedy = SamplingParameters(temperature: 0, maxTokens: 12, seed: 1)
            let plain = try session.generate(prompt: prompt, parameters: greedy)
            var banned = greedy
            banned.adjustments = try LogitAdjustments(logitBias: [plain.tokens[0]: -100], vocabularySize: vocabulary)
            let avoided = try session.generate(prompt: prompt, parameters: banned)
            var asked = SamplingParameters(temperature: 1, topP: 0.95, maxTokens: 48, seed: 21)
            asked.adjustments = try LogitAdjustments(
                presencePenalty: 1.2, frequencyPenalty: 0.8, repetitionPenalty: 1.3, vocabularySize: vocabulary)
            let penalised = try session.generate(prompt: prompt, parameters: asked)
            let honest = try session.score(
                prompt: prompt, completion: penalised.tokens, top: 5, replay: SamplerReplay(parameters: asked))
            var ignored = asked
            ignored.adjustments = .none
            let cheat = try session.generate(prompt: prompt, parameters: ignored)
            let judged = try session.score(
                prompt: prompt, completion: cheat.tokens, top: 5, replay: SamplerReplay(parameters: asked))
            return (plain.tokens, avoided.tokens, penalised.tokens, honest, cheat.tokens, judged)
        }
        let (plain, avoided, penalised, honest, cheat, judged) = outcome
        #expect(!avoided.contains(plain[0]), "the −100 token was generated")
        #expect(avoided != plain)
        try #require(penalised.count >= 16 && cheat.count >= 16)
        let right = Self.count(honest, penalised)
        let wrong = Self.count(judged, cheat)
        print("penalties: honest misses \(right.misses) impossible \(right.impossible); ignored misses \(wrong.misses)")
        #expect(right.misses == 0)
        #expect(right.impossible == 0)
        #expect(cheat != penalised)
        #expect(wrong.misses > max(1, (3 * cheat.count + 99) / 100))
    }
}
