import Dispatch
import Inference
import Synchronization

/// Continuous batching over one model: a loop on its own dispatch queue that, each step, runs the
/// next token of every decoding request and a chunk of each waiting prompt as one batched forward
/// pass (``LlamaBatchRunner``), then samples each request's token from its own logits row.
///
/// Requests join at the next step; one whose ``StopFlag`` is set (client gone, task cancelled)
/// leaves at the next step. Each request runs in its own slot's ``KVCache``; which request holds
/// which slot, and who waits, is the ``SlotScheduler``'s decision, so the KV memory is bounded by
/// `slots × capacity` positions. Choices of an `n > 1` request run one after the other in its slot,
/// each from the shared prompt prefill, exactly as ``LlamaSession/generate(prompt:parameters:choices:onEvent:)``.
final class BatchEngine: Sendable {
    /// Positions one request may use.
    let capacity: Int
    let model: LlamaModel
    private let core: Core
    private let inbox = Mutex(Inbox())
    /// KV-cache positions the running requests hold, after the last step (0 when idle).
    private let usedPositions = Atomic<Int>(0)
    /// Positions of all slots together.
    let totalPositions: Int
    private let queue = DispatchQueue(label: "gonka.mlnode.engine", qos: .userInitiated)

    private struct Inbox {
        var pending: [EngineRequest] = []
        /// Whether the loop is scheduled or running (it stops when nothing is left to do).
        var running = false
    }

    /// - Parameter prefixCacheBytes: memory of the ``PrefixCache`` of prompt blocks shared across
    ///   requests (0: none).
    init(model: LlamaModel, slots: Int, capacity: Int, threads: Int, planner: StepPlanner, prefixCacheBytes: Int = 0) {
        self.model = model
        self.capacity = capacity
        totalPositions = max(1, slots * capacity)
        core = Core(
            runner: LlamaBatchRunner(model: model, threads: threads),
            caches: (0..<slots).map { _ in KVCache(config: model.config, capacity: capacity) }, planner: planner,
            prefixes: prefixCacheBytes > 0 ? PrefixCache(config: model.config, budgetBytes: prefixCacheBytes) : nil)
    }

    /// Generates `choices` answers in slot `slot` (held by the caller until this returns). Throws
    /// ``InferenceError`` for a request that cannot run (400) before it joins a step, and
    /// `CancellationError` when `stop` is set before its first token.
    func generate(
        slot: Int, prompt: [Int], parameters: SamplingParameters, choices: Int, stop: StopFlag,
        onEvent: @escaping @Sendable (GenerationEvent) -> Bool
    ) async throws -> [Generation] {
        try LlamaSession.check(
            prompt: prompt, parameters: parameters, choices: choices, model: model, capacity: capacity)
        return try await withCheckedThrowingContinuation { continuation in
            let request = EngineRequest(
                model: model, slot: slot, prompt: prompt, parameters: parameters, choices: choices, stop: stop,
                onEvent: onEvent,
                continuation: continuation)
            let start = inbox.withLock { s -> Bool in
                s.pending.append(request)
                defer { s.running = true }
                return !s.running
            }
            if start { queue.async { self.loop() } }
        }
    }

    /// Steps until no request is left, taking new ones in before each step.
    private func loop() {
        var active: [EngineRequest] = []
        while true {
            let incoming = inbox.withLock { s -> [EngineRequest]? in
                if s.pending.isEmpty && active.isEmpty {
                    s.running = false
                    return nil
                }
                defer { s.pending = [] }
                return s.pending
            }
            guard let incoming else { return usedPositions.store(0, ordering: .relaxed) }
            for request in incoming { core.join(request) }
            active += incoming
            core.step(&active)
            usedPositions.store(core.positions(of: active), ordering: .relaxed)
        }
    }

    /// The share of the KV cache the running requests hold (vLLM's `kv_cache_usage_perc`, 0…1).
    var kvCacheUsage: Double { Double(usedPositions.load(ordering: .relaxed)) / Double(totalPositions) }
}

/// The loop's state. `@unchecked Sendable`: touched only by ``BatchEngine``'s loop, which runs on
/// one serial queue and at most once at a time (the `running` flag of its inbox).
private final class Core: @unchecked Sendable {
    let runner: LlamaBatchRunner
    let caches: [KVCache]
    let planner: StepPlanner
    let prefixes: PrefixCache?

    init(runner: LlamaBatchRunner, caches: [KVCache], planner: StepPlanner, prefixes: PrefixCache?) {
        self.runner = runner
        self.caches = caches
        self.planner = planner
        self.prefixes = prefixes
    }

    /// KV-cache positions `active` hold.
    func positions(of active: [EngineRequest]) -> Int { active.reduce(0) { $0 + caches[$1.slot].count } }

    /// A request taking its slot: the slot's cache starts with the longest cached prefix of its prompt.
    func join(_ request: EngineRequest) {
        let cache = caches[request.slot]
        cache.reset()
        request.prefilled = prefixes?.restore(request.prompt, into: cache) ?? 0
        request.cachedTokens = request.prefilled
    }

