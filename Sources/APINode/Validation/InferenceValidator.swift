import GonkaCore
import Ledger
import Verification

/// The validator's side of the ML node: teacher-forced scores with the sampler replay (PROTOCOL
/// §7.2, `POST /v1/score`), run at lower priority than live requests.
public protocol ValidationScoring: Sendable {
    /// The prompt ids the executor's ML node ran for `prompt` (chat messages through the model's
    /// template; text through its tokenizer).
    func promptTokens(model: String, prompt: ValidationInput.Prompt) async throws -> [Int]

    /// One scored position per `completion` token: the forced token's logprob, the top `top`
    /// alternatives and (when `sampling` is given) the replayed draw.
    func score(
        model: String, prompt: [Int], completion: [Int], top: Int, sampling: ValidationInput.Sampling?,
        samplerMargin: Double
    ) async throws -> [InferenceCheck.ValidatorPosition]
}

/// One inference's check from fetched bytes to verdict (§7.2): decode the payload, re-score it on
/// this node's ML node, run ``InferenceCheck``. A fault of the validator (its ML node is down or
/// answers scores that do not fit) throws ``InferenceValidatorError/local``: it must never be
/// blamed on the executor.
public struct InferenceValidator: Sendable {
    /// The model as registered on chain.
    public struct Model: Sendable, Hashable {
        public var id: String
        public var validationThresholdPpm: UInt64
        public var sampler: InferenceCheck.SamplerKind

        public init(id: String, validationThresholdPpm: UInt64, sampler: InferenceCheck.SamplerKind) {
            self.id = id
            self.validationThresholdPpm = validationThresholdPpm
            self.sampler = sampler
        }
    }

    /// The Finish's numbers the payload is checked against.
    public struct Finished: Sendable, Hashable {
        public var inferenceID: String
        public var executor: Address
        public var responseCommitment: Hash
        public var completionTokens: UInt64

        public init(inferenceID: String, executor: Address, responseCommitment: Hash, completionTokens: UInt64) {
            self.inferenceID = inferenceID
            self.executor = executor
            self.responseCommitment = responseCommitment
            self.completionTokens = completionTokens
        }
    }

    public let params: ValidationParams
    public let scoring: any ValidationScoring

    public init(params: ValidationParams, scoring: any ValidationScoring) {
        self.params = params
        self.scoring = scoring
    }

    /// The top-k the validator scores (the executor reported ≥ 5, §6.3).
    public static let top = 5

    /// The verdict on `bytes` (nil: the payload was unavailable after retries).
    public func check(
        bytes: [UInt8]?, finished: Finished, model: Model
    ) async throws(InferenceValidatorError) -> InferenceCheck.Verdict {
        let thresholds = InferenceCheck.Thresholds(
            params: params, validationThreshold: Double(model.validationThresholdPpm) / 1e6, sampler: model.sampler)
        let check = InferenceCheck(thresholds: thresholds)
        guard let bytes else {
            return try evaluate(check, payload: nil, finished: finished, scores: [], sampling: .init())
        }
        let input: ValidationInput
        do {
            input = try ValidationInput(bytes: bytes, inferenceID: finished.inferenceID, executor: finished.executor)
        } catch {
            return InferenceCheck.Verdict(
                passed: false, reason: .commitment, distancePpm: 0, positionsAboveCeiling: 0, samplerMisses: 0,
                impossibleTokens: 0, likelihoodZ: nil)
        }
        let payload = InferenceCheck.Payload(bytes: bytes, positions: input.positions)
        // A payload that does not match the Finish fails before any scoring.
        guard
            InferenceCheck.commitmentHolds(
                payload, commitment: finished.responseCommitment, tokens: finished.completionTokens)
        else {
            return try evaluate(check, payload: payload, finished: finished, scores: [], sampling: input.sampling.check)
        }
        var scores: [InferenceCheck.ValidatorPosition] = []
        if !input.completion.isEmpty {
            do {
                let prompt = try await scoring.promptTokens(model: model.id, prompt: input.prompt)
                // Each choice is its own teacher-forced pass with its own stream (choice i of the
                // seed); the positions line up with the payload's, choice after choice.
                for (index, completion) in input.choices.enumerated() where !completion.isEmpty {
                    var sampling = input.sampling
                    sampling.choice = index
                    scores += try await scoring.score(
                        model: model.id, prompt: prompt, completion: completion, top: Self.top,
                        sampling: model.sampler == .native ? sampling : nil,
                        samplerMargin: thresholds.samplerMargin)
                }
            } catch {
                throw .local("scoring failed: \(error)")
            }
        }
        return try evaluate(check, payload: payload, finished: finished, scores: scores, sampling: input.sampling.check)
    }

    private func evaluate(
        _ check: InferenceCheck, payload: InferenceCheck.Payload?, finished: Finished,
        scores: [InferenceCheck.ValidatorPosition], sampling: InferenceCheck.Sampling
    ) throws(InferenceValidatorError) -> InferenceCheck.Verdict {
        do {
            return try check.evaluate(
                InferenceCheck.Input(
                    payload: payload, responseCommitment: finished.responseCommitment,
                    completionTokens: finished.completionTokens, validator: scores, sampling: sampling))
        } catch {
            throw .local("the validator's scores do not fit the payload: \(error)")
        }
    }
}

/// The validator could not check (its own fault): retry later, never send a verdict for it.
public enum InferenceValidatorError: Error, Hashable, Sendable, CustomStringConvertible {
    case local(String)

    public var description: String {
        switch self {
        case .local(let why): why
        }
    }
}
