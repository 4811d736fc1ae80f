import AsyncHTTPClient
import Foundation
import GonkaCore
import Inference
import MLNode
import NIOCore
import NIOHTTP1
import Verification

/// What a validator scores for one inference (PROTOCOL §7.2, `POST /v1/score` §11): the prompt and
/// the executor's completion ids, the alternatives wanted, and (native engines) the request's
/// sampling with its seed so the ML node replays the sampler.
public struct MLScoreRequest: Sendable, Equatable {
    /// The model id the inference ran under (picks the ML node).
    public var model: String
    public var promptTokens: [Int]
    public var completionTokens: [Int]
    /// Alternatives per position (1…20; the check needs a non-empty top list).
    public var topLogprobs: Int
    /// The executed request's sampling and seed; nil: no replay (opaque engines).
    public var sampling: SamplingParameters?
    /// `sampler_margin` (probability mass), used with `sampling`.
    public var samplerMargin: Double

    public init(
        model: String, promptTokens: [Int], completionTokens: [Int], topLogprobs: Int = 5,
        sampling: SamplingParameters?, samplerMargin: Double = SamplerReplay.defaultMargin
    ) {
        self.model = model
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.topLogprobs = topLogprobs
        self.sampling = sampling
        self.samplerMargin = samplerMargin
    }
}

/// A score that could not be obtained or does not fit the request. Every case is a failure on the
/// **validator's** side (its ML node, its request, its transport): a validation worker retries or
/// gives up, and never blames the executor for it.
public struct MLScoreError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case noNode(model: String)
        case overloaded(node: String)
        case refused(node: String, status: Int, message: String)
        case upstream(node: String, status: Int)
        case transport(node: String, reason: String)
        case malformed(node: String, reason: String)
        case wrongLength(node: String, expected: Int, got: Int)
        case wrongToken(node: String, position: Int, expected: Int, got: Int)
        case missingVerdict(node: String, position: Int)
    }

    private let code: Code

    /// No enabled ML node serves the model.
    public static func noNode(model: String) -> Self { Self(code: .noNode(model: model)) }
    /// The node is at capacity (429): retry later.
    public static func overloaded(node: String) -> Self { Self(code: .overloaded(node: node)) }
    /// The node refused the request as invalid (4xx other than 429): the request is at fault.
    public static func refused(node: String, status: Int, message: String) -> Self {
        Self(code: .refused(node: node, status: status, message: message))
    }
    /// The node failed (5xx or another unexpected status).
    public static func upstream(node: String, status: Int) -> Self { Self(code: .upstream(node: node, status: status)) }
    /// No answer: connection refused, timeout, cut stream, cancellation.
    public static func transport(node: String, reason: String) -> Self {
        Self(code: .transport(node: node, reason: reason))
    }
    /// An answer that is not a well-formed score (bad JSON, missing or non-finite fields).
    public static func malformed(node: String, reason: String) -> Self {
        Self(code: .malformed(node: node, reason: reason))
    }
    /// A different number of positions than completion tokens.
    public static func wrongLength(node: String, expected: Int, got: Int) -> Self {
        Self(code: .wrongLength(node: node, expected: expected, got: got))
    }
    /// A position scored for another token than the completion's.
    public static func wrongToken(node: String, position: Int, expected: Int, got: Int) -> Self {
        Self(code: .wrongToken(node: node, position: position, expected: expected, got: got))
    }
    /// Sampling was sent but a position has no replayed draw.
    public static func missingVerdict(node: String, position: Int) -> Self {
        Self(code: .missingVerdict(node: node, position: position))
    }

    /// A label without values (safe as a metric label).
    public var shortDescription: String {
        switch code {
        case .noNode: "no_ml_node"
        case .overloaded: "ml_node_overloaded"
        case .refused: "score_refused"
        case .upstream: "ml_node_failed"
        case .transport: "transport"
        case .malformed: "malformed_score"
        case .wrongLength: "wrong_length"
        case .wrongToken: "wrong_token"
        case .missingVerdict: "missing_verdict"
        }
    }

    public var description: String {
        switch code {
        case .noNode(let model): "no enabled ML node serves '\(model)'"
        case .overloaded(let node): "ML node \(node) is at capacity"
        case .refused(let node, let status, let message): "ML node \(node) refused the score (\(status)): \(message)"
        case .upstream(let node, let status): "ML node \(node) answered \(status)"
        case .transport(let node, let reason): "ML node \(node) did not answer: \(reason)"
        case .malformed(let node, let reason): "ML node \(node) sent a malformed score: \(reason)"
        case .wrongLength(let node, let expected, let got):
            "ML node \(node) scored \(got) positions for \(expected) completion tokens"
        case .wrongToken(let node, let position, let expected, let got):
            "ML node \(node) scored token \(got) at position \(position), the completion has \(expected)"
        case .missingVerdict(let node, let position):
            "ML node \(node) sent no replayed draw at position \(position)"
        }
    }
}

