import Foundation
import MLNode
import Testing

/// Every class of bad input gets a 4xx with an OpenAI-style error body, and the node keeps serving.
@Suite(.serialized, .timeLimit(.minutes(3)), .hangGuard)
struct BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        let description: String
        let path: String
        let body: [UInt8]
        var status = 400
        var param: String?
        var code = "invalid_request"

        init(
            _ description: String, _ path: String, _ json: String, status: Int = 400, param: String? = nil,
            code: String = "invalid_request"
        ) {
            self.init(description, path, Array(json.utf8), status: status, param: param, code: code)
        }

        init(
            _ description: String, _ path: String, _ body: [UInt8], status: Int = 400, param: String? = nil,
            code: String = "invalid_request"
        ) {
            self.description = description
            self.path = path
            self.body = body
            self.status = status
            self.param = param
            self.code = code
        }
    }

    static let chat = "/v1/chat/completions"
    static let user = #"[{"role":"user","content":"hi"}]"#
    static let tool =
        #"{"type":"function","function":{"name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}"#
    static let tools = "[\(tool)]"

    static let cases: [Case] = [
        Case("malformed JSON", chat, #"{"messages": [ "#, param: nil),
        Case("not an object", chat, #"[1,2]"#),
        Case("missing messages", chat, #"{"model":"test-model"}"#, param: "messages"),
        Case("messages not an array", chat, #"{"messages":"hi"}"#, param: "messages"),
        Case("empty messages", chat, #"{"messages":[]}"#, param: "messages"),
        Case("non-string content", chat, #"{"messages":[{"role":"user","content":42}]}"#, param: "messages[0].content"),
        Case("null content", chat, #"{"messages":[{"role":"user","content":null}]}"#, param: "messages[0].content"),
        Case("unknown role", chat, #"{"messages":[{"role":"wizard","content":"hi"}]}"#, param: "messages[0].role"),
        Case(
            "unknown model", chat, #"{"model":"gpt-9","messages":\#(user)}"#, status: 404, param: "model",
            code: "model_not_found"),
        Case("wrong type temperature", chat, #"{"messages":\#(user),"temperature":"hot"}"#, param: "temperature"),
        Case("negative temperature", chat, #"{"messages":\#(user),"temperature":-1}"#, param: "temperature"),
        Case("temperature above 2", chat, #"{"messages":\#(user),"temperature":2.5}"#, param: "temperature"),
        Case("top_p zero", chat, #"{"messages":\#(user),"top_p":0}"#, param: "top_p"),
        Case("top_p above 1", chat, #"{"messages":\#(user),"top_p":1.5}"#, param: "top_p"),
        Case("max_tokens zero", chat, #"{"messages":\#(user),"max_tokens":0}"#, param: "max_tokens"),
        Case("max_tokens negative", chat, #"{"messages":\#(user),"max_tokens":-5}"#, param: "max_tokens"),
        Case("max_tokens absurd", chat, #"{"messages":\#(user),"max_tokens":1000000000}"#, param: "max_tokens"),
        // Foundation's decoder reports an unrepresentable number without its field.
        Case("max_tokens not an integer", chat, #"{"messages":\#(user),"max_tokens":1e300}"#),
        Case("max_tokens fractional", chat, #"{"messages":\#(user),"max_tokens":2.5}"#),
        Case(
            "max_completion_tokens zero", chat, #"{"messages":\#(user),"max_completion_tokens":0}"#,
            param: "max_completion_tokens"),
        Case(
            "prompt + max_tokens over the context", chat, #"{"messages":\#(user),"max_tokens":500}"#,
            param: "max_tokens", code: "context_length_exceeded"),
        Case(
            "prompt alone over the context", "/v1/completions",
            #"{"prompt":"\#(String(repeating: "word ", count: 600))"}"#, param: "prompt",
            code: "context_length_exceeded"),
        Case(
            "top_logprobs above 20", chat, #"{"messages":\#(user),"logprobs":true,"top_logprobs":21}"#,
            param: "top_logprobs"),
        Case(
            "top_logprobs negative", chat, #"{"messages":\#(user),"logprobs":true,"top_logprobs":-1}"#,
            param: "top_logprobs"),
        Case("completions logprobs above 20", "/v1/completions", #"{"prompt":"hi","logprobs":50}"#, param: "logprobs"),
        Case("n above 8", chat, #"{"messages":\#(user),"n":9}"#, param: "n"),
        Case("n zero", chat, #"{"messages":\#(user),"n":0}"#, param: "n"),
        Case(
            "image content part", chat,
            #"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"http://x/y.png"}}]}]}"#,
            param: "messages[0].content[1].type"),
        Case(
            "audio content part", chat,
            #"{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#,
            param: "messages[0].content[0].type"),
        Case(
            "text part without text", chat, #"{"messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
            param: "messages[0].content[0].text"),
        Case(
            "tool result for an unknown call id", chat,
            #"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_2","content":"42"}]}"#,
            param: "messages[2].tool_call_id"),
        Case(
            "tool calls on a user message", chat,
            #"{"messages":[{"role":"user","content":"hi","tool_calls":[]}]}"#, param: "messages[0].tool_calls"),
        Case(
            "name not a string", chat, #"{"messages":[{"role":"user","content":"hi","name":7}]}"#,
            param: "messages[0].name"),
        Case(
            "presence_penalty out of range", chat, #"{"messages":\#(user),"presence_penalty":3}"#,
            param: "presence_penalty"),
        Case(
            "frequency_penalty of wrong type", chat, #"{"messages":\#(user),"frequency_penalty":"x"}"#,
            param: "frequency_penalty"),
        Case(
            "logit_bias key not a token", chat, #"{"messages":\#(user),"logit_bias":{"abc":1}}"#,
            param: "logit_bias"),
        Case(
            "logit_bias value out of range", chat, #"{"messages":\#(user),"logit_bias":{"5":200}}"#,
            param: "logit_bias"),
        Case("user of wrong type", chat, #"{"messages":\#(user),"user":5}"#, param: "user"),
        Case("metadata of wrong type", chat, #"{"messages":\#(user),"metadata":"x"}"#, param: "metadata"),
        Case("store of wrong type", chat, #"{"messages":\#(user),"store":"yes"}"#, param: "store"),
        Case("unknown service_tier", chat, #"{"messages":\#(user),"service_tier":"gold"}"#, param: "service_tier"),
        Case(
            "parallel_tool_calls of wrong type", chat, #"{"messages":\#(user),"parallel_tool_calls":1}"#,
            param: "parallel_tool_calls"),
        Case(
            "tool_choice required", chat, #"{"messages":\#(user),"tools":[],"tool_choice":"required"}"#,
            param: "tool_choice"),
        Case(
            "tool_choice a named function", chat,
            #"{"messages":\#(user),"tool_choice":{"type":"function","function":{"name":"f"}}}"#,
            param: "tool_choice.function.name"),
        Case("tools not a list", chat, #"{"messages":\#(user),"tools":{"a":1}}"#, param: "tools"),
        Case(
            "tool_choice unknown mode", chat, #"{"messages":\#(user),"tools":\#(tools),"tool_choice":"always"}"#,
            param: "tool_choice"),
        Case(
            "response_format conflicting with tools", chat,
            #"{"messages":\#(user),"tools":\#(tools),"tool_choice":"required","response_format":{"type":"json_object"}}"#,
            param: "response_format"),
        Case(
            "tool schema invalid", chat,
            #"{"messages":\#(user),"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"strin"}}}]}"#,
            param: "tools[0].function.parameters.type"),
        Case(
            "tool name invalid", chat,
            #"{"messages":\#(user),"tools":[{"type":"function","function":{"name":"get weather"}}]}"#,
            param: "tools[0].function.name"),
        Case(
            "tool defined twice", chat, #"{"messages":\#(user),"tools":[\#(tool),\#(tool)]}"#,
            param: "tools[1].function.name"),
        Case(
            "tool without a function", chat, #"{"messages":\#(user),"tools":[{"type":"function"}]}"#,
            param: "tools[0].function"),
        Case(
            "response_format tool_call from a client", chat,
            #"{"messages":\#(user),"response_format":{"type":"tool_call","tools":[{"name":"f"}]}}"#,
            param: "response_format.type"),
        Case(
            "response_format of unknown type", chat, #"{"messages":\#(user),"response_format":{"type":"xml"}}"#,
            param: "response_format.type"),
        Case(
            "response_format without a schema", chat,
            #"{"messages":\#(user),"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}"#,
            param: "response_format.json_schema.schema"),
        Case(
            "response_format schema recursive beyond depth 16", chat,
            ##"{"messages":\##(user),"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"$ref":"#"}}}}"##,
            param: "response_format.json_schema.schema"),
        Case(
            "response_format schema over 256 nodes", chat,
            #"{"messages":\#(user),"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{\#((0..<300).map { "\"p\($0)\":{\"type\":\"integer\"}" }.joined(separator: ","))}}}}}"#,
            param: "response_format.json_schema.schema"),
        Case(
            "response_format schema with a bad type", chat,
            #"{"messages":\#(user),"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"strin"}}}}"#,
            param: "response_format.json_schema.schema.type"),
        Case("stop of wrong type", chat, #"{"messages":\#(user),"stop":7}"#, param: "stop"),
        Case("empty stop string", chat, #"{"messages":\#(user),"stop":[""]}"#, param: "stop"),
        Case("seed not an integer", chat, #"{"messages":\#(user),"seed":"abc"}"#, param: "seed"),
        Case("stream not a boolean", chat, #"{"messages":\#(user),"stream":"yes"}"#, param: "stream"),
        Case(
            "invalid UTF-8", chat,
            Array(#"{"messages":[{"role":"user","content":""#.utf8) + [0xFF, 0xFE] + Array(#""}]}"#.utf8)),
        Case("empty completion prompt", "/v1/completions", #"{"prompt":""}"#, param: "prompt"),
        Case(
            "completion prompt ids out of vocabulary", "/v1/completions", #"{"prompt":[1,2,99999999]}"#,
            param: "prompt"),
        Case("completion prompt of wrong type", "/v1/completions", #"{"prompt":{"a":1}}"#, param: "prompt"),
        Case("echo", "/v1/completions", #"{"prompt":"hi","echo":true}"#, param: "echo"),
        Case(
            "score out-of-vocabulary completion id", "/v1/score",
            #"{"prompt_tokens":[1,2],"completion_tokens":[3,49152]}"#, param: "completion_tokens"),
        Case(
            "score negative prompt id", "/v1/score", #"{"prompt_tokens":[-1],"completion_tokens":[3]}"#,
            param: "prompt_tokens"),
        Case(
            "score empty completion", "/v1/score", #"{"prompt_tokens":[1],"completion_tokens":[]}"#,
            param: "completion_tokens"),
        Case(
            "score top_logprobs above 20", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"top_logprobs":25}"#, param: "top_logprobs"),
        Case(
            "score over the context", "/v1/score",
            #"{"prompt_tokens":[\#(Array(repeating: "1", count: 400).joined(separator: ","))],"completion_tokens":[\#(Array(repeating: "2", count: 200).joined(separator: ","))]}"#,
            param: "completion_tokens", code: "context_length_exceeded"),
        Case(
            "score ids of wrong type", "/v1/score", #"{"prompt_tokens":["a"],"completion_tokens":[2]}"#,
            param: "prompt_tokens[0]"),
        Case(
            "score sampling without a seed", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampling":{"temperature":1}}"#, param: "sampling.seed"),
        Case(
            "score sampling temperature out of range", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampling":{"temperature":-0.5,"seed":1}}"#,
            param: "sampling.temperature"),
        Case(
            "score sampling top_p zero", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampling":{"top_p":0,"seed":1}}"#, param: "sampling.top_p"),
        Case(
            "score sampling top_k below -1", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampling":{"top_k":-3,"seed":1}}"#, param: "sampling.top_k"),
        Case(
            "score sampling min_p above 1", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampling":{"min_p":1.5,"seed":1}}"#, param: "sampling.min_p"
        ),
        Case(
            "score sampling of wrong type", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampling":"greedy"}"#, param: "sampling"),
        Case(
            "score sampling seed not an integer", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampling":{"seed":"x"}}"#, param: "sampling.seed"),
        Case(
            "score sampler_margin negative", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampling":{"seed":1},"sampler_margin":-0.1}"#,
            param: "sampler_margin"),
        Case(
            "score sampler_margin without sampling", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"sampler_margin":0.01}"#, param: "sampler_margin"),
        Case(
            "score missing completion_tokens", "/v1/score", #"{"prompt_tokens":[1]}"#, param: "completion_tokens"),
        Case(
            "score empty prompt", "/v1/score", #"{"prompt_tokens":[],"completion_tokens":[2]}"#, param: "prompt_tokens"),
        Case(
            "score top_logprobs negative", "/v1/score",
            #"{"prompt_tokens":[1],"completion_tokens":[2],"top_logprobs":-1}"#, param: "top_logprobs"),
        Case("detokenize out-of-vocabulary id", "/v1/detokenize", #"{"tokens":[5,100000]}"#, param: "tokens"),
        Case("detokenize wrong type", "/v1/detokenize", #"{"tokens":"abc"}"#, param: "tokens"),
        Case("tokenize missing prompt", "/v1/tokenize", #"{"model":"test-model"}"#, param: "prompt"),
        Case(
            "tokenize unknown model", "/v1/tokenize", #"{"model":"nope","prompt":"x"}"#, status: 404, param: "model",
            code: "model_not_found"),
    ]

    static func check(_ result: HTTPResult, against c: Case) {
        #expect(result.status == c.status, "\(c): \(result.status) \(result.text)")
        #expect(result.contentType.hasPrefix("application/json"), "\(c)")
        let error = result.error
        #expect((error["message"] as? String)?.isEmpty == false, "\(c): \(result.text)")
        #expect(error["type"] as? String == "invalid_request_error", "\(c)")
        #expect(error["code"] as? String == c.code, "\(c): \(result.text)")
        if let param = c.param { #expect(error["param"] as? String == param, "\(c): \(result.text)") }
        #expect(error.keys.contains("param"), "\(c)")
    }

    /// Each class on a fresh node: the right status and error body, no place left taken, and the node
    /// then serves a good request.
    @Test(arguments: cases)
    func refusedCleanly(_ c: Case) async throws {
        try await TestServer.with(configuration: .init(maxBodyBytes: 64 << 10)) { server in
            Self.check(try await server.post(c.path, raw: c.body), against: c)
            #expect(server.backend.admittedRequests == 0)
            let good = try await server.post("/v1/completions", json: ["prompt": "Hi", "max_tokens": 1])
            #expect(good.status == 200, "\(c): \(good.text)")
        }
    }

    /// All cases against one server; after them it answers a good request exactly as before.
    @Test func aBarrageChangesNothing() async throws {
        try await TestServer.with(configuration: .init(maxBodyBytes: 64 << 10)) { server in
            let good: [String: any Sendable] = [
                "prompt": "The capital of France is", "max_tokens": 4, "temperature": 0,
            ]
            let before = try await server.post("/v1/completions", json: good)
            #expect(before.status == 200)
            for c in Self.cases { Self.check(try await server.post(c.path, raw: c.body), against: c) }
            #expect(server.backend.admittedRequests == 0)
            let after = try await server.post("/v1/completions", json: good)
            #expect(after.status == 200)
            func text(_ r: HTTPResult) -> String? { (r.json["choices"] as? [[String: Any]])?.first?["text"] as? String }
            #expect(text(after) != nil && text(after) == text(before))
        }
    }

    /// Unmatched paths and methods answer 404 with an OpenAI-style body.
    @Test func unknownRoutesAnswerInJSON() async throws {
        try await TestServer.with { server in
            let missing = try await server.get("/v1/nothing")
            #expect(missing.status == 404)
            #expect(missing.error["code"] as? String == "not_found")
            #expect((missing.error["message"] as? String)?.contains("/v1/nothing") == true)
            let wrongMethod = try await server.get("/v1/chat/completions")
            #expect(wrongMethod.status == 404)
            #expect(wrongMethod.error["type"] as? String == "invalid_request_error")
        }
    }

    /// A body over the limit is refused with 413 and the node keeps serving.
    @Test func oversizedBodyIs413() async throws {
        try await TestServer.with(configuration: .init(maxBodyBytes: 64 << 10)) { server in
            let huge = #"{"prompt":""# + String(repeating: "a", count: 100 << 10) + #""}"#
            let result = try await server.post("/v1/completions", raw: Array(huge.utf8))
            #expect(result.status == 413)
            #expect(result.error["code"] as? String == "request_too_large")
            #expect(result.error["type"] as? String == "invalid_request_error")
            #expect(try await server.get("/health").status == 200)
        }
    }
}
