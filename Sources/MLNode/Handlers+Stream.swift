import Foundation
import Hummingbird
import Inference
import Logging
import NIOCore

extension Handlers {
    /// A server-sent-events response: `start`, one chunk per generated token, the finish chunk, the
    /// usage chunk when asked for, then `data: [DONE]`. Generation runs in a child task on the
    /// admission's slot; when a write fails (the client went away) the child is cancelled and the
    /// slot is free after the current token.
    func stream<Chunk: Encodable & Sendable>(
        admission: any MLAdmission, prompt: [Int], parameters: SamplingParameters, start: Chunk?,
        piece: @escaping @Sendable (String, [TokenLogprob]) -> Chunk,
        finish: @escaping @Sendable (String) -> Chunk,
        usage: (@Sendable (OpenAI.Usage) -> Chunk)?
    ) -> Response {
        let logger = self.logger
        let body = ResponseBody { writer in
            let (events, continuation) = AsyncStream.makeStream(of: GeneratedToken.self)
            try await withThrowingTaskGroup(of: Generation.self) { group in
                group.addTask {
                    defer { continuation.finish() }
                    return try await admission.generate(prompt: prompt, parameters: parameters) { token in
                        if case .terminated = continuation.yield(token) { return false }
                        return true
                    }
                }
                if let start { try await writer.write(Self.event(start)) }
                var holdback = StopHoldback(stops: parameters.stop)
                for await token in events {
                    try await writer.write(Self.event(piece(holdback.push(token.text), [token.logprob])))
                }
                let generation: Generation
                do {
                    guard let finished = try await group.next() else { return }
                    generation = finished
                } catch {
                    logger.error("streamed generation failed", metadata: ["error": "\(error)"])
                    let failure: MLNodeError =
                        (error as? InferenceError).map { .from($0) } ?? .internalError("generation failed: \(error)")
                    try await writer.write(Self.event(OpenAI.ErrorBody(failure)))
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    return
                }
                let rest = holdback.finish(generation.text)
                if !rest.isEmpty { try await writer.write(Self.event(piece(rest, []))) }
                try await writer.write(Self.event(finish(Self.finishReason(generation.finishReason))))
                if let usage {
                    let counts = OpenAI.Usage(
                        promptTokens: generation.promptTokens, completionTokens: generation.tokens.count)
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
