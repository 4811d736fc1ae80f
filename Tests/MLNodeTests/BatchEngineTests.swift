import GonkaTestKit
import Inference
import Synchronization
import Testing

@testable import MLNode

/// The step planner's decisions, without a model.
@Suite struct StepPlannerTests {
    @Test func decodeRowsFirstThenPromptChunksInArrivalOrder() {
        let planner = StepPlanner(stepTokens: 64, minimumPrefill: 16)
        #expect(planner.plan([.decode, .decode, .prefill(remaining: 300), .prefill(remaining: 10)]) == [1, 1, 62, 0])
        #expect(planner.plan([.prefill(remaining: 10), .prefill(remaining: 100)]) == [10, 54])
        #expect(planner.plan([]) == [])
    }

    /// However many streams decode, a waiting prompt still advances by the minimum chunk.
    @Test func prefillAlwaysAdvances() {
        let planner = StepPlanner(stepTokens: 4, minimumPrefill: 16)
        let needs: [StepPlanner.Need] = Array(repeating: .decode, count: 6) + [.prefill(remaining: 40)]
        #expect(planner.plan(needs) == [1, 1, 1, 1, 1, 1, 16])
    }
}

/// Continuous batching: requests decoded together (and long prompts prefilled in chunks between
/// decode steps) produce what each produces alone.
@Suite(.serialized, .timeLimit(.minutes(5)), .hangGuard)
struct BatchEngineTests {
    struct Job: Sendable {
        let prompt: [Int]
        let parameters: SamplingParameters
        let choices: Int
    }

