import Foundation
import Inference
import Testing

@testable import MLNode

/// vLLM's shapes, from recorded examples of its documentation (`vllm.entrypoints.openai.protocol`
/// `CompletionRequest`/`CompletionResponse`/`CompletionStreamResponse`, `vllm.logprobs.Logprob`):
/// the requests this node sends and the answers it reads. No vLLM runs here.
struct VLLMContractTests {
    static func json(_ value: some Encodable) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any])
    }

    static func decode(_ text: String) throws -> VLLMWire.Completion {
        try JSONDecoder().decode(VLLMWire.Completion.self, from: Data(text.utf8))
    }

    @Test func generationRequestCarriesTheSampling() throws {
        let parameters = SamplingParameters(
            temperature: 0.7, topK: 0, topP: 0.9, minP: 0.05, maxTokens: 64, stop: ["\n\n"], seed: 41, topLogprobs: 5,
            adjustments: try LogitAdjustments(
                logitBias: [42: -3], presencePenalty: 0.5, frequencyPenalty: 0.25, repetitionPenalty: 1.1,
                vocabularySize: 100))
        let body = try Self.json(
            VLLMWire.generation(model: "m", prompt: [1, 2, 3], parameters: parameters, choice: 1, top: 5))
        #expect(body["model"] as? String == "m")
        #expect(body["prompt"] as? [Int] == [1, 2, 3])
        #expect(body["max_tokens"] as? Int == 64)
        #expect((body["temperature"] as? Double).map { abs($0 - 0.7) < 1e-6 } == true)
        #expect(body["top_k"] as? Int == -1)
        #expect(body["seed"] as? Int == 42)
        #expect(body["logprobs"] as? Int == 5)
        #expect(body["return_tokens_as_token_ids"] as? Bool == true)
        #expect(body["stream"] as? Bool == true)
        #expect((body["stream_options"] as? [String: Bool])?["include_usage"] == true)
        #expect(body["logit_bias"] as? [String: Double] == ["42": -3])
        #expect(body["presence_penalty"] as? Double == 0.5)
        #expect((body["repetition_penalty"] as? Double).map { abs($0 - 1.1) < 1e-6 } == true)
        // Stop strings are the node's (the token that completes one still counts), never vLLM's.
        #expect(body["stop"] == nil)
        #expect(body["prompt_logprobs"] == nil)
    }

    @Test func scoreRequestAsksForPromptLogprobs() throws {
        let body = try Self.json(VLLMWire.score(model: "m", prompt: [1, 2], completion: [3, 4], top: 0))
        #expect(body["prompt"] as? [Int] == [1, 2, 3, 4])
        #expect(body["max_tokens"] as? Int == 1)
        #expect(body["prompt_logprobs"] as? Int == 1)
        #expect(body["stream"] as? Bool == false)
        #expect(body["logprobs"] == nil)
    }

    /// A streamed chunk with `return_tokens_as_token_ids` (tokens and top-logprob keys `token_id:ID`).
    static let chunk = """
        {"id":"cmpl-3f1c","object":"text_completion","created":1718000000,"model":"m","choices":[{"index":0,\
        "text":" Paris","logprobs":{"text_offset":[0],"token_logprobs":[-0.0123],"tokens":["token_id:7042"],\
        "top_logprobs":[{"token_id:7042":-0.0123,"token_id:2":-4.5,"token_id:30":-6.25}]},"finish_reason":null,\
        "stop_reason":null}],"usage":null}
        """

    static let last = """
        {"id":"cmpl-3f1c","object":"text_completion","created":1718000000,"model":"m","choices":[{"index":0,\
        "text":"","logprobs":{"text_offset":[6],"token_logprobs":[-0.2],"tokens":["token_id:2"],\
        "top_logprobs":[{"token_id:2":-0.2,"token_id:30":-1.8}]},"finish_reason":"stop","stop_reason":null}],\
        "usage":null}
        """

    static let usage = """
        {"id":"cmpl-3f1c","object":"text_completion","created":1718000000,"model":"m","choices":[],\
        "usage":{"prompt_tokens":12,"total_tokens":14,"completion_tokens":2}}
        """

    @Test func streamedChunksParse() throws {
        let first = try VLLMWire.chunk(Self.decode(Self.chunk))
        #expect(first.positions.count == 1)
        let position = try #require(first.positions.first)
        #expect(position.token == 7042 && position.logprob == -0.0123)
        let checked = try RemoteAnswers.checked(position, top: 2, vocabularySize: 49152, at: 0)
        #expect(checked.top.map(\.token) == [7042, 2])
        #expect(first.finish == nil)
        let end = try VLLMWire.chunk(Self.decode(Self.last))
        #expect(end.finish == .stop && end.positions.map(\.token) == [2])
        let counted = try VLLMWire.chunk(Self.decode(Self.usage))
        #expect(counted.generatedSoFar == 2 && counted.positions.isEmpty)
        let length = try VLLMWire.chunk(Self.decode(Self.last.replacingOccurrences(of: "\"stop\"", with: "\"length\"")))
        #expect(length.finish == .length)
    }

    @Test(arguments: [
        (chunk.replacingOccurrences(of: #""tokens":["token_id:7042"]"#, with: #""tokens":["Paris"]"#), "token_id:ID"),
        (chunk.replacingOccurrences(of: #""token_logprobs":[-0.0123]"#, with: #""token_logprobs":[]"#), "0 logprobs"),
        (
            chunk.replacingOccurrences(of: #""token_logprobs":[-0.0123]"#, with: #""token_logprobs":[null]"#),
            "no logprob"
        ),
        (chunk.replacingOccurrences(of: #""token_id:2":-4.5"#, with: #""two":-4.5"#), "not token_id:ID"),
    ])
    func malformedChunksAreRefused(text: String, expected: String) throws {
        let completion = try Self.decode(text)
        #expect {
            _ = try VLLMWire.chunk(completion)
        } throws: { error in
            (error as? MLNodeError)?.status == 502 && "\(error)".contains(expected)
        }
    }

    /// A scoring answer: `prompt_logprobs` per prompt position (null first), each the prompt's own
    /// token (with its rank) and the top `prompt_logprobs` (here 2).
    static let scored = """
        {"id":"cmpl-9a","object":"text_completion","created":1718000000,"model":"m","choices":[{"index":0,"text":"!",\
        "logprobs":null,"finish_reason":"length","stop_reason":null,"prompt_logprobs":[null,\
        {"2":{"logprob":-3.2,"rank":4,"decoded_token":"b"},"9":{"logprob":-0.4,"rank":1,"decoded_token":"x"},\
        "8":{"logprob":-1.9,"rank":2,"decoded_token":"y"}},\
        {"3":{"logprob":-0.1,"rank":1,"decoded_token":"c"},"5":{"logprob":-2.6,"rank":2,"decoded_token":"e"}},\
        {"4":{"logprob":-7.5,"rank":90,"decoded_token":"d"},"6":{"logprob":-0.2,"rank":1,"decoded_token":"f"},\
        "1":{"logprob":-2.0,"rank":2,"decoded_token":"a"}}]}],\
        "usage":{"prompt_tokens":4,"total_tokens":5,"completion_tokens":1}}
        """

    @Test func promptLogprobsParse() throws {
        let positions = try VLLMWire.scored(Self.decode(Self.scored), promptCount: 2, completion: [3, 4])
        #expect(positions.map(\.token) == [3, 4])
        #expect(positions.map(\.logprob) == [-0.1, -7.5])
        let last = try RemoteAnswers.checked(positions[1], top: 2, vocabularySize: 100, at: 1)
        // The forced token outside the top 2 is not one of its alternatives.
        #expect(last.top.map(\.token) == [6, 1])
        #expect(last.logprob == -7.5)
    }

    @Test func malformedScoresAreRefused() throws {
        // Too few positions, a token the answer does not hold, no prompt_logprobs at all.
        let cases: [(String, Int, [Int], String)] = [
            (Self.scored, 1, [3, 4], "prompt_logprobs for 4 positions"),
            (Self.scored, 2, [3, 7], "lack the token 7"),
            (Self.chunk, 2, [3], "no prompt_logprobs"),
        ]
        for (text, promptCount, completion, expected) in cases {
            let answer = try Self.decode(text)
            #expect {
                _ = try VLLMWire.scored(answer, promptCount: promptCount, completion: completion)
            } throws: { error in
                "\(error)".contains(expected)
            }
        }
    }

    /// llama-server's `validate_utf8`, ported: a lead byte its bytes cannot complete is withheld,
    /// continuation bytes alone or a complete character are not.
    @Test(
        arguments: [
            ([0xF0, 0x9F], true), ([0xE2], true), ([0xE2, 0x41], true), ([0x41, 0xC3], true), ([0x99, 0x82], false),
            (Array("é".utf8), false), (Array("🙂".utf8), false), (Array("ab".utf8), false), ([], false),
        ] as [([UInt8], Bool)])
    func llamaCppWithholdsCutCharacters(bytes: [UInt8], withheld: Bool) {
        #expect(LlamaCppWire.withheld(bytes) == withheld)
    }

    @Test func llamaCppForcingRequest() throws {
        let body = try Self.json(LlamaCppWire.forced(context: [5, 6], forced: 9, top: 3))
        #expect(body["prompt"] as? [Int] == [5, 6])
        #expect(body["n_predict"] as? Int == 1)
        #expect(body["n_probs"] as? Int == 3)
        #expect(body["samplers"] as? [String] == ["top_k"])
        #expect(body["top_k"] as? Int == 1)
        #expect(body["logit_bias"] as? [String: Double] == ["9": 1e6])
        #expect(body["cache_prompt"] as? Bool == true)
        #expect(body["return_tokens"] as? Bool == true)
    }
}
