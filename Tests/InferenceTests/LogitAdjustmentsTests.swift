import GonkaCore
import GonkaTestKit
import Inference
import Testing

/// `logit_bias` and the penalties (``LogitAdjustments``): the formula on constructed logits, the
/// ranges, and the replay of an adjusted sampler; on the real model in ``SamplerReplayModelTests``.
struct LogitAdjustmentsTests {
    static func adjusted(_ logits: [Float], _ adjustments: LogitAdjustments, prompt: [Int], output: [Int]) -> [Float] {
        var history = LogitAdjustments.History(prompt: prompt)
        for token in output { history.record(token) }
        var row = logits
        row.withUnsafeMutableBufferPointer { adjustments.apply(to: $0, history: history) }
        return row
    }

    /// Worked by hand from the rule in LogitAdjustments' comment (bias, then repetition, then
    /// frequency and presence): values chosen so every step is exact in Float.
    @Test func theRuleStepByStep() throws {
        let a = try LogitAdjustments(
            logitBias: [2: -1, 4: 3], presencePenalty: 0.5, frequencyPenalty: 0.25, repetitionPenalty: 2,
            vocabularySize: 6)
        let logits: [Float] = [1, -2, 3, 0.5, -1, 4]
        // 0: untouched. 1: in the prompt, negative → ×2 = −4. 2: 3 − 1 = 2, seen → 2 / 2 = 1, twice
        // in the output → 1 − (2·0.25 + 0.5) = 0. 3: untouched. 4: −1 + 3 = 2, seen → 1, once →
        // 1 − 0.75 = 0.25. 5: in the prompt, positive → 4 / 2 = 2.
        #expect(Self.adjusted(logits, a, prompt: [1, 5], output: [2, 4, 2]) == [1, -4, 0, 0.5, 0.25, 2])
        // Nothing seen: only the bias.
        #expect(Self.adjusted(logits, a, prompt: [], output: []) == [1, -2, 2, 0.5, 2, 4])
        // Off: the logits as they are.
        #expect(LogitAdjustments.none.isEmpty)
        #expect(Self.adjusted(logits, .none, prompt: [1], output: [2]) == logits)
        #expect(try LogitAdjustments(logitBias: [3: 0], vocabularySize: 6).isEmpty)
    }

    @Test func outOfRangeValuesNameTheField() {
        func field(_ make: () throws -> LogitAdjustments) -> String? {
            do {
                _ = try make()
                return nil
            } catch {
                return (error as? InferenceError)?.parameter ?? "\(error)"
            }
        }
        #expect(field { try LogitAdjustments(presencePenalty: 2.5, vocabularySize: 9) } == "presence_penalty")
        #expect(field { try LogitAdjustments(frequencyPenalty: .nan, vocabularySize: 9) } == "frequency_penalty")
        #expect(field { try LogitAdjustments(repetitionPenalty: 0, vocabularySize: 9) } == "repetition_penalty")
        #expect(field { try LogitAdjustments(repetitionPenalty: 2.01, vocabularySize: 9) } == "repetition_penalty")
        #expect(field { try LogitAdjustments(logitBias: [9: 1], vocabularySize: 9) } == "logit_bias")
        #expect(field { try LogitAdjustments(logitBias: [-1: 1], vocabularySize: 9) } == "logit_bias")
        #expect(field { try LogitAdjustments(logitBias: [1: 100.5], vocabularySize: 9) } == "logit_bias")
        let many = Dictionary(uniqueKeysWithValues: (0..<301).map { ($0, 1.0) })
        #expect(field { try LogitAdjustments(logitBias: many, vocabularySize: 1000) } == "logit_bias")
        #expect(field { try LogitAdjustments(logitBias: [8: -100], presencePenalty: -2, vocabularySize: 9) } == nil)
    }

    /// A request body's fields: one spelling per token id and no token twice (which of two biases
    /// applied would depend on the reader's visiting order), wrong types refused.
    @Test func requestFieldsAreReadStrictly() throws {
        let read = try LogitAdjustments(
            request: ["logit_bias": ["3": 2.5, "40": -100], "presence_penalty": 0.5, "repetition_penalty": .null])
        #expect(
            read == (try LogitAdjustments(logitBias: [3: 2.5, 40: -100], presencePenalty: 0.5, vocabularySize: 41)))
        #expect(try LogitAdjustments(request: ["model": "m"]).isEmpty)
        let refused: [JSONValue] = [
            ["logit_bias": ["05": 1]], ["logit_bias": ["+5": 1]], ["logit_bias": ["5": 1, "05": 2]],
            .object([("logit_bias", .object([("5", 1), ("5", 2)]))]), ["logit_bias": ["5": "x"]],
            ["logit_bias": [5]], ["frequency_penalty": "high"], ["presence_penalty": 2.5],
        ]
        for body in refused {
            #expect(throws: InferenceError.self, "\(body)") { try LogitAdjustments(request: body) }
        }
    }

    /// The replay of an adjusted request draws what the adjusted sampler drew, position after
    /// position, from the raw logits; a replay that leaves the adjustments out misses.
    @Test(arguments: [
        SamplingParameters(temperature: 0.9, topK: 8, seed: 3),
        SamplingParameters(temperature: 1.2, topP: 0.9, seed: 9),
        SamplingParameters(temperature: 0, seed: 1),
    ])
    func replayDrawsWhatTheAdjustedSamplerDraws(base: SamplingParameters) throws {
        var parameters = base
        parameters.adjustments = try LogitAdjustments(
            logitBias: [0: 4, 1: -100], presencePenalty: 1.5, frequencyPenalty: 1, repetitionPenalty: 1.5,
            vocabularySize: 32)
        let prompt = [3, 4, 5]
        var sampler = Sampler(parameters)
        var history = LogitAdjustments.History(prompt: prompt)
        var replay = try SamplerReplay(parameters: parameters)
        replay.begin(prompt: prompt)
        var unadjusted = try SamplerReplay(parameters: base)
        var random = Sampler.stream(seed: 99)
        var misses = 0
        for _ in 0..<200 {
            let logits = (0..<32).map { _ in 3 * random.nextUniformFloat() }
            var shaped = logits
            shaped.withUnsafeMutableBufferPointer { parameters.adjustments.apply(to: $0, history: history) }
            let id = shaped.withUnsafeBufferPointer { sampler.sample($0) }
            history.record(id)
            #expect(id != 1, "a token biased by −100 was drawn")
            let (replayed, plain) = logits.withUnsafeBufferPointer {
                (replay.replay($0, emitted: id), unadjusted.replay($0, emitted: id))
            }
            #expect(replayed.drawn == id)
            #expect(!replayed.outsideSupport)
            if plain.drawn != id && !plain.ambiguous { misses += 1 }
        }
        // Leaving the adjustments out changes most draws: the check's tolerance is 3%.
        #expect(misses > 20, "\(misses) misses without the adjustments")
    }
}
