/// `config.toml [memory]`: the byte budgets of a node's in-memory caches and queues, in MiB
/// (issue 23: nothing a node holds in memory grows with history or traffic without a bound in
/// bytes). Each is a bound, not a reservation: memory is taken as a cache fills. What is not
/// here has its bound elsewhere: the mempool (`[mempool] max_bytes`) and the embedded ML node's
/// KV and prefix caches (`[ml] kv_cache_mb`, `prefix_cache_mb`).
///
/// The defaults suit a validator; a devnet node with them settles at ~285 MiB RSS in a debug
/// build (README, *Long-lived hosts*), far below their sum, because a devnet's state and traffic
/// fill few of them.
public struct MemorySettings: Sendable, Hashable {
    /// `state_page_cache_mb`: SQLite's page cache of the state database. 64 MiB: the state file is
    /// also in the kernel's page cache, and the tree's hot nodes and values in the two caches
    /// below; with 256 MiB this third copy grew with the state file for the first half hour of a
    /// soak at 4 requests/s and held RSS up (issue 23), for reads a `pread` from the kernel serves.
    public var statePageCacheMB = 64
    /// `state_node_cache_mb`: decoded nodes of the state tree (the top three levels always stay).
    public var stateNodeCacheMB = 128
    /// `state_value_cache_mb`: state values read or written in the last 200–400 blocks, at most
    /// this much (0: off; `RecentValues`).
    public var stateValueCacheMB = 32
    /// `signature_cache_mb`: transaction signatures verified and used in the last 200–400 blocks,
    /// at most this much (0: off; every check then verifies again).
    public var signatureCacheMB = 24
    /// `tx_backlog_mb`: transactions gossiped by peers waiting for their mempool check; past it
    /// they are dropped (gossip is best effort: they reach this node in blocks anyway).
    public var txBacklogMB = 32
    /// `replay_cache_mb`: each of the API node's two replay caches (the Transfer Agent's request
    /// ids, the executor's attempts). Entries leave with the request window; past the bound the
    /// oldest go first (the ledger still refuses a replayed inference).
    public var replayCacheMB = 64
    /// `tx_queue_mb`: the API node's duty transactions waiting to be sent; past it the oldest is
    /// dropped (logged).
    public var txQueueMB = 32
    /// `validation_queue_mb`: the API node's validation jobs waiting, and the ids it remembers
    /// having queued; past it the oldest check is dropped (counted as missed at the claim).
    public var validationQueueMB = 16

    /// The keys of `[memory]`, their accepted range in MiB, and what they bound (the file's
    /// comments).
    public static let keys: [(name: String, range: ClosedRange<Int64>, comment: String)] = [
        ("state_page_cache_mb", 1...(1 << 20), "SQLite's page cache of the state database"),
        ("state_node_cache_mb", 1...(1 << 20), "decoded nodes of the state tree"),
        ("state_value_cache_mb", 0...(1 << 20), "state values used in the last 200–400 blocks (0: off)"),
        ("signature_cache_mb", 0...(1 << 20), "verified tx signatures used in the last 200–400 blocks (0: off)"),
        ("tx_backlog_mb", 1...(1 << 20), "peers' gossiped txs waiting for their check (more are dropped)"),
        ("replay_cache_mb", 1...(1 << 20), "each of the API node's two replay caches (request ids)"),
        ("tx_queue_mb", 1...(1 << 20), "the API node's duty txs waiting to be sent (the oldest dropped past it)"),
        ("validation_queue_mb", 1...(1 << 20), "the API node's validation jobs (the oldest check dropped past it)"),
    ]

    /// The defaults.
    public init() {}

    /// The value of `[memory] name` in MiB, `nil` for a name that is not a key.
    public subscript(name: String) -> Int? {
        get {
            switch name {
            case "state_page_cache_mb": statePageCacheMB
            case "state_node_cache_mb": stateNodeCacheMB
            case "state_value_cache_mb": stateValueCacheMB
            case "signature_cache_mb": signatureCacheMB
            case "tx_backlog_mb": txBacklogMB
            case "replay_cache_mb": replayCacheMB
            case "tx_queue_mb": txQueueMB
            case "validation_queue_mb": validationQueueMB
            default: nil
            }
        }
        set {
            guard let value = newValue else { return }
            switch name {
            case "state_page_cache_mb": statePageCacheMB = value
            case "state_node_cache_mb": stateNodeCacheMB = value
            case "state_value_cache_mb": stateValueCacheMB = value
            case "signature_cache_mb": signatureCacheMB = value
            case "tx_backlog_mb": txBacklogMB = value
            case "replay_cache_mb": replayCacheMB = value
            case "tx_queue_mb": txQueueMB = value
            case "validation_queue_mb": validationQueueMB = value
            default: return
            }
        }
    }

    /// The largest the budgets add up to, in MiB (the replay caches counted twice).
    public var totalMB: Int {
        Self.keys.reduce(0) { $0 + (self[$1.name] ?? 0) } + replayCacheMB
    }

    /// `mb` MiB in bytes.
    public static func bytes(_ mb: Int) -> Int { mb << 20 }
}
