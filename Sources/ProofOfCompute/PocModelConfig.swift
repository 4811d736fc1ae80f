/// The shape of the random PoC transformer (PROTOCOL §5.1, `poc_model`): a Llama-style decoder of
/// `nLayers` blocks over `dim`-wide activations, run on `seqLen` input vectors, projecting the last
/// position to `vocab` logits.
///
/// JSON keys are snake case (`n_layers`, `ffn_hidden`, …), the form the ML node's `/poc/*` routes
/// and chain parameters use.
public struct PocModelConfig: Codable, Hashable, Sendable, CustomStringConvertible {
    public var dim: Int
    public var nLayers: Int
    public var nHeads: Int
    public var vocab: Int
    public var ffnHidden: Int
    public var seqLen: Int
    public var normEps: Float
    public var ropeTheta: Double

    public init(
        dim: Int, nLayers: Int, nHeads: Int, vocab: Int, ffnHidden: Int, seqLen: Int, normEps: Float = 1e-5,
        ropeTheta: Double = 10_000
    ) {
        self.dim = dim
        self.nLayers = nLayers
        self.nHeads = nHeads
        self.vocab = vocab
        self.ffnHidden = ffnHidden
        self.seqLen = seqLen
        self.normEps = normEps
        self.ropeTheta = ropeTheta
    }

    enum CodingKeys: String, CodingKey {
        case dim
        case nLayers = "n_layers"
        case nHeads = "n_heads"
        case vocab
        case ffnHidden = "ffn_hidden"
        case seqLen = "seq_len"
        case normEps = "norm_eps"
        case ropeTheta = "rope_theta"
    }

    /// *devnet* (CPU): 128 / 2 / 4, vocab 2048, ffn 512, seq 8.
    public static let devnet = PocModelConfig(dim: 128, nLayers: 2, nHeads: 4, vocab: 2048, ffnHidden: 512, seqLen: 8)
    /// *testnet*: 1024 / 32 / 32, vocab 8196, ffn 27648 (PROTOCOL's "≈27k" as 27 × 1024), seq 128.
    public static let testnet = PocModelConfig(
        dim: 1024, nLayers: 32, nHeads: 32, vocab: 8196, ffnHidden: 27_648, seqLen: 128)
    /// *mainnet* (GPU): 1792 / 64 / 64, vocab 8196, ffn 49152, seq 256.
    public static let mainnet = PocModelConfig(
        dim: 1792, nLayers: 64, nHeads: 64, vocab: 8196, ffnHidden: 49_152, seqLen: 256)

    /// The preset called `name` (`devnet`, `testnet`, `mainnet`), if any.
    public static func preset(named name: String) -> PocModelConfig? {
        switch name.lowercased() {
        case "devnet": .devnet
        case "testnet": .testnet
        case "mainnet": .mainnet
        default: nil
        }
    }

    /// Largest values ``validate()`` accepts: generous for the mainnet preset, small enough that
    /// arithmetic on sizes cannot overflow.
    public static let limits = (dim: 16_384, layers: 512, heads: 1_024, vocab: 1 << 20, ffn: 1 << 18, seqLen: 8_192)

    /// Width of one attention head.
    public var headDim: Int { dim / Swift.max(nHeads, 1) }

    /// Weights of the model: per layer 4·dim² (attention) + 3·dim·ffn (SwiGLU) + 2·dim (norms), then
    /// the final norm (dim) and the output projection (vocab·dim).
    public var parameterCount: Int {
        nLayers * (4 * dim * dim + 3 * dim * ffnHidden + 2 * dim) + dim + vocab * dim
    }

    /// Forward-pass multiply-adds × 2 for one nonce (the FLOP count `gonka bench poc` reports):
    /// per layer `2·seq·(4·dim² + 3·dim·ffn)` for the projections plus `2·dim·seq·(seq+1)` for the
    /// causal attention (scores and weighted sum over `t+1` keys at position `t`), then `2·vocab·dim`
    /// for the last position's output projection. Norms, RoPE and activations are not counted.
    public var flopsPerNonce: Double {
        let d = Double(dim)
        let s = Double(seqLen)
        let perLayer = 2 * s * (4 * d * d + 3 * d * Double(ffnHidden)) + 2 * d * s * (s + 1)
        return Double(nLayers) * perLayer + 2 * Double(vocab) * d
    }

    /// Checks that the model can be built: every size positive and under ``limits``, `dim` a
    /// multiple of `nHeads` with an even head width (RoPE rotates pairs), `normEps` and `ropeTheta`
    /// positive and finite.
    public func validate() throws(PocError) {
        func check(_ name: String, _ value: Int, _ limit: Int) throws(PocError) {
            guard value >= 1, value <= limit else {
                throw .invalidConfig("\(name) = \(value) must be in 1...\(limit)")
            }
        }
        let limits = Self.limits
        try check("dim", dim, limits.dim)
        try check("n_layers", nLayers, limits.layers)
        try check("n_heads", nHeads, limits.heads)
        try check("vocab", vocab, limits.vocab)
        try check("ffn_hidden", ffnHidden, limits.ffn)
        try check("seq_len", seqLen, limits.seqLen)
        guard vocab >= 2 else { throw .invalidConfig("vocab = \(vocab) must be at least 2") }
        guard dim % nHeads == 0 else {
            throw .invalidConfig("dim = \(dim) is not divisible by n_heads = \(nHeads)")
        }
        guard headDim % 2 == 0 else {
            throw .invalidConfig("head width dim / n_heads = \(headDim) must be even (RoPE rotates pairs)")
        }
        guard normEps.isFinite, normEps > 0 else { throw .invalidConfig("norm_eps = \(normEps) must be positive") }
        guard ropeTheta.isFinite, ropeTheta > 1 else {
            throw .invalidConfig("rope_theta = \(ropeTheta) must be greater than 1")
        }
    }

    public var description: String {
        "dim \(dim), layers \(nLayers), heads \(nHeads), vocab \(vocab), ffn \(ffnHidden), seq \(seqLen)"
    }
}
