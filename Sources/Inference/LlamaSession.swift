import Tensor

/// One sequence's computation over a ``LlamaModel``: a ``KVCache`` and a ``LlamaBatchRunner`` (its
/// scratch buffers and thread pool) running batches of that one sequence.
/// Not thread-safe; give each concurrent request its own session (the model is shared), or run
/// many sequences in one batch with a ``LlamaBatchRunner``.
public final class LlamaSession {
    public let model: LlamaModel
    public let runner: LlamaBatchRunner
    public let cache: KVCache
    /// Positions the cache holds.
    public var capacity: Int { cache.capacity }
    /// Positions now in the cache.
    public var count: Int { cache.count }
    public var pool: ThreadPool { runner.pool }

    /// A session with room for `capacity` positions (at most the model's context) on `threads` threads.
    public init(model: LlamaModel, capacity: Int? = nil, threads: Int = 1) {
        self.model = model
        let c = model.config
        cache = KVCache(config: c, capacity: max(1, min(capacity ?? min(c.contextLength, 4096), c.contextLength)))
        runner = LlamaBatchRunner(model: model, threads: threads)
    }

    /// Forgets every cached position.
    public func reset() { cache.reset() }

    /// Drops cached positions after the first `keeping`.
    public func truncate(to keeping: Int) { cache.truncate(to: keeping) }

    /// Checks that every id is in the vocabulary.
    public func validate(_ ids: [Int]) throws {
        let size = model.config.vocabularySize
        for (position, id) in ids.enumerated() where id < 0 || id >= size {
            throw InferenceError.tokenOutOfVocabulary(id: id, position: position, vocabularySize: size)
        }
    }

    /// Runs `ids` at the next positions (one batch) and hands `logits` the logits of each batch
    /// position in `logitsFrom..<ids.count` (default: the last), numbered from 0, in order.
    public func evaluate(
        _ ids: [Int], logitsFrom: Int? = nil, logits: (Int, UnsafeBufferPointer<Float>) throws -> Void
    ) throws {
        try validate(ids)
        guard !ids.isEmpty else { throw InferenceError.emptyInput("token batch") }
        guard count + ids.count <= capacity else {
            throw InferenceError.contextOverflow(need: count + ids.count, limit: capacity)
        }
        let entry = LlamaBatchRunner.Entry(cache: cache, ids: ids, logitsFrom: logitsFrom)
        // The runner numbers rows within the chunk; callers here count from `logitsFrom`.
        try runner.run([entry]) { _, row, values in try logits(row - entry.logitsFrom, values) }
    }

    /// Runs `ids` at the next positions (one batch) and returns the logits of the batch positions
    /// `logitsFrom..<ids.count`, `vocabularySize` floats each, in order.
    public func evaluate(_ ids: [Int], logitsFrom: Int? = nil) throws -> [Float] {
        var result: [Float] = []
        try evaluate(ids, logitsFrom: logitsFrom) { _, row in result.append(contentsOf: row) }
        return result
    }
}
