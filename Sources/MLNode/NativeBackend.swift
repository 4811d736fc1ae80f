import Dispatch
import Inference
import Synchronization
import Tensor

/// The in-process backend: one shared ``LlamaModel`` (mmapped once), a ``BatchEngine`` that decodes
/// every running request in one batched pass per step on its own dispatch queue (so the CPU-bound
/// forward passes never run on NIO event loops or the Swift cooperative pool), and `parallel` slots
/// (each a KV cache) handed out by the ``SlotScheduler``.
public final class NativeBackend: MLBackend {
    public let model: LlamaModel
    public let info: MLModelInfo
    let scheduler: SlotScheduler
    let engine: BatchEngine
    /// Validation scores run here, never on a slot (``ValidationLane``).
    let validationLane: ValidationLane

    /// - Parameters:
    ///   - id: the model id clients use.
    ///   - parallel: requests computed at once (each with its own KV cache, decoded in one batch).
    ///   - queue: requests that may wait for a slot; more are refused with 429.
    ///   - threads: compute threads of the engine.
    ///   - contextLength: positions per request (default: the model's, at most 4096).
    ///   - kvCacheBytes: KV-cache memory of the `parallel` slots together; each slot's context is cut
    ///     to its share (``contextLength(model:parallel:contextLength:kvCacheBytes:)``).
    ///   - stepTokens: positions per batched step (decode rows plus prompt chunks).
    ///   - prefixCacheBytes: memory of the prompt-prefix cache shared by all requests (0: none).
    public init(
        model: LlamaModel, id: String, parallel: Int = 1, queue: Int = 16, threads: Int = 1, contextLength: Int? = nil,
        kvCacheBytes: Int? = nil, stepTokens: Int = 128, prefixCacheBytes: Int = 0
    ) {
        self.model = model
        let parallel = max(1, parallel)
        let capacity = Self.contextLength(
            model: model, parallel: parallel, contextLength: contextLength, kvCacheBytes: kvCacheBytes)
        engine = BatchEngine(
            model: model, slots: parallel, capacity: capacity, threads: threads,
            planner: StepPlanner(stepTokens: stepTokens), prefixCacheBytes: prefixCacheBytes)
        info = MLModelInfo(id: id, contextLength: capacity, vocabularySize: model.config.vocabularySize)
        scheduler = SlotScheduler(slots: parallel, queueLimit: max(0, queue))
        validationLane = ValidationLane(model: model, capacity: capacity)
    }

    deinit { validationLane.close() }

    /// Positions per request: `contextLength` (default: the model's context, at most 4096), cut to
    /// the slot's share of `kvCacheBytes` (``KVCache/bytesPerPosition(_:)`` each), at least 1.
    public static func contextLength(
        model: LlamaModel, parallel: Int, contextLength: Int? = nil, kvCacheBytes: Int? = nil
    ) -> Int {
        let c = model.config
        var positions = min(contextLength ?? min(c.contextLength, 4096), c.contextLength)
        if let kvCacheBytes {
            positions = min(positions, kvCacheBytes / max(1, parallel) / KVCache.bytesPerPosition(c))
        }
        return max(1, positions)
    }
    /// Requests in the node now (running or waiting for a slot).
    public var admittedRequests: Int { scheduler.admitted }

    /// Requests holding a slot and requests waiting for one.
    public var load: MLLoad? {
        let waiting = scheduler.waiting
        return MLLoad(
            running: max(0, scheduler.admitted - waiting), waiting: waiting, kvCacheUsage: engine.kvCacheUsage)
    }

    public func tokenize(_ text: String) -> [Int] { model.tokenizer.encode(text, parseSpecial: true) }

    public func detokenize(_ ids: [Int]) throws -> String {
        let size = model.config.vocabularySize
        for (position, id) in ids.enumerated() where id < 0 || id >= size {
            throw InferenceError.tokenOutOfVocabulary(id: id, position: position, vocabularySize: size)
        }
        return try model.tokenizer.decode(ids)
    }

    public func tokenBytes(_ id: Int) -> [UInt8] {
        guard id >= 0, id < model.config.vocabularySize else { return [] }
        return model.tokenizer.bytes(of: id)
    }

    public func chatPrompt(_ messages: [ChatMessage]) -> [Int] {
        tokenize(ChatTemplate.render(messages))
    }

    public func admit(priority: MLPriority) throws(MLNodeError) -> any MLAdmission {
        guard scheduler.admit(priority: priority) else {
            throw .overloaded(slots: scheduler.slots, queue: scheduler.queueLimit)
        }
        return NativeAdmission(backend: self, priority: priority)
    }
}

/// A set-once flag read between tokens.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

/// A place in a ``NativeBackend``; the place is given back when this is deallocated.
private final class NativeAdmission: MLAdmission {
    let backend: NativeBackend
    let priority: MLPriority

    init(backend: NativeBackend, priority: MLPriority) {
        self.backend = backend
        self.priority = priority
    }

    deinit { backend.scheduler.leave() }

    func generate(
        prompt: [Int], parameters: SamplingParameters, choices: Int,
        onEvent: @escaping @Sendable (GenerationEvent) -> Bool
    ) async throws -> [Generation] {
        // Refused before taking a slot: a request that can never run does not wait for one.
        try LlamaSession.check(
            prompt: prompt, parameters: parameters, choices: choices, model: backend.model,
            capacity: backend.engine.capacity)
        let slot = try await backend.scheduler.acquire(priority: priority)
        defer { backend.scheduler.release(slot) }
        let stop = StopFlag()
        return try await withTaskCancellationHandler {
            try await backend.engine.generate(
                slot: slot, prompt: prompt, parameters: parameters, choices: choices, stop: stop, onEvent: onEvent)
        } onCancel: {
            stop.set()
        }
    }

    func score(prompt: [Int], completion: [Int], top: Int, replay: SamplerReplay?) async throws -> [ScoredToken] {
        // Scores run on the low-priority lane (one position-parallel pass each) and never hold a
        // slot a live request could need.
        try await backend.validationLane.run { session in
            try session.score(prompt: prompt, completion: completion, top: top, replay: replay)
        }
    }
}
