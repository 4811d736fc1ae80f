import GonkaCore
import Tensor

/// The random weights of one sprint's PoC model (PROTOCOL §5.1; exact layout in docs/POC.md).
///
/// A pool of `max(50_000, ⌈0.05 · parameterCount⌉)` PoC normals × 0.02 is drawn from the stream of
/// `SHA-256("{H}/pool")` (pool element `i` = `Philox.normal(block i) × Float(0.02)`); each named
/// tensor is the `count` consecutive pool elements starting at
/// `leadingUInt64(SHA-256("{H}/{name}")) mod poolSize`, wrapping to the start of the pool.
///
/// The pool is stored *extended* by the largest tensor (`extended[i] = pool[i mod poolSize]`), so
/// every tensor — wrapping or not, even one longer than the pool — is one contiguous run in memory
/// and costs nothing beyond the pool itself.
///
/// `@unchecked Sendable`: the buffer is written only in `init` and freed in `deinit`.
public final class PocWeights: @unchecked Sendable {
    /// One named tensor: its row-major shape and where its slice starts in the pool.
    public struct Tensor: Sendable, Hashable {
        public let name: String
        /// `[rows, cols]` for matrices (row `r` = output `r`, `y[r] = Σ_c W[r][c]·x[c]`), `[n]` for norms.
        public let shape: [Int]
        /// `leadingUInt64(SHA-256("{H}/{name}")) mod poolSize`.
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// The scale of the pool's normals.
    public static let scale: Float = 0.02

    /// The factor a matrix with `cols` inputs is applied with: `y = (W·x) × Float(1 / (0.02·√cols))`.
    /// The pool's values are 0.02-scaled normals; at devnet sizes a product with them shrinks the
    /// activations ~4× (0.02·√128 ≈ 0.23), so the layers added ~1% to the residual stream and a model
    /// with fewer layers found the same nonces (measured: 0 of 200 caught). Applied at unit gain every
    /// layer changes the stream by O(1), and skipping one changes the distances completely.
    public static func matrixScale(cols: Int) -> Float {
        Float(1 / (0.02 * Double(cols).squareRoot()))
    }

    /// The RMSNorm gain from a norm tensor's slice value `v`: `1 + v` (Llama's initial gain of one,
    /// perturbed by the pool).
    @inline(__always)
    public static func normGain(_ v: Float) -> Float { 1 + v }
    /// The smallest pool.
    public static let minimumPoolSize = 50_000

    public let config: PocModelConfig
    /// `H`, canonical.
    public let blockHashHex: String
    public let poolSize: Int
    /// Every tensor by name.
    public let tensors: [String: Tensor]
    private let storage: UnsafeMutableBufferPointer<Float>

    /// The pool size for `config`: `max(50_000, ⌈0.05 · parameterCount⌉)`.
    public static func poolSize(for config: PocModelConfig) -> Int {
        let n = config.parameterCount
        return Swift.max(minimumPoolSize, (n + 19) / 20)
    }

    /// Tensor names and shapes in the model, in forward order.
    public static func layout(for config: PocModelConfig) -> [(name: String, shape: [Int])] {
        let d = config.dim
        let f = config.ffnHidden
        var out: [(String, [Int])] = []
        for l in 0..<config.nLayers {
            out.append(("layers.\(l).attention_norm", [d]))
            out.append(("layers.\(l).attention.wq", [d, d]))
            out.append(("layers.\(l).attention.wk", [d, d]))
            out.append(("layers.\(l).attention.wv", [d, d]))
            out.append(("layers.\(l).attention.wo", [d, d]))
            out.append(("layers.\(l).ffn_norm", [d]))
            out.append(("layers.\(l).feed_forward.w1", [f, d]))
            out.append(("layers.\(l).feed_forward.w2", [d, f]))
            out.append(("layers.\(l).feed_forward.w3", [f, d]))
        }
        out.append(("norm", [d]))
        out.append(("output", [config.vocab, d]))
        return out
    }

    /// Builds the weights for `blockHashHex` (64 hex digits) and `config`; `pool` fills large pools
    /// in parallel.
    public init(blockHashHex: String, config: PocModelConfig, pool threadPool: ThreadPool? = nil) throws(PocError) {
        try config.validate()
        let h = try PocSeed.canonicalBlockHash(blockHashHex)
        self.config = config
        self.blockHashHex = h
        let poolSize = Self.poolSize(for: config)
        self.poolSize = poolSize
        var tensors: [String: Tensor] = [:]
        var largest = 0
        for (name, shape) in Self.layout(for: config) {
            let offset = Int(PocSeed.tensor(h, name).leadingUInt64 % UInt64(poolSize))
            let tensor = Tensor(name: name, shape: shape, offset: offset)
            tensors[name] = tensor
            largest = Swift.max(largest, tensor.count)
        }
        self.tensors = tensors
        let total = poolSize + largest
        storage = .allocate(capacity: total)
        let base = storage.baseAddress!
        let stream = PhiloxStream(seed: PocSeed.pool(h))
        let scale = Self.scale
        let fill: (Range<Int>) -> Void = { range in
            for i in range { base[i] = Philox.normal(stream.block(at: UInt64(i))) * scale }
        }
        if let threadPool, poolSize >= 1 << 16 {
            let chunks = (poolSize + 4095) / 4096
            threadPool.parallelFor(chunks) { range in
                fill((range.lowerBound * 4096)..<Swift.min(range.upperBound * 4096, poolSize))
            }
        } else {
            fill(0..<poolSize)
        }
        var i = poolSize
        while i < total {
            let run = Swift.min(poolSize, total - i)
            (base + i).update(from: base, count: run)
            i += run
        }
    }

    deinit { storage.deallocate() }

    /// Pool element `i` (`0 ≤ i < poolSize`).
    public func poolValue(_ i: Int) -> Float { storage[i] }

    /// The first element of tensor `name` (`count` contiguous floats follow); the name must be one
    /// of ``layout(for:)``.
    func pointer(_ name: String) -> UnsafePointer<Float> {
        UnsafePointer(storage.baseAddress! + (tensors[name]?.offset ?? 0))
    }

    /// Tensor `name` copied out, row-major; `nil` for a name the model does not have.
    public func values(_ name: String) -> [Float]? {
        guard let t = tensors[name] else { return nil }
        return Array(UnsafeBufferPointer(start: pointer(name), count: t.count))
    }
}
