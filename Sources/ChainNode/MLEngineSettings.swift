/// `config.toml [ml]`: how the embedded ML node (`[api] ml = "embedded"`) runs its model.
///
/// The defaults suit a devnet of several nodes (each also mining PoC on one thread) on a 2-core
/// machine: one compute thread per node, and up to 4 requests batched into each decode step, which
/// costs that thread little more than one request (the weights are read once per step).
public struct MLEngineSettings: Sendable, Hashable {
    /// `threads`: compute threads of the engine.
    public var threads = 1
    /// `parallel`: requests running at once (decoded together, one batched pass per step).
    public var parallel = 4
    /// `queue`: requests that may wait for a place beyond `parallel`; more are refused with 429.
    public var queue = 16
    /// `kv_cache_mb`: KV-cache memory of all running requests together, in MiB.
    public var kvCacheMB = 512
    /// `prefix_cache_mb`: memory of the KV blocks of prompt prefixes kept for reuse across
    /// requests (a shared system prompt is computed once), in MiB; 0 turns it off.
    public var prefixCacheMB = 64

    /// Accepted `threads`.
    public static let threadsRange: ClosedRange<Int64> = 1...256
    /// Accepted `parallel`.
    public static let parallelRange: ClosedRange<Int64> = 1...64
    /// Accepted `queue`.
    public static let queueRange: ClosedRange<Int64> = 0...10_000
    /// Accepted `kv_cache_mb` (1 MiB to 1 TiB).
    public static let kvCacheMBRange: ClosedRange<Int64> = 1...(1 << 20)
    /// Accepted `prefix_cache_mb`.
    public static let prefixCacheMBRange: ClosedRange<Int64> = 0...(1 << 20)

    /// The defaults.
    public init() {}

    /// The KV-cache budget in bytes.
    public var kvCacheBytes: Int { kvCacheMB << 20 }

    /// The prefix-cache budget in bytes.
    public var prefixCacheBytes: Int { prefixCacheMB << 20 }
}
