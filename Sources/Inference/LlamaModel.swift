import Synchronization
import Tensor

/// The hyper-parameters of a Llama-architecture GGUF model.
public struct LlamaConfig: Sendable, Equatable {
    public var layers: Int
    public var embedding: Int
    public var feedForward: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ropeBase: Double
    public var rmsEpsilon: Float
    public var contextLength: Int
    public var vocabularySize: Int

    /// The configuration in `file`'s `llama.*` metadata.
    public init(gguf file: GGUFFile) throws {
        let architecture = try file.string("general.architecture")
        guard architecture == "llama" else {
            throw GGUFError.unsupported("architecture \(architecture) (expected llama)")
        }
        layers = try file.int("llama.block_count")
        embedding = try file.int("llama.embedding_length")
        feedForward = try file.int("llama.feed_forward_length")
        heads = try file.int("llama.attention.head_count")
        kvHeads = (try? file.int("llama.attention.head_count_kv")) ?? heads
        ropeBase = (try? file.double("llama.rope.freq_base")) ?? 10_000
        rmsEpsilon = Float((try? file.double("llama.attention.layer_norm_rms_epsilon")) ?? 1e-5)
        contextLength = try file.int("llama.context_length")
        guard (1...4096).contains(layers), (1...65536).contains(embedding), (1...262_144).contains(feedForward),
            heads > 0, kvHeads > 0, heads % kvHeads == 0, embedding % heads == 0, contextLength > 0
        else { throw GGUFError.unsupported("inconsistent llama hyper-parameters") }
        headDim = embedding / heads
        if let ropeDims = try? file.int("llama.rope.dimension_count"), ropeDims != headDim {
            throw GGUFError.unsupported("partial RoPE (\(ropeDims) of \(headDim) dimensions)")
        }
        guard let tokens = file.tensors["token_embd.weight"], tokens.shape.count == 2 else {
            throw GGUFError.missingTensor("token_embd.weight")
        }
        vocabularySize = tokens.shape[1]
    }

    /// Floats of one position's keys (or values) in one layer.
    public var kvWidth: Int { kvHeads * headDim }
}

/// A loaded Llama model: its memory-mapped weights and tokenizer. Immutable and shareable;
/// computing needs a ``LlamaSession``.
public final class LlamaModel: Sendable {
    struct Layer: Sendable {
        let attentionNorm: [Float]
        let q: WeightMatrix
        let k: WeightMatrix
        let v: WeightMatrix
        let o: WeightMatrix
        let ffnNorm: [Float]
        let gate: WeightMatrix
        let up: WeightMatrix
        let down: WeightMatrix
    }

    public let config: LlamaConfig
    public let tokenizer: Tokenizer
    /// Built on first use (structured output only): the vocabulary arranged for grammar masks.
    private let grammarCache = Mutex<GrammarVocabulary?>(nil)

    /// The vocabulary arranged for ``OutputGrammar`` masks, built once.
    public var grammarVocabulary: GrammarVocabulary {
        grammarCache.withLock { cache in
            if let built = cache { return built }
            let built = GrammarVocabulary(tokenizer)
            cache = built
            return built
        }
    }
    public let file: GGUFFile
    let embeddingTable: WeightMatrix
    let output: WeightMatrix
    let outputNorm: [Float]
    let layers: [Layer]
    /// Whether the head is tied to the embedding table (no `output.weight`).
    public let tiedHead: Bool
    /// The batched product's factor tables of the head's and the layers' matrices, owned here so
    /// they live as long as the matrices that point at them.
    private let panelFactors: [PanelFactors]

    /// Bytes of the batched product's factor tables (beside the mapped weights).
    public var panelFactorBytes: Int { panelFactors.reduce(0) { $0 + $1.bytes } }

    /// Maps and checks the model at `path`.
    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    public init(file: GGUFFile) throws {
        let c = try LlamaConfig(gguf: file)
        config = c
        self.file = file
        tokenizer = try Tokenizer(gguf: file)
        guard tokenizer.vocabularySize == c.vocabularySize else {
            throw GGUFError.unsupported(
                "tokenizer has \(tokenizer.vocabularySize) tokens, embedding \(c.vocabularySize)")
        }
        var tables: [PanelFactors] = []
        /// `matrix` with its factor table (kept in `tables`).
        func batched(_ matrix: WeightMatrix) -> WeightMatrix {
            guard let table = PanelFactors(matrix) else { return matrix }
            tables.append(table)
            return matrix.with(table)
        }
        embeddingTable = try file.matrix("token_embd.weight", cols: c.embedding, rows: c.vocabularySize)
        if file.tensors["output.weight"] != nil {
            output = batched(try file.matrix("output.weight", cols: c.embedding, rows: c.vocabularySize))
            tiedHead = false
        } else {
            output = batched(embeddingTable)
            tiedHead = true
        }
        outputNorm = try file.vector("output_norm.weight", count: c.embedding)
        var layers: [Layer] = []
        for i in 0..<c.layers {
            let p = "blk.\(i)."
            layers.append(
                Layer(
                    attentionNorm: try file.vector(p + "attn_norm.weight", count: c.embedding),
                    q: batched(try file.matrix(p + "attn_q.weight", cols: c.embedding, rows: c.heads * c.headDim)),
                    k: batched(try file.matrix(p + "attn_k.weight", cols: c.embedding, rows: c.kvWidth)),
                    v: batched(try file.matrix(p + "attn_v.weight", cols: c.embedding, rows: c.kvWidth)),
                    o: batched(
                        try file.matrix(p + "attn_output.weight", cols: c.heads * c.headDim, rows: c.embedding)),
                    ffnNorm: try file.vector(p + "ffn_norm.weight", count: c.embedding),
                    gate: batched(try file.matrix(p + "ffn_gate.weight", cols: c.embedding, rows: c.feedForward)),
                    up: batched(try file.matrix(p + "ffn_up.weight", cols: c.embedding, rows: c.feedForward)),
                    down: batched(try file.matrix(p + "ffn_down.weight", cols: c.feedForward, rows: c.embedding))))
        }
        self.layers = layers
        panelFactors = tables
    }
}