/// The API node's side of `POST /v1/score`: the same request on an embedded ``MLBackend`` (in
/// process) or a remote ML node (HTTP), at validation priority, and one check of the answer against
/// the request (``positions(_:for:node:)``) before it becomes the check's
/// `InferenceCheck.ValidatorPosition`s.
public enum MLScoring {
    /// One scored position as either path delivers it, before it is checked.
    struct Scored: Sendable {
        var token: Int
        var logprob: Double
        var top: [(token: Int, logprob: Double)]
        var verdict: (drawn: Int, ambiguous: Bool, outsideSupport: Bool)?
    }

    /// Scores on an in-process backend (admitted at ``MLPriority/validation``).
    public static func score(
        _ request: MLScoreRequest, backend: any MLBackend, node: String
    ) async throws(MLScoreError) -> [InferenceCheck.ValidatorPosition] {
        let scored: [ScoredToken]
        do {
            let replay = try request.sampling.map { try SamplerReplay(parameters: $0, margin: request.samplerMargin) }
            let admission = try backend.admit(priority: .validation)
            scored = try await admission.score(
                prompt: request.promptTokens, completion: request.completionTokens, top: request.topLogprobs,
                replay: replay)
        } catch let error as MLNodeError {
            if error.status == 429 { throw .overloaded(node: node) }
            throw .refused(node: node, status: error.status, message: error.message)
        } catch let error as InferenceError {
            throw .refused(node: node, status: 400, message: error.description)
        } catch {
            throw .transport(node: node, reason: "\(error)")
        }
        let positions = scored.map { s in
            Scored(
                token: s.logprob.token, logprob: Double(s.logprob.logprob),
                top: s.logprob.top.map { ($0.token, Double($0.logprob)) },
                verdict: s.draw.map { ($0.drawn, $0.ambiguous, $0.outsideSupport) })
        }
        return try Self.positions(positions, for: request, node: node)
    }

    /// Largest `/v1/score` answer read (about 100 bytes per alternative per position).
    public static let maxResponseBytes = 64 << 20

