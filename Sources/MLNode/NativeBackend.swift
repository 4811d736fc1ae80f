import Dispatch
import Inference
import Synchronization
import Tensor

/// The in-process backend: one shared ``LlamaModel`` (mmapped once) and `parallel` slots, each its
/// own ``LlamaSession`` (KV cache, thread pool) driven from its own serial dispatch queue, so the
/// CPU-bound forward passes never run on NIO event loops or the Swift cooperative pool.
public final class NativeBackend: MLBackend {
    public let model: LlamaModel
    public let info: MLModelInfo
    let scheduler: SlotScheduler
    private let slots: [Slot]
    /// Validation scores run here, never on a slot (``ValidationLane``).
    let validationLane: ValidationLane

    /// - Parameters:
    ///   - id: the model id clients use.
    ///   - parallel: requests computed at once (one session each).
    ///   - queue: requests that may wait for a slot; more are refused with 429.
    ///   - threads: compute threads per slot.
    ///   - contextLength: positions per request (default: the model's, at most 4096).
    public init(
        model: LlamaModel, id: String, parallel: Int = 1, queue: Int = 16, threads: Int = 1, contextLength: Int? = nil
    ) {
        self.model = model
        let parallel = max(1, parallel)
        slots = (0..<parallel).map { index in
            Slot(
                session: LlamaSession(model: model, capacity: contextLength, threads: threads),
                queue: DispatchQueue(label: "gonka.mlnode.slot.\(index)", qos: .userInitiated))
        }
        info = MLModelInfo(
            id: id, contextLength: slots[0].session.capacity, vocabularySize: model.config.vocabularySize)
        scheduler = SlotScheduler(slots: parallel, queueLimit: max(0, queue))
        validationLane = ValidationLane(model: model, capacity: slots[0].session.capacity)
    }

    deinit { validationLane.close() }

    /// Requests in the node now (running or waiting for a slot).
    public var admittedRequests: Int { scheduler.admitted }

    /// Requests holding a slot and requests waiting for one.
    public var load: MLLoad? {
        let waiting = scheduler.waiting
        return MLLoad(running: max(0, scheduler.admitted - waiting), waiting: waiting)
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

    /// Runs `body` on a free slot's queue (waiting for one first, behind live waiters if
    /// `priority` is validation) and returns its result.
    func withSlot<T: Sendable>(
        priority: MLPriority = .live, _ body: @escaping @Sendable (LlamaSession) throws -> T
    ) async throws -> T {
        let index = try await scheduler.acquire(priority: priority)
        defer { scheduler.release(index) }
        let slot = slots[index]
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async { continuation.resume(with: Result { try body(slot.session) }) }
        }
    }
}

/// A session and the queue that alone touches it.
///
/// `@unchecked Sendable`: `session` is used only from `queue`, and only by the holder of the slot
/// (``SlotScheduler`` hands each index to one request at a time).
private final class Slot: @unchecked Sendable {
    let session: LlamaSession
    let queue: DispatchQueue

    init(session: LlamaSession, queue: DispatchQueue) {
        self.session = session
        self.queue = queue
    }
}

/// A set-once flag read between tokens.
private final class StopFlag: Sendable {
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
        let stop = StopFlag()
        return try await withTaskCancellationHandler {
            try await backend.withSlot(priority: priority) { session in
                try session.generate(prompt: prompt, parameters: parameters, choices: choices) { event in
                    !stop.isSet && onEvent(event) && !stop.isSet
                }
            }
        } onCancel: {
            stop.set()
        }
    }

    func score(prompt: [Int], completion: [Int], top: Int, replay: SamplerReplay?) async throws -> [ScoredToken] {
        // Validation scores run on the low-priority lane and never hold a slot a live request
        // could need; a live caller's score (none today) would take a slot like generation.
        guard priority == .validation else {
            return try await backend.withSlot(priority: priority) { session in
                try session.score(prompt: prompt, completion: completion, top: top, replay: replay)
            }
        }
        return try await backend.validationLane.run { session in
            try session.score(prompt: prompt, completion: completion, top: top, replay: replay)
        }
    }
}
