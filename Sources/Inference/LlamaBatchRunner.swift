import Tensor

/// The model runner: one forward pass over a batch of sequences, each with its own ``KVCache``.
///
/// Every sequence contributes a chunk of positions (one token when decoding, a piece of the prompt
/// when prefilling); the chunks are stacked into one activation matrix, so every weight matrix is
/// streamed through the cores once per step for the whole batch (one `Kernels.matMul` per
/// projection, one activation row per position). Attention runs per sequence over its own cache,
/// all sequences in one parallel job per layer. Each position's row is computed exactly as if its sequence ran alone (`Kernels.matMul` treats
/// rows independently), which is what makes a request's logprobs independent of its neighbours.
///
/// Not thread-safe: one caller at a time (the batch engine's loop, or one ``LlamaSession``).
public final class LlamaBatchRunner {
    /// One sequence's part of a step.
    public struct Entry {
        /// The sequence; `ids` go at positions `cache.count…`, and the count advances by `ids.count`.
        public let cache: KVCache
        public let ids: [Int]
        /// Chunk rows whose logits are wanted: `logitsFrom..<ids.count` (`ids.count`: none).
        public let logitsFrom: Int

        /// A chunk of `ids` for `cache`, with the logits of rows `logitsFrom…` (default: the last).
        public init(cache: KVCache, ids: [Int], logitsFrom: Int? = nil) {
            self.cache = cache
            self.ids = ids
            self.logitsFrom = max(0, min(logitsFrom ?? (ids.count - 1), ids.count))
        }
    }

    public let model: LlamaModel
    public let pool: ThreadPool
    private var scratch: BatchScratch?

    /// A runner over `model` computing on `threads` threads.
    public init(model: LlamaModel, threads: Int = 1) {
        self.model = model
        pool = ThreadPool(threads: threads)
    }

    /// Logit rows computed per head pass (a long score never holds all its logits).
    static let headChunk = 32

