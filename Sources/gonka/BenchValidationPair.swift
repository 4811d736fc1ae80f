import Benchmarks
import Foundation
import GonkaCore
import Inference
import Ledger
import MLNode
import Verification

/// `gonka bench validation --pair native,ENGINE --upstream URL` (issue 21, PROTOCOL §7.5): the honest
/// cross-engine noise of §7.2's check between this engine (in process) and another one behind an ML
/// node at URL (`gonka mlnode start --backend openai` in front of llama.cpp's server or vLLM), in
/// both directions, as the check runs for a model registered `sampler: opaque`:
///
/// * **remote → native**: the remote node generates (`/v1/completions` with logprobs), this engine
///   scores the output teacher-forced, as a native validator's ML node would;
/// * **native → remote**: this engine generates, the remote node scores (`/v1/score`).
///
/// Per direction: the distance spread, the likelihood z, argmax misses of greedy requests with the
/// largest probability gap among them (what `opaque_margin` must cover), and the failures at the
/// given threshold and margin. With `--cheat-upstream` (the same engine serving a coarser-quantised
/// copy), the share of its inferences the native validator fails.
struct ValidationPairRun {
    let modelPath: String
    let upstream: String
    let cheatUpstream: String?
    let pairs: Int
    let cheats: Int
    let maxTokens: Int
    let thresholdPpm: UInt64
    let params: ValidationParams
    let seed: UInt64
    let threads: Int

    /// One direction's honest measurements.
    struct Direction {
        var name: String
        var distances: [Double] = []
        var zs: [Double] = []
        var argmaxMisses = 0
        var largestMissGap = 0.0
        var largestLogprobGap = 0.0
        var tokens = 0
        var failures: [String: Int] = [:]
        var inferences = 0
        /// Requests the remote node could not answer (e.g. llama-server withholding a split UTF-8
        /// token, docs/HOSTING.md): not judged, counted.
        var upstreamErrors: [String] = []

        mutating func add(
            _ verdict: InferenceCheck.Verdict, executor: [InferenceCheck.ExecutorPosition],
            validator: [InferenceCheck.ValidatorPosition], greedy: Bool
        ) {
            inferences += 1
            tokens += executor.count
            distances.append(Double(verdict.distancePpm))
            if let z = verdict.likelihoodZ { zs.append(z) }
            if let reason = verdict.reason { failures[reason.rawValue, default: 0] += 1 }
            for (e, v) in zip(executor, validator) {
                largestLogprobGap = max(largestLogprobGap, abs(e.logprob - v.forcedLogprob))
                guard greedy else { continue }
                let best = InferenceCheck.sortedByLikelihood(
                    v.top + [InferenceCheck.TokenLogprob(token: v.forcedToken, logprob: v.forcedLogprob)])[0]
                if best.token != e.token {
                    argmaxMisses += 1
                    largestMissGap = max(largestMissGap, exp(best.logprob) - exp(v.forcedLogprob))
                }
            }
        }

        var lines: [String] {
            let d = distances.sorted()
            func at(_ q: Double) -> Double {
                d.isEmpty ? 0 : d[min(d.count - 1, Int((q * Double(d.count)).rounded(.up)) - 1)]
            }
            let failed = failures.values.reduce(0, +)
            return [
                "\(name): \(inferences) inferences, \(tokens) tokens",
                String(
                    format: "  distance_ppm p50 %.0f, p99 %.0f, max %.0f; largest |Δlogprob| of an emitted token %.3f",
                    at(0.5), at(0.99), d.last ?? 0, largestLogprobGap),
                "  greedy argmax misses \(argmaxMisses), largest probability gap among them "
                    + String(format: "%.3f", largestMissGap)
                    + (zs.isEmpty ? "" : String(format: "; likelihood z min %.2f", zs.min() ?? 0)),
                "  remote errors \(upstreamErrors.count)"
                    + (upstreamErrors.first.map { " (first: \($0.prefix(160)))" } ?? ""),
                "  failures \(failed)/\(inferences)"
                    + (failures.isEmpty
                        ? ""
                        : " ("
                            + failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                            .joined(separator: ", ") + ")"),
            ]
        }
    }