    static func jobs(_ model: LlamaModel) -> [Job] {
        let tokenizer = model.tokenizer
        let long = tokenizer.encode(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 14))
        var seeded = SamplingParameters(temperature: 0.8, maxTokens: 12)
        seeded.seed = 11
        seeded.topLogprobs = 3
        var stopping = SamplingParameters(temperature: 0, maxTokens: 24)
        stopping.stop = ["."]
        return [
            Job(
                prompt: tokenizer.encode("The sky is"), parameters: SamplingParameters(temperature: 0, maxTokens: 16),
                choices: 1),
            Job(prompt: long, parameters: SamplingParameters(temperature: 0, maxTokens: 10), choices: 1),
            Job(prompt: tokenizer.encode("Once upon a time"), parameters: seeded, choices: 2),
            Job(prompt: tokenizer.encode("My favourite food is"), parameters: stopping, choices: 1),
        ]
    }

    /// Largest |Δ logprob| over the positions two runs share.
    static func distance(_ a: [Generation], _ b: [Generation]) -> Float {
        var worst: Float = 0
        for (x, y) in zip(a, b) {
            for (p, q) in zip(x.logprobs, y.logprobs) { worst = max(worst, abs(p.logprob - q.logprob)) }
        }
        return worst
    }

    @Test func batchedRequestsMatchEachAlone() async throws {
        let model = try Fixture.loaded.get()
        let jobs = Self.jobs(model)
        let alone = try await BackgroundCompute.run {
            let session = LlamaSession(model: model, capacity: 512, threads: 1)
            return try jobs.map {
                try session.generate(prompt: $0.prompt, parameters: $0.parameters, choices: $0.choices)
            }
        }
        // Small steps, so the long prompt is prefilled in chunks while the others decode.
        let backend = NativeBackend(
            model: model, id: "m", parallel: 4, queue: 4, threads: 1, contextLength: 512, stepTokens: 24)
        let batched = try await withThrowingTaskGroup(of: (Int, [Generation]).self) { group in
            for (index, job) in jobs.enumerated() {
                let admission = try backend.admit(priority: .live)
                group.addTask {
                    let generations = try await admission.generate(
                        prompt: job.prompt, parameters: job.parameters, choices: job.choices
                    ) { _ in true }
                    return (index, generations)
                }
            }
            var results = Array(repeating: [Generation](), count: jobs.count)
            for try await (index, generations) in group { results[index] = generations }
            return results
        }
        #expect(batched.map(\.count) == jobs.map(\.choices))
        // Bit-identical: ids, text, finish reasons and every logprob (`Kernels.matMul` computes each
        // row of a multi-row call as a one-row call does, and a chunked prefill as a whole one).
        for (index, (a, b)) in zip(alone, batched).enumerated() {
            let same = a == b
            #expect(same, "job \(index): largest logprob distance \(Self.distance(a, b))")
        }
    }

    /// Issue 19's invariance check: a request's logprobs are the same bits alone on 1 thread, in a
    /// batch of 8 with seeded random neighbours on 2 threads, and re-scored by prefill (`/v1/score`).
    @Test func logprobsDoNotDependOnTheBatchThreadsOrPrefill() async throws {
        let model = try Fixture.loaded.get()
        let prompt = model.tokenizer.encode("At night the moon")
        let parameters = SamplingParameters(temperature: 0.7, maxTokens: 16, seed: 3, topLogprobs: 2)
        let alone = try await BackgroundCompute.run {
            try LlamaSession(model: model, capacity: 256, threads: 1).generate(prompt: prompt, parameters: parameters)
        }
        try #require(alone.tokens.count >= 8)
        let backend = NativeBackend(model: model, id: "m", parallel: 8, queue: 0, threads: 2, contextLength: 256)
        var rng = SplitMix64(seed: 19)
        let neighbours: [([Int], SamplingParameters)] = (0..<7).map { _ in
            let words = (0..<Int(rng.next() % 40 + 1)).map { _ in
                ["sun", "river", "stone", "light", "song"][Int(rng.next() % 5)]
            }
            let p = SamplingParameters(temperature: 1, maxTokens: Int(rng.next() % 20 + 1), seed: rng.next())
            return (model.tokenizer.encode(words.joined(separator: " ")), p)
        }
        let batched = try await withThrowingTaskGroup(of: Generation?.self) { group in
            let mine = try backend.admit(priority: .live)
            group.addTask { try await mine.generate(prompt: prompt, parameters: parameters) { _ in true } }
            for (ids, p) in neighbours {
                let admission = try backend.admit(priority: .live)
                group.addTask {
                    _ = try await admission.generate(prompt: ids, parameters: p) { _ in true }
                    return nil
                }
            }
            var result: Generation?
            for try await generation in group where generation != nil { result = generation }
            return result
        }
        #expect(batched == alone, "largest logprob distance \(Self.distance([alone], batched.map { [$0] } ?? []))")
        let rescored = try await BackgroundCompute.run {
            try LlamaSession(model: model, capacity: 256, threads: 2).score(
                prompt: prompt, completion: alone.tokens, top: 2)
        }
        #expect(rescored == alone.logprobs)
    }

    /// A request whose client stops mid-batch leaves at the next step; the others finish unchanged
    /// and its slot takes the next request.
    @Test func aStoppedRequestLeavesTheOthersUnaffected() async throws {
        let model = try Fixture.loaded.get()
        let prompt = model.tokenizer.encode("Once upon a time")
        let parameters = SamplingParameters(temperature: 0, maxTokens: 30)
        let alone = try await BackgroundCompute.run {
            try LlamaSession(model: model, capacity: 256, threads: 1).generate(prompt: prompt, parameters: parameters)
        }
        let backend = NativeBackend(model: model, id: "m", parallel: 2, queue: 2, threads: 1, contextLength: 256)
        let quitter = try backend.admit(priority: .live)
        let stayer = try backend.admit(priority: .live)
        let waiter = try backend.admit(priority: .live)
        async let stopped = quitter.generate(prompt: prompt, parameters: parameters, choices: 1) { event in
            if case .token = event { return false }
            return true
        }
        async let kept = stayer.generate(prompt: prompt, parameters: parameters, choices: 1) { _ in true }
        async let next = waiter.generate(
            prompt: prompt, parameters: SamplingParameters(temperature: 0, maxTokens: 3), choices: 1
        ) { _ in true }
        let (s, k, n) = try await (stopped, kept, next)
        #expect(s[0].finishReason == .cancelled && s[0].tokens.count == 1)
        #expect(!k[0].tokens.isEmpty && n[0].tokens.count == 3)
        let same = k == [alone]
        #expect(same, "largest logprob distance \(Self.distance(k, [alone]))")
        #expect(n[0].tokens == Array(alone.tokens.prefix(3)))
    }

    /// A cancelled task frees its slot at the next step: the queued request runs at once.
    @Test func cancellationFreesTheSlot() async throws {
        let model = try Fixture.loaded.get()
        let prompt = model.tokenizer.encode("Once upon a time")
        let backend = NativeBackend(model: model, id: "m", parallel: 1, queue: 2, threads: 1, contextLength: 512)
        let first = try backend.admit(priority: .live)
        let started = AsyncStream<Void>.makeStream()
        let long = Task {
            try await first.generate(
                prompt: prompt, parameters: SamplingParameters(temperature: 0, maxTokens: 400), choices: 1
            ) { _ in
                started.continuation.yield()
                return true
            }
        }
        var iterator = started.stream.makeAsyncIterator()
        _ = await iterator.next()
        long.cancel()
        let clock = ContinuousClock()
        let begin = clock.now
        let second = try backend.admit(priority: .live)
        let answer = try await second.generate(
            prompt: prompt, parameters: SamplingParameters(temperature: 0, maxTokens: 2), choices: 1
        ) { _ in true }
        #expect(answer[0].tokens.count == 2)
        #expect(clock.now - begin < .seconds(10))
        let cut = try await long.value
        #expect(cut[0].finishReason == .cancelled && cut[0].tokens.count < 400)
    }

    /// A prompt plus max_tokens beyond a slot's context is refused before it takes a slot; the KV
    /// budget cuts each slot's context to its share.
    @Test func oversizedRequestsAreRefusedAndTheBudgetSetsTheContext() async throws {
        let model = try Fixture.loaded.get()
        let perPosition = KVCache.bytesPerPosition(model.config)
        let backend = NativeBackend(
            model: model, id: "m", parallel: 2, queue: 0, threads: 1, kvCacheBytes: 2 * 100 * perPosition)
        #expect(backend.info.contextLength == 100)
        let admission = try backend.admit(priority: .live)
        await #expect(throws: InferenceError.contextOverflow(need: 101, limit: 100)) {
            try await admission.generate(
                prompt: Array(repeating: 1, count: 91), parameters: SamplingParameters(maxTokens: 10), choices: 1
            ) { _ in true }
        }
        #expect(backend.load == MLLoad(running: 1, waiting: 0, kvCacheUsage: 0))
    }

    /// `kv_cache_usage_perc`: the positions the running request holds over all slots' positions,
    /// read between its tokens; 0 once it is done.
    @Test func kvCacheUsageFollowsTheRunningRequests() async throws {
        let model = try Fixture.loaded.get()
        let prompt = model.tokenizer.encode("Once upon a time")
        let backend = NativeBackend(model: model, id: "m", parallel: 2, queue: 0, threads: 1, contextLength: 100)
        let seen = Mutex<[Double]>([])
        let admission = try backend.admit(priority: .live)
        let answer = try await admission.generate(
            prompt: prompt, parameters: SamplingParameters(temperature: 0, maxTokens: 6), choices: 1
        ) { event in
            guard case .token = event else { return true }
            let usage = backend.load?.kvCacheUsage ?? -1
            seen.withLock { $0.append(usage) }
            return true
        }
        #expect(answer[0].tokens.count == 6)
        // Token k (k ≥ 2) comes in the step after the one that left prompt + k - 2 positions
        // held; token 1 in the first step, before any was counted.
        let expected = (2...6).map { Double(prompt.count + $0 - 2) / 200 }
        #expect(Array(seen.withLock { $0 }.dropFirst()) == expected)
        // The loop sets 0 when it runs out of work, just after answering the last request.
        let deadline = ContinuousClock.now + .seconds(5)
        while backend.load?.kvCacheUsage != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(backend.load?.kvCacheUsage == 0)
    }

    /// A second request with the same long system prompt restores its blocks from the prefix cache,
    /// says so in `usage.prompt_tokens_details.cached_tokens`, and answers as without the cache.
    @Test func aSharedPrefixIsComputedOnce() async throws {
        let system = String(repeating: "You are a careful assistant who answers in plain words. ", count: 12)
        let bodies: [[String: any Sendable]] = ["Name a colour.", "Name a fruit."].map { question in
            [
                "messages": [["role": "system", "content": system], ["role": "user", "content": question]],
                "max_tokens": 6, "temperature": 0,
            ]
        }
        let cold = try await TestServer.with(context: 512) { server in
            try await server.post("/v1/chat/completions", json: bodies[1])
        }
        try await TestServer.with(context: 512, prefixCacheBytes: 64 << 20) { server in
            let first = try await server.post("/v1/chat/completions", json: bodies[0])
            #expect(first.status == 200, "\(first.text)")
            #expect((first.json["usage"] as? [String: Any])?["prompt_tokens_details"] == nil)
            let second = try await server.post("/v1/chat/completions", json: bodies[1])
            #expect(second.status == 200, "\(second.text)")
            let usage = try #require(second.json["usage"] as? [String: Any])
            let prompt = try #require(usage["prompt_tokens"] as? Int)
            let cached = try #require((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int)
            #expect(cached > 100 && cached < prompt && cached % 16 == 0, "cached \(cached) of \(prompt)")
            let choice = (second.json["choices"] as? [[String: Any]])?.first
            let coldChoice = (cold.json["choices"] as? [[String: Any]])?.first
            #expect(
                (choice?["message"] as? [String: Any])?["content"] as? String
                    == (coldChoice?["message"] as? [String: Any])?["content"] as? String)
        }
    }
}
