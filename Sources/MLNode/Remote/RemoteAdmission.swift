import Foundation
import Inference

/// A place in a ``RemoteBackend``: runs one generation or scoring job against the upstream when
/// the node's scheduler gives it a slot; the place is given back when this is deallocated.
final class RemoteAdmission: MLAdmission {
    let backend: RemoteBackend
    let priority: MLPriority

    init(backend: RemoteBackend, priority: MLPriority) {
        self.backend = backend
        self.priority = priority
    }

    deinit { backend.scheduler.leave() }

    private var tokenizer: Tokenizer { backend.tokenizer }
    private var vocabularySize: Int { backend.info.vocabularySize }

    func generate(
        prompt: [Int], parameters: SamplingParameters, choices: Int,
        onEvent: @escaping @Sendable (GenerationEvent) -> Bool
    ) async throws -> [Generation] {
        try backend.checkSupported(parameters)
        guard prompt.count + parameters.maxTokens <= backend.info.contextLength else {
            throw MLNodeError.contextLengthExceeded(
                need: prompt.count + parameters.maxTokens, limit: backend.info.contextLength)
        }
        let slot = try await backend.scheduler.acquire(priority: priority)
        defer { backend.scheduler.release(slot) }
        var generations: [Generation] = []
        for choice in 0..<choices {
            let generation = try await generateChoice(
                prompt: prompt, parameters: parameters, choice: choice, onEvent: onEvent)
            generations.append(generation)
            _ = onEvent(.finished(choice: choice, generation))
            if generation.finishReason == .cancelled { break }
        }
        return generations
    }

    /// One choice: a streamed upstream request whose tokens are checked, turned into text by
    /// ``ChoiceText`` (stop strings are the node's) and reported one by one.
    private func generateChoice(
        prompt: [Int], parameters: SamplingParameters, choice: Int,
        onEvent: @escaping @Sendable (GenerationEvent) -> Bool
    ) async throws(MLNodeError) -> Generation {
        var ids: [Int] = []
        var logprobs: [TokenLogprob] = []
        var text = ChoiceText(tokenizer: tokenizer, stop: parameters.stop)
        var finish: FinishReason?
        var upstreamFinish: UpstreamFinish?
        /// Tokens received, the end-of-turn token included (what the upstream counts).
        var received = 0
        let top = parameters.topLogprobs
        let flavour = backend.flavour
        let tokenizer = self.tokenizer
        let vocabularySize = self.vocabularySize
        /// Takes one reported token; false when the choice ends with it.
        func accept(_ position: UpstreamPosition) throws(MLNodeError) -> Bool {
            received += 1
            if tokenizer.endsChoice(position.token) {
                finish = .stop
                return false
            }
            let entry = try RemoteAnswers.checked(position, top: top, vocabularySize: vocabularySize, at: ids.count)
            ids.append(position.token)
            logprobs.append(entry)
            let (piece, stopped) = text.append(position.token)
            guard onEvent(.token(choice: choice, GeneratedToken(id: position.token, logprob: entry, text: piece)))
            else {
                finish = .cancelled
                return false
            }
            if stopped {
                finish = .stop
                return false
            }
            if ids.count >= parameters.maxTokens {
                finish = .length
                return false
            }
            return true
        }
        let handle: ([UInt8]) async throws(MLNodeError) -> Bool = { payload throws(MLNodeError) in
            try RemoteAnswers.checkNotError(payload)
            let chunk: UpstreamChunk
            switch flavour {
            case .llamacpp:
                chunk = try LlamaCppWire.chunk(
                    Upstream.decode(LlamaCppWire.Answer.self, from: payload, what: "stream chunk"))
            case .vllm:
                chunk = try VLLMWire.chunk(
                    Upstream.decode(VLLMWire.Completion.self, from: payload, what: "stream chunk"))
            }
            let reported = chunk.generatedSoFar ?? (received + chunk.positions.count)
            let skipped = reported - received - chunk.positions.count
            if skipped > 0, chunk.finish == nil, flavour == .llamacpp {
                // llama-server sends no chunk for a token that ends inside a UTF-8 character: the
                // next chunk's text holds its bytes. Recover the token from them, its logprobs by a
                // forced score at its position.
                for position in try await self.recover(
                    skipped, chunk: chunk, context: prompt + ids, top: top)
                {
                    guard try accept(position) else { return false }
                }
            }
            for position in chunk.positions {
                guard try accept(position) else { return false }
            }
            // A final count above what was reported is tokens generated after the last one sent
            // (split characters at the length limit): never served, so never billed.
            if let said = chunk.generatedSoFar, said != received, !(chunk.finish == .length && said > received) {
                throw .badGateway(
                    "The upstream engine says it generated \(said) token(s) but reported \(received) with "
                        + "logprobs; the node cannot bill or vouch for the missing ones.")
            }
            if let end = chunk.finish { upstreamFinish = end }
            return true
        }
        switch flavour {
        case .llamacpp:
            try await backend.upstream.stream(
                "/completion",
                json: LlamaCppWire.generation(prompt: prompt, parameters: parameters, choice: choice, top: top),
                onEvent: handle)
        case .vllm:
            try await backend.upstream.stream(
                "/v1/completions",
                json: VLLMWire.generation(
                    model: backend.info.id, prompt: prompt, parameters: parameters, choice: choice, top: top),
                onEvent: handle)
        }
        if finish == nil {
            switch upstreamFinish {
            case .stop: finish = .stop
            case .length: finish = .length
            case nil:
                throw .badGateway("The upstream engine's stream ended before the generation did.")
            }
        }
        return Generation(
            promptTokens: prompt.count, tokens: ids, logprobs: logprobs, text: text.text, finishReason: finish ?? .stop)
    }