    /// One step over `active` (arrival order); finished requests are answered and removed.
    func step(_ active: inout [EngineRequest]) {
        for request in active where request.stop.isSet { request.cancel() }
        active.removeAll { $0.isAnswered }
        guard !active.isEmpty else { return }
        let needs: [StepPlanner.Need] = active.map { r in
            r.pending != nil ? .decode : .prefill(remaining: r.prompt.count - r.prefilled)
        }
        let counts = planner.plan(needs)
        var included: [EngineRequest] = []
        var entries: [LlamaBatchRunner.Entry] = []
        for (request, count) in zip(active, counts) where count > 0 {
            let cache = caches[request.slot]
            if let token = request.pending {
                entries.append(.init(cache: cache, ids: [token]))
            } else {
                let end = request.prefilled + count
                let chunk = Array(request.prompt[request.prefilled..<end])
                // Only the prompt's last position has logits anyone reads.
                entries.append(.init(cache: cache, ids: chunk, logitsFrom: end == request.prompt.count ? nil : count))
                request.prefilled = end
            }
            included.append(request)
        }
        do {
            try runner.run(entries) { entry, _, logits in included[entry].take(logits) }
        } catch {
            for request in included { request.fail(error) }
            active.removeAll { $0.isAnswered }
            return
        }
        // Prompts completed by this step give their blocks to the prefix cache (a next choice's
        // truncation keeps the prompt's rows, so storing after it would do as well).
        for request in included where !request.stored && request.prefilled == request.prompt.count {
            request.stored = true
            prefixes?.store(request.prompt, from: caches[request.slot])
        }
        for request in included where !request.isAnswered {
            request.startNextChoiceIfDue(cache: caches[request.slot])
        }
        active.removeAll { $0.isAnswered }
    }
}

/// One generation request inside the loop. `@unchecked Sendable`: created by the caller, then
/// touched only by the loop (handed over through the inbox's lock).
private final class EngineRequest: @unchecked Sendable {
    let model: LlamaModel
    let slot: Int
    let prompt: [Int]
    let parameters: SamplingParameters
    let choices: Int
    let stop: StopFlag
    let onEvent: @Sendable (GenerationEvent) -> Bool
    private var continuation: CheckedContinuation<[Generation], any Error>?

    /// Prompt positions in the cache.
    var prefilled = 0
    /// Prompt positions restored from the prefix cache.
    var cachedTokens = 0
    /// Whether the prompt's blocks went to the prefix cache.
    var stored = false
    /// The token to evaluate next step (nil while prefilling or when a choice just ended).
    var pending: Int?
    private var promptLogits: [Float] = []
    private var choice = 0
    private var decoder: ChoiceDecoder?
    private var generations: [Generation] = []
    /// The current choice ended and another follows (started after the step: it truncates the cache).
    private var nextChoiceDue = false

    init(
        model: LlamaModel, slot: Int, prompt: [Int], parameters: SamplingParameters, choices: Int, stop: StopFlag,
        onEvent: @escaping @Sendable (GenerationEvent) -> Bool,
        continuation: CheckedContinuation<[Generation], any Error>
    ) {
        self.model = model
        self.slot = slot
        self.prompt = prompt
        self.parameters = parameters
        self.choices = choices
        self.stop = stop
        self.onEvent = onEvent
        self.continuation = continuation
    }

    var isAnswered: Bool { continuation == nil }

    /// This request's logits row of the step: after the prompt's last position, or after `pending`.
    func take(_ logits: UnsafeBufferPointer<Float>) {
        if decoder == nil {
            promptLogits = Array(logits)
            decoder = makeDecoder()
        }
        pending = nil
        advance(decoder!.accept(logits))
    }

    /// Starts the next choice from the prompt's logits when the last one ended.
    func startNextChoiceIfDue(cache: KVCache) {
        while nextChoiceDue && !isAnswered {
            nextChoiceDue = false
            cache.truncate(to: prompt.count)
            choice += 1
            decoder = makeDecoder()
            let step = promptLogits.withUnsafeBufferPointer { decoder!.accept($0) }
            advance(step)
        }
    }

    /// The client is gone: the current choice ends as cancelled (or the request, before its first token).
    func cancel() {
        guard let decoder else { return fail(CancellationError()) }
        finishChoice(decoder.generation(.cancelled))
    }

    func fail(_ error: any Error) {
        continuation?.resume(throwing: error)
        continuation = nil
    }

    private func makeDecoder() -> ChoiceDecoder {
        var p = parameters
        p.choice = choice
        return ChoiceDecoder(model: model, prompt: prompt, parameters: p)
    }

    private func advance(_ step: ChoiceDecoder.Step) {
        guard let decoder else { return }
        switch step {
        case .end(let reason):
            finishChoice(decoder.generation(reason))
        case .token(let token, let done):
            if !(!stop.isSet && onEvent(.token(choice: choice, token)) && !stop.isSet) {
                finishChoice(decoder.generation(.cancelled))
            } else if let done {
                finishChoice(decoder.generation(done))
            } else {
                pending = token.id
            }
        }
    }

    private func finishChoice(_ generation: Generation) {
        var generation = generation
        generation.cachedTokens = cachedTokens
        generations.append(generation)
        pending = nil
        _ = onEvent(.finished(choice: choice, generation))
        if generation.finishReason == .cancelled || choice + 1 == choices {
            continuation?.resume(returning: generations)
            continuation = nil
        } else {
            nextChoiceDue = true
        }
    }
}