    /// Runs one step: each entry's `ids` at its cache's next positions. `logits(entry, row, values)`
    /// sees the wanted logit rows (`row` counts from the entry's first id, not from `logitsFrom`),
    /// entries in order and rows in order within each. Throws before
    /// anything changes when an entry is empty, has an id outside the vocabulary or does not fit its
    /// cache.
    public func run(
        _ entries: [Entry], logits: (_ entry: Int, _ row: Int, UnsafeBufferPointer<Float>) throws -> Void
    ) throws {
        let c = model.config
        for entry in entries {
            guard !entry.ids.isEmpty else { throw InferenceError.emptyInput("token batch") }
            for (position, id) in entry.ids.enumerated() where id < 0 || id >= c.vocabularySize {
                throw InferenceError.tokenOutOfVocabulary(id: id, position: position, vocabularySize: c.vocabularySize)
            }
            guard entry.cache.count + entry.ids.count <= entry.cache.capacity else {
                throw InferenceError.contextOverflow(
                    need: entry.cache.count + entry.ids.count, limit: entry.cache.capacity)
            }
        }
        let tokens = entries.reduce(0) { $0 + $1.ids.count }
        guard tokens > 0 else { return }
        if scratch == nil || scratch!.tokens < tokens { scratch = BatchScratch(config: c, tokens: tokens) }
        guard let s = scratch else { return }
        let e = c.embedding
        let qWidth = c.heads * c.headDim
        let kv = c.kvWidth
        // Row offset of each entry in the stacked activations.
        var offsets: [Int] = []
        offsets.reserveCapacity(entries.count)
        var row = 0
        for entry in entries {
            offsets.append(row)
            for (t, id) in entry.ids.enumerated() {
                model.embeddingTable.dequantizeRow(id, into: s.x + (row + t) * e)
                Kernels.ropeTable(
                    position: entry.cache.count + t, headDim: c.headDim, base: c.ropeBase,
                    into: s.rope + (row + t) * c.headDim)
            }
            row += entry.ids.count
        }
        /// RMSNorm of residual rows `rows` into `s.xn`, packed from its first row.
        func normalize(_ weight: [Float], rows: [Int]) {
            weight.withUnsafeBufferPointer { w in
                for (packed, r) in rows.enumerated() {
                    Kernels.rmsNorm(
                        s.x + r * e, weight: w.baseAddress!, count: e, eps: c.rmsEpsilon, into: s.xn + packed * e)
                }
            }
        }
        let allRows = Array(0..<tokens)

        for (index, layer) in model.layers.enumerated() {
            normalize(layer.attentionNorm, rows: allRows)
            Kernels.matMul(
                pool: pool,
                targets: [
                    .init(weight: layer.q, y: s.q, ldy: qWidth),
                    .init(weight: layer.k, y: s.k, ldy: kv),
                    .init(weight: layer.v, y: s.v, ldy: kv),
                ], x: s.xn, ldx: e, tokens: tokens)
            for t in 0..<tokens {
                let table = s.rope + t * c.headDim
                Kernels.rope(s.q + t * qWidth, heads: c.heads, headDim: c.headDim, table: table)
                Kernels.rope(s.k + t * kv, heads: c.kvHeads, headDim: c.headDim, table: table)
            }
            var sequences: [Kernels.AttentionSequence] = []
            sequences.reserveCapacity(entries.count)
            for (i, entry) in entries.enumerated() {
                let cacheK = entry.cache.keys[index]
                let cacheV = entry.cache.values[index]
                let start = entry.cache.count
                let n = entry.ids.count
                (cacheK + start * kv).update(from: s.k + offsets[i] * kv, count: n * kv)
                (cacheV + start * kv).update(from: s.v + offsets[i] * kv, count: n * kv)
                sequences.append(
                    .init(
                        q: s.q + offsets[i] * qWidth, keys: cacheK, values: cacheV,
                        out: s.attention + offsets[i] * qWidth, tokens: n, start: start))
            }
            // Every sequence's attention in one parallel job (one per layer, not per sequence).
            Kernels.attention(
                pool: pool, sequences: sequences, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            Kernels.matMul(
                pool: pool, targets: [.init(weight: layer.o, y: s.x, ldy: e, accumulate: true)], x: s.attention,
                ldx: qWidth, tokens: tokens)
            normalize(layer.ffnNorm, rows: allRows)
            Kernels.matMul(
                pool: pool,
                targets: [
                    .init(weight: layer.gate, y: s.gate, ldy: c.feedForward),
                    .init(weight: layer.up, y: s.up, ldy: c.feedForward),
                ], x: s.xn, ldx: e, tokens: tokens)
            Kernels.swiGLU(s.gate, s.up, count: tokens * c.feedForward)
            Kernels.matMul(
                pool: pool, targets: [.init(weight: layer.down, y: s.x, ldy: e, accumulate: true)], x: s.gate,
                ldx: c.feedForward, tokens: tokens)
        }
        for entry in entries { entry.cache.count += entry.ids.count }

        // The wanted rows, packed in order: (entry, row within the entry, row in the batch).
        var wanted: [(entry: Int, row: Int, batchRow: Int)] = []
        for (i, entry) in entries.enumerated() {
            for r in entry.logitsFrom..<entry.ids.count { wanted.append((i, r, offsets[i] + r)) }
        }
        guard !wanted.isEmpty else { return }
        normalize(model.outputNorm, rows: wanted.map(\.batchRow))
        let vocabulary = c.vocabularySize
        let out = s.logits
        var first = 0
        while first < wanted.count {
            let n = min(Self.headChunk, wanted.count - first)
            Kernels.matMul(
                pool: pool, targets: [.init(weight: model.output, y: out, ldy: vocabulary)], x: s.xn + first * e,
                ldx: e, tokens: n)
            for r in 0..<n {
                let w = wanted[first + r]
                try logits(w.entry, w.row, UnsafeBufferPointer(start: out + r * vocabulary, count: vocabulary))
            }
            first += n
        }
    }
}

/// Activation buffers for a step of up to `tokens` positions.
private final class BatchScratch {
    let tokens: Int
    let x: UnsafeMutablePointer<Float>
    let xn: UnsafeMutablePointer<Float>
    let q: UnsafeMutablePointer<Float>
    let k: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    let gate: UnsafeMutablePointer<Float>
    let up: UnsafeMutablePointer<Float>
    let rope: UnsafeMutablePointer<Float>
    /// Logit rows of one head pass: kept, not allocated per call, because a decode step's 49,152
    /// floats are above malloc's mmap threshold and each fresh mapping costs page faults.
    let logits: UnsafeMutablePointer<Float>

    init(config c: LlamaConfig, tokens: Int) {
        self.tokens = tokens
        let qWidth = c.heads * c.headDim
        x = .allocate(capacity: tokens * c.embedding)
        xn = .allocate(capacity: tokens * max(c.embedding, qWidth))
        q = .allocate(capacity: tokens * qWidth)
        k = .allocate(capacity: tokens * c.kvWidth)
        v = .allocate(capacity: tokens * c.kvWidth)
        attention = .allocate(capacity: tokens * qWidth)
        gate = .allocate(capacity: tokens * c.feedForward)
        up = .allocate(capacity: tokens * c.feedForward)
        rope = .allocate(capacity: tokens * c.headDim)
        logits = .allocate(capacity: min(tokens, LlamaBatchRunner.headChunk) * c.vocabularySize)
    }

    deinit {
        for p in [x, xn, q, k, v, attention, gate, up, rope, logits] { p.deallocate() }
    }
}
