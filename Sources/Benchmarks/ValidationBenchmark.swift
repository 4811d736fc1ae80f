import APINode
import Foundation
import GonkaCore
import Inference
import Ledger
import Verification

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `gonka bench validation` (PROTOCOL §7.5): the honest distribution of §7.2's check over real
/// (prompt, output) pairs, each cheat class's per-inference detection and validations until
/// INVALID by §7.4's test, the thresholds these numbers propose, and the CPU cost of validating an
/// inference beside generating it.
///
/// The executor decodes one token at a time on ``Settings/executorThreads`` threads (a prefill of
/// the prompt, then one-position batches); the validator scores prompt + output teacher-forced in
/// one batch on ``Settings/validatorThreads`` threads with the sampler replay, exactly as
/// `POST /v1/score` does, and runs ``InferenceCheck`` on the executor's real payload.
public struct ValidationBenchmark: Sendable {
    /// What to run.
    public struct Settings: Sendable, Hashable {
        /// Honest (prompt, output) pairs with at least one output token.
        public var honest = 2_000
        /// Inferences per cheat class.
        public var cheats = 200
        /// Inferences of ≥ 64 tokens for the cost measurement (0: skip it).
        public var costInferences = 20
        /// Largest output limit of the request mix (1…this).
        public var maxTokens = 64
        public var executorThreads = 1
        public var validatorThreads = 2
        /// The check's `validation_threshold` (the devnet genesis model's by default).
        public var thresholdPpm = Genesis.Model.devnetDefault.validationThresholdPpm
        /// Seeds the request mix and the shuffles.
        public var seed: UInt64 = 1
        public var classes = CheatClass.allCases
        public var params = ValidationParams.defaults
        /// The registry's sampler kind the check runs with: `native` replays the sampler (§7.2
        /// test 3), `opaque` runs the likelihood test (test 4) as for another engine's executor.
        public var sampler = InferenceCheck.SamplerKind.native

        public init() {}
    }

    /// The cheat classes of §7.5.
    public enum CheatClass: String, Sendable, Hashable, Codable, CaseIterable {
        /// The executor runs the model with its 4-bit weights snapped to 3-bit levels.
        case coarserQuantisation = "q3"
        /// The executor runs the model without 4 of its layers.
        case removedLayers = "minus4layers"
        /// Tokens decoded by the 4-layers-removed model; the payload reports the real model's
        /// logprobs for them (teacher-forced through the real model).
        case cheapDecode = "cheap-decode"
        /// An honest generation with a few tokens replaced by the position's runner-up, reported
        /// with the real model's logprobs of the edited text and a recomputed commitment.
        case editedOutput = "edited"
        /// The real model, honestly reported, drawn with another seed than the request's.
        case wrongSeed = "wrong-seed"
    }

    public let settings: Settings
    public let modelPath: String

    public init(modelPath: String, settings: Settings) {
        self.modelPath = modelPath
        self.settings = settings
    }

    /// Runs everything; `progress` gets a line now and then during the long phases.
    public func run(progress: (String) -> Void = { _ in }) throws -> Report {
        let file = try GGUFFile(path: modelPath)
        let real = try LlamaModel(file: file)
        let engine = try Engine(real: real, file: file, settings: settings)
        let check = InferenceCheck(
            thresholds: .init(
                params: settings.params, validationThreshold: Double(settings.thresholdPpm) / 1e6,
                sampler: settings.sampler))
        let clock = ContinuousClock()
        let start = clock.now
        func elapsed() -> String { String(format: "%.0f s", (clock.now - start).seconds) }

        var requests = ValidationRequests(seed: settings.seed, maxTokens: settings.maxTokens)
        var honest: [Sample] = []
        var empty = 0
        while honest.count < settings.honest {
            let request = requests.next()
            guard let sample = try engine.honest(request, check: check) else {
                empty += 1
                continue
            }
            honest.append(sample)
            if !sample.verdict.passed || sample.verdict.samplerMisses > 1 {
                progress("honest pair \(honest.count): \(try engine.diagnose(sample, request))")
            }
            if honest.count % 100 == 0 { progress("honest \(honest.count)/\(settings.honest), \(elapsed())") }
        }
        var cheats: [CheatClass: [Sample]] = [:]
        for cls in settings.cheats > 0 ? settings.classes : [] {
            var requests = ValidationRequests(seed: settings.seed &+ 1, maxTokens: settings.maxTokens)
            var samples: [Sample] = []
            while samples.count < settings.cheats {
                guard let sample = try engine.cheat(cls, requests.next(), check: check) else { continue }
                samples.append(sample)
                if samples.count % 50 == 0 {
                    progress("\(cls.rawValue) \(samples.count)/\(settings.cheats), \(elapsed())")
                }
            }
            cheats[cls] = samples
        }
        let cost = settings.costInferences > 0 ? try engine.cost(settings.costInferences, check: check) : nil
        var report = try Report(settings: settings, honest: honest, emptyOutputs: empty, cheats: cheats, cost: cost)
        report.model = modelPath
        return report
    }

