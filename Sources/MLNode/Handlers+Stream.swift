import Foundation
import Hummingbird
import Inference
import Logging
import NIOCore

extension Handlers {
    /// A server-sent-events response: per choice (one after the other) `start`, one chunk per
    /// generated token and the finish chunk; then the usage chunk when asked for (completion tokens
    /// summed over the choices) and `data: [DONE]`. Generation runs in a child task on the
    /// admission's slot; when a write fails (the client went away) the child is cancelled and the
    /// slot is free after the current token.
    func stream<Chunk: Encodable & Sendable>(
        admission: any MLAdmission, prompt: [Int], parameters: SamplingParameters, choices: Int,
        start: (@Sendable (Int) -> Chunk)?,
        piece: @escaping @Sendable (Int, String, [TokenLogprob]) -> Chunk,
        finish: @escaping @Sendable (Int, String) -> Chunk,
        usage: (@Sendable (OpenAI.Usage) -> Chunk)?, toolCalls: StreamedToolCalls<Chunk>? = nil
    ) -> Response {
        let logger = self.logger
        let body = ResponseBody { writer in
            let (events, continuation) = AsyncStream.makeStream(of: GenerationEvent.self)
            try await withThrowingTaskGroup(of: [Generation].self) { group in
                group.addTask {
                    defer { continuation.finish() }
                    return try await admission.generate(prompt: prompt, parameters: parameters, choices: choices) {
                        if case .terminated = continuation.yield($0) { return false }
                        return true
                    }
                }
                var started = -1
                var holdback = StopHoldback(stops: parameters.stop)
                var filter = ToolTextFilter()
                var completionTokens = 0
                var cachedTokens = 0
                for await event in events {
                    switch event {
                    case .token(let choice, let token):
                        if choice != started {
                            started = choice
                            holdback = StopHoldback(stops: parameters.stop)
                            filter = ToolTextFilter()
                            if let start { try await writer.write(Self.event(start(choice))) }
                        }
                        var text = holdback.push(token.text)
                        // Text withheld as a possible tool call still sends its chunk (content ""):
                        // the executor records every token from the chunks' logprobs.
                        if toolCalls != nil { text = filter.push(text) }
                        try await writer.write(Self.event(piece(choice, text, [token.logprob])))
                    case .finished(let choice, let generation):
                        if choice != started {
                            started = choice
                            holdback = StopHoldback(stops: parameters.stop)
                            filter = ToolTextFilter()
                            if let start { try await writer.write(Self.event(start(choice))) }
                        }
                        var rest = holdback.finish(generation.text)
                        if toolCalls != nil { rest = filter.push(rest) }
                        if !rest.isEmpty { try await writer.write(Self.event(piece(choice, rest, []))) }
                        let reason = Self.finishReason(generation.finishReason)
                        if let toolCalls {
                            let calls = toolCalls.tools.calls(in: generation.text).calls
                            for chunk in toolCalls.end(choice, calls.isEmpty ? filter.withheld : "", calls, reason) {
                                try await writer.write(Self.event(chunk))
                            }
                        } else {
                            try await writer.write(Self.event(finish(choice, reason)))
                        }
                        completionTokens += generation.tokens.count
                        cachedTokens = generation.cachedTokens
                    }
                }
                do {
                    guard try await group.next() != nil else { return }
                } catch {
                    logger.error("streamed generation failed", metadata: ["error": "\(error)"])
                    let failure: MLNodeError =
                        (error as? MLNodeError) ?? (error as? InferenceError).map { .from($0) }
                        ?? .internalError("generation failed: \(error)")
                    try await writer.write(Self.event(OpenAI.ErrorBody(failure)))
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    return
                }
                if let usage {
                    let counts = OpenAI.Usage(
                        promptTokens: prompt.count, completionTokens: completionTokens, cachedTokens: cachedTokens)
                    try await writer.write(Self.event(usage(counts)))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    static func event(_ value: some Encodable) throws -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(try encoder.encode(value))
        buffer.writeString("\n\n")
        return buffer
    }
}

/// Holds back streamed text that may be the start of a stop string, so a client never sees part of
/// a stop string the final text leaves out.
struct StopHoldback {
    let stops: [[UInt8]]
    /// Bytes received and not yet sent.
    private var pending: [UInt8] = []
    /// Bytes sent so far.
    private(set) var sent: [UInt8] = []

    init(stops: [String]) { self.stops = stops.map { Array($0.utf8) } }

    /// Adds a piece of text; returns what can be sent now.
    mutating func push(_ piece: String) -> String {
        pending.append(contentsOf: piece.utf8)
        var hold = 0
        for stop in stops {
            // The longest suffix of `pending` that is a proper prefix of `stop`.
            var k = min(stop.count - 1, pending.count)
            while k > hold {
                if pending.suffix(k).elementsEqual(stop.prefix(k)) { break }
                k -= 1
            }
            hold = max(hold, k)
        }
        let ready = pending.count - hold
        guard ready > 0 else { return "" }
        let out = Array(pending[..<ready])
        pending.removeFirst(ready)
        sent.append(contentsOf: out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The rest of `final` (the whole generated text) after what was sent.
    mutating func finish(_ final: String) -> String {
        let bytes = Array(final.utf8)
        guard bytes.count > sent.count, bytes.starts(with: sent) else { return "" }
        let rest = Array(bytes[sent.count...])
        sent = bytes
        pending = []
        return String(decoding: rest, as: UTF8.self)
    }
}

/// How a chat stream with tools ends each choice: `end(choice, withheld text, calls, finish
/// reason)` gives the chunks after the streamed text (the withheld text when the answer held no
/// call after all, the tool-call deltas, the finish chunk).
struct StreamedToolCalls<Chunk: Sendable>: Sendable {
    let tools: ChatTools
    let end: @Sendable (Int, String, [ParsedToolCall], String) -> [Chunk]
}

/// Streams an answer's text up to a `<tool_call>` and withholds the rest (the call is sent as
/// tool-call deltas when the choice ends), holding back a tail that may be the tag's start.
struct ToolTextFilter {
    static let marker = Array(ToolCallFormat.open.utf8)
    private var pending: [UInt8] = []
    private var cut = false

    /// Adds text; returns what can be streamed now.
    mutating func push(_ text: String) -> String {
        pending.append(contentsOf: text.utf8)
        guard !cut else { return "" }
        let marker = Self.marker
        if let at = pending.indices.first(where: { pending[$0...].starts(with: marker) }) {
            cut = true
            let out = Array(pending[..<at])
            pending.removeFirst(at)
            return String(decoding: out, as: UTF8.self)
        }
        var hold = min(marker.count - 1, pending.count)
        while hold > 0 && !pending.suffix(hold).elementsEqual(marker.prefix(hold)) { hold -= 1 }
        let out = Array(pending.dropLast(hold))
        pending.removeFirst(out.count)
        return String(decoding: out, as: UTF8.self)
    }

    /// The text not streamed (from the tag on, or a held-back tail).
    var withheld: String { String(decoding: pending, as: UTF8.self) }
}
