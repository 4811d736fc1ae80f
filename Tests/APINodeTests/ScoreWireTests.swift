import Foundation
import GonkaCore
import Inference
import Testing

@testable import APINode
@testable import MLNode

/// `/v1/score`'s body (`MLNode.ScoreWire`) from the validator's side to the ML node's replay: every
/// sampling field the replay needs arrives with its value (a field dropped on the way would make an
/// honest executor's draws look like misses).
struct ScoreWireTests {
    @Test func theSamplingCrossesTheWireUnchanged() throws {
        var sampling = SamplingParameters(
            temperature: 0.7, topK: 12, topP: 0.9, minP: 0.05, seed: UInt64.max - 3, choice: 2)
        sampling.adjustments = try LogitAdjustments(
            logitBias: [3: 2.5, 400: -100], presencePenalty: 0.6, frequencyPenalty: -0.3, repetitionPenalty: 1.4,
            vocabularySize: 1000)
        sampling.grammar = try OutputGrammar.compile(responseFormat: ["type": "json_object"])
        let request = MLScoreRequest(
            model: "m", promptTokens: [1, 2], completionTokens: [3], topLogprobs: 4, sampling: sampling,
            samplerMargin: 0.002)
        let bytes = try JSONEncoder().encode(ScoreWire.Request(request))
        let decoded = try JSONDecoder().decode(ScoreWire.Request.self, from: bytes)
        #expect(decoded.promptTokens == [1, 2] && decoded.completionTokens == [3] && decoded.topLogprobs == 4)
        let replay = try #require(try Handlers<NativeBackend>.replay(decoded, vocabularySize: 1000))
        let p = replay.parameters
        #expect(p.adjustments == sampling.adjustments)
        #expect(p.temperature == sampling.temperature && p.topK == sampling.topK)
        #expect(p.topP == sampling.topP && p.minP == sampling.minP)
        #expect(p.seed == sampling.seed && p.choice == sampling.choice)
        #expect(p.grammar?.source == sampling.grammar?.source)
        #expect(replay.margin == 0.002)
        // Without adjustments the fields are left out, not sent as zeros.
        var plain = request
        plain.sampling?.adjustments = .none
        let text = String(decoding: try JSONEncoder().encode(ScoreWire.Request(plain)), as: UTF8.self)
        #expect(!text.contains("penalty") && !text.contains("logit_bias"))
    }
}