    /// One validated inference: what the check read and what it said.
    struct Sample: Sendable {
        var input: InferenceCheck.Input
        var verdict: InferenceCheck.Verdict
        var greedy: Bool
        var ambiguous: Int
        /// A cheat's output differs from the honest one for the same request (false for honest pairs).
        var altered = false
    }
}

extension ValidationBenchmark {
    /// The models and sessions of one run.
    final class Engine {
        let real: LlamaModel
        let settings: Settings
        /// The honest executor's and the cheaters' teacher-forcing session (executor threads).
        let executor: LlamaSession
        /// The validator's session (validator threads).
        let validator: LlamaSession
        /// Cheat models, made on first use.
        private var cheatSessions: [String: LlamaSession] = [:]
        private let file: GGUFFile
        private var editStream: PhiloxStream
        static let capacity = 512

        init(real: LlamaModel, file: GGUFFile, settings: Settings) throws {
            self.real = real
            self.file = file
            self.settings = settings
            executor = LlamaSession(model: real, capacity: Self.capacity, threads: settings.executorThreads)
            validator = LlamaSession(model: real, capacity: Self.capacity, threads: settings.validatorThreads)
            editStream = PhiloxStream(seedString: "gonka/bench/validation/edits/\(settings.seed)")
        }

        func session(_ kind: CheatModel.Kind) throws -> LlamaSession {
            if let session = cheatSessions[kind.tag] { return session }
            let model = try CheatModel.model(kind, from: file)
            let session = LlamaSession(model: model, capacity: Self.capacity, threads: settings.executorThreads)
            cheatSessions[kind.tag] = session
            return session
        }

        func prompt(_ request: ValidationRequests.Request) -> [Int] {
            real.tokenizer.encode(ChatTemplate.render(request.messages))
        }

        /// An honest pair; nil when the model ended the turn before any token.
        func honest(_ request: ValidationRequests.Request, check: InferenceCheck) throws -> Sample? {
            let prompt = prompt(request)
            let generation = try executor.generate(prompt: prompt, parameters: request.parameters)
            guard !generation.tokens.isEmpty else { return nil }
            return try validate(prompt: prompt, reported: generation.logprobs, request: request, check: check)
        }

        /// What an honest pair with misses looked like: its sampling, length, verdict, and its
        /// misses if `sampler_margin` were wider (the pair rescored at 2, 5 and 10 × 10⁻³).
        func diagnose(_ sample: Sample, _ request: ValidationRequests.Request) throws -> String {
            let p = request.parameters
            let prompt = prompt(request)
            let completion = sample.input.validator.map { Int($0.forcedToken) }
            var wider: [String] = []
            for margin in [2e-3, 5e-3, 1e-2] {
                let scored = try validator.score(
                    prompt: prompt, completion: completion, top: 5, replay: SamplerReplay(parameters: p, margin: margin)
                )
                let misses = zip(scored, completion).count { s, token in
                    guard let d = s.draw else { return false }
                    return d.drawn != token && !d.ambiguous
                }
                wider.append("\(margin): \(misses)")
            }
            return "N \(completion.count), T \(p.temperature) top_k \(p.topK) top_p \(p.topP) min_p \(p.minP), "
                + "passed \(sample.verdict.passed) reason \(sample.verdict.reason?.rawValue ?? "-"), "
                + "misses \(sample.verdict.samplerMisses), misses with a wider margin \(wider.joined(separator: ", "))"
        }