    func run(progress: (String) -> Void) async throws -> [String] {
        let model = try LlamaModel(file: try GGUFFile(path: modelPath))
        let session = LlamaSession(model: model, capacity: 1024, threads: threads)
        let node = MLNodeCommand.NodeClient(base: upstream)
        let models = try await node.getJSON("/v1/models", as: MLNodeCommand.ModelList.self)
        guard let id = models.data.first?.id else { throw CLIError("\(upstream)/v1/models lists no model") }
        let check = InferenceCheck(
            thresholds: .init(params: params, validationThreshold: Double(thresholdPpm) / 1e6, sampler: .opaque))
        var remoteToNative = Direction(name: "remote → native (the remote node executes, this engine validates)")
        var nativeToRemote = Direction(name: "native → remote (this engine executes, the remote node validates)")
        var requests = ValidationRequests(seed: seed, maxTokens: maxTokens)
        var done = 0
        while done < pairs {
            let request = requests.next()
            if !request.parameters.adjustments.isEmpty || request.parameters.grammar != nil { continue }
            let prompt = model.tokenizer.encode(ChatTemplate.render(request.messages), parseSpecial: true)
            let sampling = Self.sampling(request.parameters)
            // remote → native
            var executed: [InferenceCheck.ExecutorPosition] = []
            do {
                executed = try await Self.remoteGenerate(node, id: id, prompt: prompt, parameters: request.parameters)
            } catch {
                remoteToNative.upstreamErrors.append("\(error)")
            }
            if !executed.isEmpty {
                let scores = try MLNodeCommand.Check.nativeScores(
                    session, prompt: prompt, completion: executed.map { Int($0.token) })
                let verdict = try check.evaluate(
                    MLNodeCommand.Check.input(executor: executed, scores: scores, sampling: sampling))
                remoteToNative.add(verdict, executor: executed, validator: scores, greedy: request.isGreedy)
            }
            // native → remote
            var parameters = request.parameters
            parameters.topLogprobs = 5
            let generation = try session.generate(prompt: prompt, parameters: parameters)
            if !generation.tokens.isEmpty {
                let positions = generation.logprobs.map { entry in
                    InferenceCheck.ExecutorPosition(
                        token: UInt32(entry.token), logprob: Double(entry.logprob),
                        top: entry.top.map { .init(token: UInt32($0.token), logprob: Double($0.logprob)) })
                }
                do {
                    let scores = try await MLNodeCommand.Check.remoteScores(
                        node, id: id, prompt: prompt, completion: generation.tokens)
                    let verdict = try check.evaluate(
                        MLNodeCommand.Check.input(executor: positions, scores: scores, sampling: sampling))
                    nativeToRemote.add(verdict, executor: positions, validator: scores, greedy: request.isGreedy)
                } catch let error as CLIError {
                    nativeToRemote.upstreamErrors.append("\(error)")
                }
            }
            done += 1
            if done % 20 == 0 { progress("pairs \(done)/\(pairs)") }
        }
        var lines = [
            "pair native,\(upstream) (model \(id)), opaque check: validation_threshold \(thresholdPpm) ppm, "
                + "opaque_margin \(params.opaqueMarginPpm) ppm"
        ]
        lines += remoteToNative.lines + nativeToRemote.lines
        if let cheatUpstream, cheats > 0 {
            let cheatNode = MLNodeCommand.NodeClient(base: cheatUpstream)
            var caught = 0
            var total = 0
            var cheatDistances: [Double] = []
            var cheatErrors = 0
            var requests = ValidationRequests(seed: seed &+ 1, maxTokens: maxTokens)
            while total < cheats {
                let request = requests.next()
                if !request.parameters.adjustments.isEmpty || request.parameters.grammar != nil { continue }
                let prompt = model.tokenizer.encode(ChatTemplate.render(request.messages), parseSpecial: true)
                let executed: [InferenceCheck.ExecutorPosition]
                do {
                    executed = try await Self.remoteGenerate(
                        cheatNode, id: id, prompt: prompt, parameters: request.parameters)
                } catch {
                    cheatErrors += 1
                    if cheatErrors > 4 * cheats { throw error }
                    continue
                }
                guard !executed.isEmpty else { continue }
                let scores = try MLNodeCommand.Check.nativeScores(
                    session, prompt: prompt, completion: executed.map { Int($0.token) })
                let verdict = try check.evaluate(
                    MLNodeCommand.Check.input(
                        executor: executed, scores: scores, sampling: Self.sampling(request.parameters)))
                total += 1
                cheatDistances.append(Double(verdict.distancePpm))
                if !verdict.passed { caught += 1 }
            }
            let sorted = cheatDistances.sorted()
            lines.append(
                "cheat \(cheatUpstream) → native: detected \(caught)/\(total) "
                    + String(
                        format: "(%.1f%%), distance_ppm p50 %.0f, min %.0f", 100 * Double(caught) / Double(total),
                        sorted[sorted.count / 2], sorted.first ?? 0) + "; remote errors \(cheatErrors)")
        }
        return lines
    }

    static func sampling(_ p: SamplingParameters) -> InferenceCheck.Sampling {
        .init(temperature: Double(p.temperature), topK: p.topK, topP: Double(p.topP), minP: Double(p.minP))
    }

    static func remoteGenerate(
        _ node: MLNodeCommand.NodeClient, id: String, prompt: [Int], parameters p: SamplingParameters
    ) async throws -> [InferenceCheck.ExecutorPosition] {
        let body: JSONValue = .object([
            ("model", .string(id)), ("prompt", .array(prompt.map { .int(Int64($0)) })),
            ("max_tokens", .int(Int64(p.maxTokens))), ("temperature", .double(Double(p.temperature))),
            ("top_k", .int(Int64(p.topK))), ("top_p", .double(Double(p.topP))), ("min_p", .double(Double(p.minP))),
            ("seed", .int(Int64(bitPattern: p.seed))), ("logprobs", .int(5)),
            ("return_tokens_as_token_ids", .bool(true)),
        ])
        return try await node.postJSON("/v1/completions", body, as: MLNodeCommand.CompletionAnswer.self).positions()
    }
}