    func score(prompt: [Int], completion: [Int], top: Int, replay: SamplerReplay?) async throws -> [ScoredToken] {
        guard replay == nil else {
            throw MLNodeError.invalidRequest(
                "This ML node fronts \(backend.flavour.rawValue), an engine whose sampler cannot be replayed: score "
                    + "without 'sampling' (validators of opaque engines run the likelihood test).", param: "sampling")
        }
        let slot = try await backend.scheduler.acquire(priority: priority)
        defer { backend.scheduler.release(slot) }
        let positions: [UpstreamPosition]
        switch backend.flavour {
        case .llamacpp: positions = try await scoreLlamaCpp(prompt: prompt, completion: completion, top: top)
        case .vllm:
            let body = try await backend.upstream.post(
                "/v1/completions",
                json: VLLMWire.score(model: backend.info.id, prompt: prompt, completion: completion, top: top))
            try RemoteAnswers.checkNotError(body)
            positions = try VLLMWire.scored(
                Upstream.decode(VLLMWire.Completion.self, from: body, what: "score answer"), promptCount: prompt.count,
                completion: completion)
        }
        return try positions.enumerated().map { i, position throws(MLNodeError) in
            ScoredToken(
                logprob: try RemoteAnswers.checked(position, top: top, vocabularySize: vocabularySize, at: i),
                draw: nil)
        }
    }

    /// llama-server has no prompt logprobs: one request per position, its token forced, the prompt
    /// cached so each request evaluates one new token.
    private func scoreLlamaCpp(
        prompt: [Int], completion: [Int], top: Int
    ) async throws(MLNodeError)
        -> [UpstreamPosition]
    {
        var positions: [UpstreamPosition] = []
        for (i, token) in completion.enumerated() {
            try Task.checkCancellation(orThrow: MLNodeError.unavailable("The request was cancelled."))
            positions.append(
                try await forcedLlamaCpp(context: prompt + completion[..<i], token: token, top: top, at: i))
        }
        return positions
    }

    /// The logprobs at the position after `context` with `token` forced. A token llama-server would
    /// withhold (its text ends inside a UTF-8 character: ``LlamaCppWire/withheld(_:)``) gets no
    /// logprobs, so there a whole-character token is forced instead and `token`'s logprob read from
    /// the full list of alternatives.
    private func forcedLlamaCpp(
        context: [Int], token: Int, top: Int, at i: Int
    ) async throws(MLNodeError)
        -> UpstreamPosition
    {
        let split = LlamaCppWire.withheld(tokenizer.bytes(of: token))
        let forced = split ? backend.probeToken : token
        let body = try await backend.upstream.post(
            "/completion",
            json: LlamaCppWire.forced(context: context, forced: forced, top: split ? vocabularySize : top))
        try RemoteAnswers.checkNotError(body)
        let chunk = try LlamaCppWire.chunk(Upstream.decode(LlamaCppWire.Answer.self, from: body, what: "score answer"))
        guard let answer = chunk.positions.first, chunk.positions.count == 1, answer.token == forced else {
            throw .badGateway(
                "llama-server did not sample the forced token \(forced) at position \(i) (it sent "
                    + "\(chunk.positions.map(\.token))).")
        }
        guard split else { return answer }
        guard let own = answer.top.first(where: { $0.token == token }) else {
            throw .badGateway("llama-server's full list at position \(i) lacks token \(token).")
        }
        return UpstreamPosition(token: token, logprob: own.logprob, top: answer.top)
    }

    /// The `count` tokens llama-server generated before `chunk`'s token without a chunk of their own:
    /// the one cut of the chunk's text before its token's bytes into `count` tokens, each with the
    /// logprobs of a forced score after `context` (and the recovered tokens before it). No text, or
    /// more than one cut, is a 502.
    private func recover(
        _ count: Int, chunk: UpstreamChunk, context: [Int], top: Int
    ) async throws(MLNodeError) -> [UpstreamPosition] {
        guard let text = chunk.text, let next = chunk.positions.first, chunk.positions.count == 1 else {
            throw .badGateway("llama-server skipped \(count) token(s) and its next chunk does not say which.")
        }
        let own = tokenizer.bytes(of: next.token)
        guard text.count >= own.count, Array(text.suffix(own.count)) == own else {
            throw .badGateway("llama-server's chunk text does not end with its token's bytes.")
        }
        let skipped = Array(text.dropLast(own.count))
        // JSON cannot carry bytes that are not UTF-8: llama-server sends U+FFFD for them, and
        // then the bytes (so the tokens) are lost.
        let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
        guard !skipped.indices.dropLast(2).contains(where: { Array(skipped[$0..<$0 + 3]) == replacement }) else {
            throw .badGateway(
                "llama-server skipped \(count) token(s) that are not valid UTF-8 (its text shows U+FFFD); the node "
                    + "cannot tell which it generated.")
        }
        let cuts = backend.segmentations(of: skipped[...], into: count)
        guard cuts.count == 1, let ids = cuts.first else {
            throw .badGateway(
                "llama-server skipped \(count) token(s) whose bytes cut into \(cuts.count == 0 ? "no" : "several") "
                    + "token sequences; the node cannot tell which it generated.")
        }
        var positions: [UpstreamPosition] = []
        for (i, id) in ids.enumerated() {
            positions.append(
                try await forcedLlamaCpp(context: context + ids[..<i], token: id, top: top, at: context.count + i))
        }
        return positions
    }
}

extension Task where Success == Never, Failure == Never {
    /// Throws `error` when the current task is cancelled.
    static func checkCancellation(orThrow error: MLNodeError) throws(MLNodeError) {
        if Task.isCancelled { throw error }
    }
}