        /// One cheater's inference of `request`; nil when its output is empty.
        func cheat(_ cls: CheatClass, _ request: ValidationRequests.Request, check: InferenceCheck) throws -> Sample? {
            let prompt = prompt(request)
            let reported: [TokenLogprob]
            switch cls {
            case .coarserQuantisation, .removedLayers:
                let kind: CheatModel.Kind =
                    cls == .coarserQuantisation ? .coarserQuantisation(bits: 3) : .removedLayers(count: 4)
                reported = try session(kind).generate(prompt: prompt, parameters: request.parameters).logprobs
            case .cheapDecode:
                let cheap = try session(.removedLayers(count: 4)).generate(
                    prompt: prompt, parameters: request.parameters)
                guard !cheap.tokens.isEmpty else { return nil }
                reported = try executor.score(prompt: prompt, completion: cheap.tokens, top: 5)
            case .editedOutput:
                let honest = try executor.generate(prompt: prompt, parameters: request.parameters)
                guard !honest.tokens.isEmpty else { return nil }
                reported = try executor.score(prompt: prompt, completion: edit(honest), top: 5)
            case .wrongSeed:
                var parameters = request.parameters
                parameters.seed &+= 1
                reported = try executor.generate(prompt: prompt, parameters: parameters).logprobs
            }
            guard !reported.isEmpty else { return nil }
            var sample = try validate(prompt: prompt, reported: reported, request: request, check: check)
            let honest = try executor.generate(prompt: prompt, parameters: request.parameters).tokens
            sample.altered = reported.map(\.token) != honest
            return sample
        }

        /// `generation`'s tokens with max(2, ⌈N/10⌉) of them (all of a 1-token output) replaced by
        /// the position's most likely other alternative: the most plausible edit, the hardest to see.
        func edit(_ generation: Generation) -> [Int] {
            var tokens = generation.tokens
            let n = tokens.count
            let edits = min(n, max(2, (n + 9) / 10))
            var positions = Array(0..<n)
            for i in 0..<edits {
                positions.swapAt(i, i + Int(editStream.nextUInt32() % UInt32(n - i)))
                let p = positions[i]
                let stop = Set([real.tokenizer.endOfTurn, real.tokenizer.endOfText, tokens[p]])
                tokens[p] =
                    generation.logprobs[p].top.first { !stop.contains($0.token) }?.token
                    ?? (tokens[p] + 1) % real.config.vocabularySize
            }
            return tokens
        }

        /// The validator's side: the executor's payload (real encoding and commitment), the
        /// validator's teacher-forced scores with the replay, and the check.
        func validate(
            prompt: [Int], reported: [TokenLogprob], request: ValidationRequests.Request, check: InferenceCheck
        ) throws -> Sample {
            let input = try ValidationBenchmark.input(
                prompt: prompt, reported: reported, request: request, validator: validator,
                margin: Double(settings.params.samplerMarginPpm) / 1e6, replay: settings.sampler == .native)
            let verdict = try check.evaluate(input.input)
            return Sample(input: input.input, verdict: verdict, greedy: request.isGreedy, ambiguous: input.ambiguous)
        }

