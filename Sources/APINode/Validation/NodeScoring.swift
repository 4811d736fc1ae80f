import AsyncHTTPClient
import Foundation
import GonkaCore
import Inference
import MLNode
import NIOCore
import NIOHTTP1
import Verification

/// ``ValidationScoring`` on this API node's own ML nodes: prompt ids from the in-process backend
/// when it serves the model, else from an ML node's `POST /v1/tokenize` (text, or chat messages
/// through the model's template); scores from ``APINode/score(_:)`` at validation priority.
struct NodeScoring: ValidationScoring {
    let node: APINode

    func promptTokens(model: String, prompt: ValidationInput.Prompt) async throws -> [Int] {
        if case .tokens(let ids) = prompt { return ids }
        if let local = node.registry.localBackend, local.info.id == model {
            switch prompt {
            case .chat(let messages): return local.chatPrompt(messages)
            case .text(let text): return local.tokenize(text)
            case .tokens(let ids): return ids
            }
        }
        guard let entry = node.registry.any(model: model) else { throw MLScoreError.noNode(model: model) }
        var body: [(String, JSONValue)] = [("model", .string(model))]
        switch prompt {
        case .chat(let messages): body.append(("messages", .array(messages.map(\.json))))
        case .text(let text): body.append(("prompt", .string(text)))
        case .tokens(let ids): return ids
        }
        var request = HTTPClientRequest(url: entry.url + "/v1/tokenize")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: JSONValue.object(body).bytes()))
        let response = try await node.http.execute(request, timeout: .seconds(30))
        let answer = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok, let tokens = (try? JSONValue(parsing: answer.readableBytesView))?["tokens"],
            let list = tokens.arrayValue
        else { throw MLScoreError.upstream(node: entry.id, status: Int(response.status.code)) }
        let ids = list.compactMap(\.intValue)
        guard ids.count == list.count else {
            throw MLScoreError.malformed(node: entry.id, reason: "tokenize answered non-integer ids")
        }
        return ids
    }

    func score(
        model: String, prompt: [Int], completion: [Int], top: Int, sampling: ValidationInput.Sampling?,
        samplerMargin: Double
    ) async throws -> [InferenceCheck.ValidatorPosition] {
        var parameters: SamplingParameters?
        if let s = sampling {
            // ValidationInput compiled the format already; a failure here is this node's own.
            let grammar = try s.responseFormat.flatMap { try OutputGrammar.compile(responseFormat: $0) }
            parameters = SamplingParameters(
                temperature: Float(s.temperature), topK: s.topK, topP: Float(s.topP), minP: Float(s.minP),
                maxTokens: max(1, completion.count), seed: s.seed, topLogprobs: top, choice: s.choice,
                grammar: grammar, adjustments: s.adjustments)
        }
        return try await node.score(
            MLScoreRequest(
                model: model, promptTokens: prompt, completionTokens: completion, topLogprobs: top,
                sampling: parameters, samplerMargin: samplerMargin))
    }
}