    /// Scores on a remote ML node at `url` (`http://host:port`); the node runs it at validation
    /// priority. Any status but 200, a cut or oversized answer, or one that does not fit the
    /// request throws.
    public static func score(
        _ request: MLScoreRequest, url: String, http: HTTPClient, timeout: TimeAmount = .minutes(10), node: String
    ) async throws(MLScoreError) -> [InferenceCheck.ValidatorPosition] {
        var post = HTTPClientRequest(url: url + "/v1/score")
        post.method = .POST
        post.headers.add(name: "Content-Type", value: "application/json")
        let status: Int
        let body: [UInt8]
        do {
            post.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(ScoreWire.Request(request))))
            let response = try await http.execute(post, timeout: timeout)
            status = Int(response.status.code)
            body = Array(try await response.body.collect(upTo: maxResponseBytes).readableBytesView)
        } catch let error as NIOTooManyBytesError {
            throw .malformed(node: node, reason: "answer over \(maxResponseBytes) bytes (\(error))")
        } catch {
            throw .transport(node: node, reason: "\(error)")
        }
        switch status {
        case 200: break
        case 429: throw .overloaded(node: node)
        case 400..<500:
            let message = (try? JSONDecoder().decode(WireError.self, from: Data(body)))?.error.message
            throw .refused(node: node, status: status, message: message ?? "no error message")
        default: throw .upstream(node: node, status: status)
        }
        let answer: ScoreWire.Response
        do {
            answer = try JSONDecoder().decode(ScoreWire.Response.self, from: Data(body))
        } catch {
            throw .malformed(node: node, reason: "not a score response (\(error))")
        }
        let positions = answer.positions.map { p in
            Scored(
                token: p.token, logprob: Double(p.logprob), top: p.topLogprobs.map { ($0.token, Double($0.logprob)) },
                verdict: p.drawn.flatMap { drawn in
                    p.ambiguous.flatMap { ambiguous in
                        p.outsideSupport.map { (drawn, ambiguous, $0) }
                    }
                })
        }
        return try Self.positions(positions, for: request, node: node)
    }

    /// The one check of a score against its request, whichever path it came by: one position per
    /// completion token, each for that token, finite logprobs, token ids that fit the check's
    /// UInt32, 1…`topLogprobs` alternatives (when asked for), and a replayed draw at every position
    /// when sampling was sent.
    static func positions(
        _ scored: [Scored], for request: MLScoreRequest, node: String
    ) throws(MLScoreError) -> [InferenceCheck.ValidatorPosition] {
        guard scored.count == request.completionTokens.count else {
            throw .wrongLength(node: node, expected: request.completionTokens.count, got: scored.count)
        }
        func id(_ token: Int, position: Int) throws(MLScoreError) -> UInt32 {
            guard let id = UInt32(exactly: token) else {
                throw .malformed(node: node, reason: "token id \(token) at position \(position)")
            }
            return id
        }
        var out: [InferenceCheck.ValidatorPosition] = []
        out.reserveCapacity(scored.count)
        for (i, s) in scored.enumerated() {
            let expected = request.completionTokens[i]
            guard s.token == expected else {
                throw .wrongToken(node: node, position: i, expected: expected, got: s.token)
            }
            guard s.logprob.isFinite, s.top.allSatisfy({ $0.logprob.isFinite }) else {
                throw .malformed(node: node, reason: "a non-finite logprob at position \(i)")
            }
            guard s.top.count <= request.topLogprobs, request.topLogprobs == 0 || !s.top.isEmpty else {
                throw .malformed(
                    node: node, reason: "\(s.top.count) alternatives at position \(i), asked for \(request.topLogprobs)"
                )
            }
            var top: [InferenceCheck.TokenLogprob] = []
            for alternative in s.top {
                top.append(.init(token: try id(alternative.token, position: i), logprob: alternative.logprob))
            }
            var sampler: InferenceCheck.SamplerVerdict?
            if request.sampling != nil {
                guard let verdict = s.verdict else { throw .missingVerdict(node: node, position: i) }
                sampler = .init(
                    drawn: try id(verdict.drawn, position: i), ambiguous: verdict.ambiguous,
                    outsideSupport: verdict.outsideSupport)
            }
            out.append(
                .init(forcedToken: try id(s.token, position: i), forcedLogprob: s.logprob, top: top, sampler: sampler))
        }
        return out
    }
}

extension ScoreWire.Request {
    /// The body of `request` (Float → Double is exact, and the node's Double → Float gives back
    /// the same value).
    init(_ request: MLScoreRequest) {
        self.init(
            model: request.model, promptTokens: request.promptTokens, completionTokens: request.completionTokens,
            topLogprobs: request.topLogprobs,
            sampling: request.sampling.map {
                let a = $0.adjustments
                return ScoreWire.Sampling(
                    temperature: Double($0.temperature), topK: $0.topK, topP: Double($0.topP), minP: Double($0.minP),
                    seed: Int64(bitPattern: $0.seed), choice: $0.choice == 0 ? nil : $0.choice,
                    responseFormat: $0.grammar?.source,
                    logitBias: a.bias.isEmpty
                        ? nil : Dictionary(uniqueKeysWithValues: a.bias.map { (String($0.token), Double($0.value)) }),
                    presencePenalty: a.presencePenalty == 0 ? nil : Double(a.presencePenalty),
                    frequencyPenalty: a.frequencyPenalty == 0 ? nil : Double(a.frequencyPenalty),
                    repetitionPenalty: a.repetitionPenalty == 1 ? nil : Double(a.repetitionPenalty))
            },
            samplerMargin: request.sampling == nil ? nil : request.samplerMargin)
    }
}

extension MLScoring {
    struct WireError: Decodable {
        struct Body: Decodable { var message: String }
        var error: Body
    }
}

extension APINode {
    /// Teacher-forced scores of `request` for validating an inference (PROTOCOL §7.2): on the least
    /// busy enabled ML node serving `request.model` (counted busy meanwhile), in process when that
    /// node is the embedded one, else over HTTP; always at validation priority, so live requests
    /// waiting on the node go first. The positions are checked against the request
    /// (``MLScoring/positions(_:for:node:)``); every error is the validator's own failure.
    public func score(_ request: MLScoreRequest) async throws(MLScoreError) -> [InferenceCheck.ValidatorPosition] {
        guard let node = registry.acquire(model: request.model) else { throw .noNode(model: request.model) }
        defer { registry.release(node.id) }
        if node.embedded, let local = registry.localBackend, local.info.id == request.model {
            return try await MLScoring.score(request, backend: local, node: node.id)
        }
        return try await MLScoring.score(request, url: node.url, http: http, node: node.id)
    }
}