        /// Mean process CPU time of generating and of validating `count` inferences of ≥ 64 tokens,
        /// both on one thread (so CPU time is the work, not the spinning of idle helpers).
        func cost(_ count: Int, check: InferenceCheck) throws -> CostReport {
            let executor = LlamaSession(model: real, capacity: Self.capacity, threads: 1)
            let validator = LlamaSession(model: real, capacity: Self.capacity, threads: 1)
            var requests = ValidationRequests(seed: settings.seed &+ 2, maxTokens: 96)
            var generate: [Double] = []
            var validate: [Double] = []
            var scoreOnly: [Double] = []
            var tokens: [Int] = []
            var tries = 0
            while generate.count < count && tries < count * 20 {
                tries += 1
                var request = requests.next()
                if request.isGreedy { continue }  // greedy outputs repeat and end early; cost is the same
                request.parameters.maxTokens = 96
                let prompt = prompt(request)
                let t0 = CPUTime.now()
                let generation = try executor.generate(prompt: prompt, parameters: request.parameters)
                let t1 = CPUTime.now()
                guard generation.tokens.count >= 64 else { continue }
                let input = try ValidationBenchmark.input(
                    prompt: prompt, reported: generation.logprobs, request: request, validator: validator,
                    margin: Double(settings.params.samplerMarginPpm) / 1e6, replay: settings.sampler == .native)
                _ = try check.evaluate(input.input)
                let t2 = CPUTime.now()
                _ = try validator.score(prompt: prompt, completion: generation.tokens, top: 5)
                let t3 = CPUTime.now()
                generate.append(t1 - t0)
                validate.append(t2 - t1)
                scoreOnly.append(t3 - t2)
                tokens.append(generation.tokens.count)
            }
            guard !generate.isEmpty else { throw BenchmarkError("no request produced ≥ 64 tokens in \(tries) tries") }
            func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
            return CostReport(
                inferences: generate.count, meanOutputTokens: Double(tokens.reduce(0, +)) / Double(tokens.count),
                generateMs: mean(generate) * 1e3, validateMs: mean(validate) * 1e3,
                scoreWithoutReplayMs: mean(scoreOnly) * 1e3,
                ratio: mean(validate) / mean(generate))
        }
    }

    /// The check's input for `reported` (the executor's positions, in payload order) of `request`,
    /// scored by `validator` with the replay of the request's sampling (none with `replay: false`,
    /// an opaque engine's check); and the number of positions the replay called ambiguous.
    static func input(
        prompt: [Int], reported: [TokenLogprob], request: ValidationRequests.Request, validator: LlamaSession,
        margin: Double, replay: Bool = true
    ) throws -> (input: InferenceCheck.Input, ambiguous: Int) {
        let completion = reported.map(\.token)
        let scored = try validator.score(
            prompt: prompt, completion: completion, top: 5,
            replay: replay ? SamplerReplay(parameters: request.parameters, margin: margin) : nil)
        let payload = InferencePayload(
            inferenceID: "bench", executor: "bench", model: "bench", request: Array("\(request)".utf8),
            promptTokens: UInt64(prompt.count), completionTokens: UInt64(completion.count), finishReason: "stop",
            tokens: reported.map { entry in
                InferencePayload.Token(
                    token: UInt32(entry.token), logprob: entry.logprob,
                    top: entry.top.map { .init(token: UInt32($0.token), logprob: $0.logprob) })
            })
        let positions = payload.tokens.map { token in
            InferenceCheck.ExecutorPosition(
                token: token.token, logprob: Double(token.logprob),
                top: token.top.map { InferenceCheck.TokenLogprob(token: $0.token, logprob: Double($0.logprob)) })
        }
        let p = request.parameters
        let input = InferenceCheck.Input(
            payload: .init(bytes: payload.encoded, positions: positions), responseCommitment: payload.commitment,
            completionTokens: UInt64(completion.count), validator: scored.map(validatorPosition),
            sampling: .init(
                temperature: Double(p.temperature), topK: p.topK, topP: Double(p.topP), minP: Double(p.minP)))
        return (input, scored.count { $0.draw?.ambiguous == true })
    }

    /// A scored position as the check reads it (the API node's `MLScoring` does the same for the
    /// answers of its ML nodes).
    static func validatorPosition(_ s: ScoredToken) -> InferenceCheck.ValidatorPosition {
        InferenceCheck.ValidatorPosition(
            forcedToken: UInt32(s.logprob.token), forcedLogprob: Double(s.logprob.logprob),
            top: s.logprob.top.map {
                InferenceCheck.TokenLogprob(token: UInt32($0.token), logprob: Double($0.logprob))
            },
            sampler: s.draw.map {
                InferenceCheck.SamplerVerdict(
                    drawn: UInt32($0.drawn), ambiguous: $0.ambiguous, outsideSupport: $0.outsideSupport)
            })
    }
}

/// The process's CPU time (user + system, all threads), in seconds: POSIX `clock()`, whose
/// `CLOCKS_PER_SEC` is 10⁶ on every XSI system.
enum CPUTime {
    static func now() -> Double { Double(clock()) / 1e6 }
}
