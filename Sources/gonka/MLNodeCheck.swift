import ArgumentParser
import AsyncHTTPClient
import Foundation
import GonkaCore
import Inference
import Ledger
import MLNode
import NIOCore
import NIOHTTP1
import Verification

extension MLNodeCommand {
    /// `gonka mlnode check URL`: what a validator would say of an ML node's inferences, before it
    /// joins.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an ML node (native or fronting llama.cpp/vLLM) the way validators will check it.",
            discussion: """
                Runs a few completions with logprobs on the node at URL (one greedy, the others sampled with a seed, --temperature and --top-k), then checks each twice with the validator's own check (PROTOCOL §7.2: the distance test and, as for a model registered with sampler opaque, the likelihood test):
                  self: against the node's own /v1/score of the same tokens (does the node report the logprobs it scores?);
                  reference: against the registered weights --model scored here, in process, as a validator's native ML node would (does the node run the registered model?).
                Also checks /health and that /v1/tokenize counts tokens as the model's tokenizer does (what requesters are billed by). Prints PASS or FAIL per check and a verdict; exits 0 when every check passes, 1 otherwise.
                """)

        @Argument(help: "The ML node's base URL, e.g. http://127.0.0.1:8080.") var url: String
        @Option(
            help: "The registered model's GGUF, the reference (default: $GONKA_MODEL, else the `make model` cache).")
        var model: String?
        @Option(help: "Completions to run (the first greedy).") var requests = 4
        @Option(help: "Tokens per completion.") var maxTokens = 32
        @Option(help: "The model's validation_threshold in ppm (default: the devnet genesis model's).")
        var thresholdPpm = Genesis.Model.devnetDefault.validationThresholdPpm
        @Option(
            help:
                "sampler_margin in ppm of probability mass: near-ties within it are not argmax misses (default: genesis)."
        )
        var samplerMarginPpm = ValidationParams().samplerMarginPpm
        @Option(help: "Seed of the first sampled completion (each next one adds 1).") var seed = 1
        @Flag(help: "Every completion greedy (the sampled ones' likelihood test is exact only within one engine).")
        var greedy = false
        @Option(help: "Temperature of the sampled completions.") var temperature = 1.0
        /// 5 = the validator's top-k: the sampled distribution is then known whole at each position, so
        /// the likelihood test is exact (wider filters leave it a truncated distribution to guess from).
        @Option(help: "top_k of the sampled completions (at most 5 keeps the likelihood test exact).") var topK = 5
        @Option(help: "Threads of the reference scoring.") var threads = 1

        func validate() throws {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil
            else { throw ValidationError("URL must be http://HOST:PORT") }
            guard (1...64).contains(requests) else { throw ValidationError("--requests must be in 1…64") }
            guard (1...1024).contains(maxTokens) else { throw ValidationError("--max-tokens must be in 1…1024") }
            guard (1...1_000_000).contains(thresholdPpm) else {
                throw ValidationError("--threshold-ppm must be in 1…1000000")
            }
            guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1…256") }
            guard samplerMarginPpm <= 1_000_000 else {
                throw ValidationError("--sampler-margin-ppm must be in 0…1000000")
            }
            guard temperature.isFinite, temperature > 0, temperature <= 2 else {
                throw ValidationError("--temperature must be in (0, 2]")
            }
            guard topK >= 0 else { throw ValidationError("--top-k must be 0 (all) or positive") }
        }

        static let prompts = [
            "Write one sentence about the sea.", "Name three colours and say why you like them.",
            "Explain what a prime number is.", "Describe a cat in a few words.", "What is the capital of France?",
            "Give a short tip for learning to code.", "Tell me a fact about the Moon.", "Why is the sky blue?",
        ]

        func run() async throws {
            let path = ModelCache.resolve(model)
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError("model file \(path) does not exist (run `make model`, or pass --model)")
            }
            let node = NodeClient(base: url.hasSuffix("/") ? String(url.dropLast()) : url)
            var failures = 0
            func report(_ name: String, _ passed: Bool, _ detail: String) {
                if !passed { failures += 1 }
                say("\(passed ? "PASS" : "FAIL")  \(name): \(detail)")
            }

            let (healthStatus, healthBody) = try await node.get("/health")
            report("health", healthStatus == 200, "HTTP \(healthStatus) \(String(decoding: healthBody, as: UTF8.self))")
            let models = try await node.getJSON("/v1/models", as: ModelList.self)
            guard let id = models.data.first?.id else { throw CLIError("\(url)/v1/models lists no model") }

            say("reference: \(path) (scored here, as a validator's native ML node would)")
            let reference = try LlamaModel(file: try GGUFFile(path: path))
            let session = LlamaSession(model: reference, threads: threads)
            let tokenizer = reference.tokenizer

            let sample = "Tokens are what requesters pay for: 12 apples, naïve café. <|im_end|>"
            let counted = try await node.postJSON(
                "/v1/tokenize", JSONValue.object([("model", .string(id)), ("prompt", .string(sample))]),
                as: TokenizeAnswer.self)
            let local = tokenizer.encode(sample, parseSpecial: true)
            report(
                "tokenizer", counted.tokens == local,
                "the node counts \(counted.tokens.count) tokens, the model's tokenizer \(local.count)")

            var params = ValidationParams()
            params.samplerMarginPpm = samplerMarginPpm
            let thresholds = InferenceCheck.Thresholds(
                params: params, validationThreshold: Double(thresholdPpm) / 1e6, sampler: .opaque)
            let check = InferenceCheck(thresholds: thresholds)
            for k in 0..<requests {
                do {
                    try await checkCompletion(
                        k, node: node, id: id, session: session, tokenizer: tokenizer, check: check, report: report)
                } catch {
                    report("completion \(k + 1)", false, "\(error)")
                }
            }
            say(failures == 0 ? "verdict: PASS" : "verdict: FAIL (\(failures) check(s) failed)")
            if failures > 0 { throw ExitCode(1) }
        }

        /// Completion `k` on the node, checked against the node's own score and the reference's.
        func checkCompletion(
            _ k: Int, node: NodeClient, id: String, session: LlamaSession, tokenizer: Tokenizer,
            check: InferenceCheck, report: (String, Bool, String) -> Void
        ) async throws {
            let prompt = tokenizer.encode(
                ChatTemplate.render([ChatMessage(role: "user", content: Self.prompts[k % Self.prompts.count])]),
                parseSpecial: true)
            let sampling =
                k == 0 || greedy
                ? InferenceCheck.Sampling.greedy : InferenceCheck.Sampling(temperature: temperature, topK: topK)
            let body: JSONValue = .object([
                ("model", .string(id)), ("prompt", .array(prompt.map { .int(Int64($0)) })),
                ("max_tokens", .int(Int64(maxTokens))), ("temperature", .double(sampling.temperature)),
                ("top_k", .int(Int64(sampling.topK))),
                ("seed", .int(Int64(seed + k))), ("logprobs", .int(5)),
                ("return_tokens_as_token_ids", .bool(true)),
            ])
            let answer = try await node.postJSON("/v1/completions", body, as: CompletionAnswer.self)
            let executor = try answer.positions()
            let name =
                "completion \(k + 1) (\(sampling.temperature == 0 ? "greedy" : "seed \(seed + k)"), \(executor.count) tokens)"
            guard !executor.isEmpty else {
                report(name, false, "the node generated no token")
                return
            }
            let completion = executor.map { Int($0.token) }
            let own = try await Self.remoteScores(node, id: id, prompt: prompt, completion: completion)
            let validator = try Self.nativeScores(session, prompt: prompt, completion: completion)
            for (label, scores) in [("self", own), ("reference", validator)] {
                let verdict: InferenceCheck.Verdict
                do {
                    verdict = try check.evaluate(Self.input(executor: executor, scores: scores, sampling: sampling))
                } catch {
                    report("\(name) \(label)", false, "the scores do not fit the output: \(error)")
                    continue
                }
                let maxGap = zip(executor, scores).map { abs($0.logprob - $1.forcedLogprob) }.max() ?? 0
                report(
                    "\(name) \(label)", verdict.passed,
                    "distance \(verdict.distancePpm) ppm (threshold \(thresholdPpm)), max |Δlogprob| "
                        + String(format: "%.4f", maxGap) + ", logprob mismatches \(verdict.logprobMismatches)"
                        + (verdict.likelihoodZ.map { String(format: ", z %.2f", $0) } ?? "")
                        + ", argmax misses \(verdict.samplerMisses), impossible \(verdict.impossibleTokens)"
                        + (verdict.reason.map { " → \($0.rawValue)" } ?? ""))
            }
        }

        /// The node's `/v1/score` of `completion` (top 5, no replay) as the check reads a validator's scores.
        static func remoteScores(
            _ node: NodeClient, id: String, prompt: [Int], completion: [Int]
        ) async throws -> [InferenceCheck.ValidatorPosition] {
            let scored = try await node.postJSON(
                "/v1/score",
                ScoreWire.Request(
                    model: id, promptTokens: prompt, completionTokens: completion, topLogprobs: 5, sampling: nil,
                    samplerMargin: nil), as: ScoreWire.Response.self)
            return scored.positions.map {
                InferenceCheck.ValidatorPosition(
                    forcedToken: UInt32($0.token), forcedLogprob: Double($0.logprob),
                    top: $0.topLogprobs.map { .init(token: UInt32($0.token), logprob: Double($0.logprob)) })
            }
        }

        /// This engine's teacher-forced score of `completion` (top 5), as a native validator's ML node gives it.
        static func nativeScores(
            _ session: LlamaSession, prompt: [Int], completion: [Int]
        ) throws -> [InferenceCheck.ValidatorPosition] {
            try session.score(prompt: prompt, completion: completion, top: 5).map {
                InferenceCheck.ValidatorPosition(
                    forcedToken: UInt32($0.token), forcedLogprob: Double($0.logprob),
                    top: $0.top.map { .init(token: UInt32($0.token), logprob: Double($0.logprob)) })
            }
        }

        /// The check's input for an output and a validator's scores of it: the payload is the output
        /// itself (its commitment computed here), so test 1 holds and tests 2 and 4 decide.
        static func input(
            executor: [InferenceCheck.ExecutorPosition], scores: [InferenceCheck.ValidatorPosition],
            sampling: InferenceCheck.Sampling
        ) -> InferenceCheck.Input {
            var bytes: [UInt8] = []
            for position in executor {
                bytes += Array("\(position.token):\(position.logprob);".utf8)
            }
            return InferenceCheck.Input(
                payload: .init(bytes: bytes, positions: executor), responseCommitment: Hash.sha256(parts: [bytes]),
                completionTokens: UInt64(executor.count), validator: scores, sampling: sampling)
        }
    }

    struct ModelList: Decodable {
        var data: [Entry]
        struct Entry: Decodable { var id: String }
    }

    struct TokenizeAnswer: Decodable { var tokens: [Int] }

    /// A `/v1/completions` answer with `logprobs` and `return_tokens_as_token_ids`.
    struct CompletionAnswer: Decodable {
        var choices: [Choice]
        struct Choice: Decodable { var logprobs: Logprobs? }
        struct Logprobs: Decodable {
            var tokens: [String]
            var tokenLogprobs: [Double]
            var topLogprobs: [[String: Double]]
            enum CodingKeys: String, CodingKey {
                case tokens
                case tokenLogprobs = "token_logprobs"
                case topLogprobs = "top_logprobs"
            }
        }

        /// The output as a payload reports it.
        func positions() throws -> [InferenceCheck.ExecutorPosition] {
            guard let logprobs = choices.first?.logprobs, logprobs.tokens.count == logprobs.tokenLogprobs.count,
                logprobs.tokens.count == logprobs.topLogprobs.count
            else { throw CLIError("the node's completion has no logprobs, or lists of different lengths") }
            func id(_ text: String) throws -> UInt32 {
                guard text.hasPrefix("token_id:"), let id = UInt32(text.dropFirst("token_id:".count)) else {
                    throw CLIError("the node sent the token '\(text)', not token_id:ID")
                }
                return id
            }
            return try logprobs.tokens.indices.map { i in
                InferenceCheck.ExecutorPosition(
                    token: try id(logprobs.tokens[i]), logprob: logprobs.tokenLogprobs[i],
                    top: try logprobs.topLogprobs[i].map { .init(token: try id($0.key), logprob: $0.value) })
            }
        }
    }

    /// JSON over HTTP to the checked node; any failure is a clear error naming the route.
    struct NodeClient {
        let base: String

        func get(_ path: String) async throws -> (Int, [UInt8]) {
            do {
                let response = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: base + path), timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 16 << 20)
                return (Int(response.status.code), Array(buffer: body))
            } catch {
                throw CLIError("\(base)\(path): \(error)")
            }
        }

        func getJSON<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
            let (status, body) = try await get(path)
            return try Self.decode(type, status: status, body: body, what: path)
        }

        func postJSON<T: Decodable>(_ path: String, _ value: some Encodable, as type: T.Type) async throws -> T {
            var request = HTTPClientRequest(url: base + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(value)))
            let status: Int
            let body: [UInt8]
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
                status = Int(response.status.code)
                body = Array(buffer: try await response.body.collect(upTo: 64 << 20))
            } catch {
                throw CLIError("\(base)\(path): \(error)")
            }
            return try Self.decode(type, status: status, body: body, what: path)
        }

        static func decode<T: Decodable>(_ type: T.Type, status: Int, body: [UInt8], what: String) throws -> T {
            guard status == 200 else {
                throw CLIError("\(what) answered HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))")
            }
            do {
                return try JSONDecoder().decode(T.self, from: Data(body))
            } catch {
                throw CLIError("\(what) answered JSON this check cannot read: \(error)")
            }
        }
    }
}
