import Consensus
import Foundation
import GonkaCore
import Telemetry

/// A node's `config.toml` (the shared RPC/config contract, `docs/RPC.md`): parsed by
/// ``init(toml:)`` and rendered by ``toml``. Unknown keys are rejected so a typo does not silently
/// fall back to a default.
public struct NodeConfig: Sendable, Hashable {
    public var moniker: String
    public var chainID: String
    /// Names of key files under `keys/`.
    public var accountKey: String
    public var consensusKey: String
    public var p2pKey: String
    /// `host:port` the P2P host listens on.
    public var p2pListen: String
    /// `HEX@host:port` (or `host:port`) of the peers to keep connected to.
    public var persistentPeers: [String]
    public var rpcListen: String
    public var apiListen: String
    /// Runs the API node (Transfer Agent, executor, payload store) with the chain node.
    public var apiEnabled: Bool = false
    /// `"embedded"`: an in-process ML node over ``apiModel``; `""`: none (remote ``apiMLNodes`` only).
    public var apiML: String = ""
    /// GGUF file of the embedded ML node.
    public var apiModel: String = ""
    /// `[api] model_id`: the id the embedded ML node serves ``apiModel`` under, i.e. the model id
    /// the chain knows (a host chooses its own weights; the chain only knows the id). `""`: the
    /// file name without `.gguf`. See ``servedModelID``.
    public var apiModelID: String = ""
    /// `http://host:port` of remote ML nodes (`gonka mlnode start`, vLLM).
    public var apiMLNodes: [String] = []
    /// Loopback `host:port` of the admin API; `""`: none.
    public var apiAdminListen: String = ""
    /// No answer head from an executor within this: the next attempt (PROTOCOL §6.2).
    public var apiFirstByteTimeoutMs: Int = 5000
    /// `[api] executor_idle_timeout_ms`: no bytes from an executor for this long once its answer
    /// began, and the TA ends the client's request with an error (executors send a keepalive every
    /// 5 s). At least ``minimumExecutorIdleTimeoutMs``.
    public var apiExecutorIdleTimeoutMs: Int = 30_000
    /// Twice the executors' 5-second keepalive: a shorter idle timeout would cut live answers.
    public static let minimumExecutorIdleTimeoutMs = 10_000
    /// The longest an executed payload is kept: one whose inference record the API node saw on
    /// chain is deleted with the record (PROTOCOL §3.3), the rest at this age.
    public var apiPayloadRetentionSeconds: Int = 86_400
    /// `[api] validate`: whether the API node runs the validation worker (PROTOCOL §7). A
    /// participant that does not validate forfeits its settlement at the claim (§8.4); `false` is
    /// for measuring validation's cost, never for a real host.
    public var apiValidate: Bool = true
    /// `[api] auto_unjail`: the API node sends `MsgUnjail` itself once a liveness jail is over and
    /// the node is caught up (PROTOCOL §9); `false` leaves it to the operator (`gonka tx unjail`).
    public var apiAutoUnjail: Bool = true
    /// State versions kept for queries and proofs.
    public var keepRecent: UInt64
    /// `[storage] keep_blocks`: blocks kept in the block store, the latest ones; 0 keeps all (an
    /// archive node, the default). Older blocks are deleted with their tx results; asked for one,
    /// the node answers "pruned" over RPC and block sync. At least ``minimumKeepBlocks`` otherwise.
    public var keepBlocks: UInt64 = 0
    /// The fewest blocks a pruning node keeps: its tip and the block before it (a restart replays
    /// from the state's height, at most one below the block store's).
    public static let minimumKeepBlocks: UInt64 = 2
    /// `[state_sync] snapshot_interval`: a snapshot of the state is taken after every block whose
    /// height is a multiple of this and offered to peers (PROTOCOL §3.1 *State sync*); 0: none.
    public var snapshotInterval: UInt64 = 1000
    /// `[state_sync] snapshot_keep_recent`: snapshots kept (the newest); at least 1.
    public var snapshotKeepRecent: UInt64 = 2
    /// `[state_sync] enable`: a node started with an empty state restores a peer's snapshot first
    /// (verified against a header it trusts), then block-syncs from its height.
    public var stateSyncEnabled = false
    /// `[state_sync] trust_height` and `trust_hash`: a block (height, hash) the operator trusts; with
    /// them the node takes only the snapshot of `trust_height − 1`, whose app hash that block carries.
    /// 0 and "": trust the genesis validator set instead (it must still sign; see PROTOCOL §3.1).
    public var trustHeight: UInt64 = 0
    public var trustHash: String = ""
    /// `devnet`, `mainnet` or `fast` (tests).
    public var timeouts: String
    public var mempoolMaxTxs: Int
    public var mempoolMaxBytes: Int
    /// Enables `POST /debug/isolate` on the RPC port.
    public var testHooks: Bool
    /// `[poc] enabled`: run the PoC orchestrator for the account key (PROTOCOL §5).
    public var pocEnabled = false
    /// `[poc] threads`: threads of the in-process PoC search.
    public var pocThreads = 1
    /// `[poc] max_nonces_per_second`: caps the PoC search's rate (0: no cap), for hosts that give
    /// PoC only part of the machine. The sprint's weight follows the nonces actually tried.
    public var pocMaxNoncesPerSecond = 0
    /// `[telemetry] otlp_endpoint`: the OpenTelemetry collector the API node sends the request
    /// path's spans to over OTLP/HTTP (`http://host:4318`; spans go to `/v1/traces`); `""`: none.
    public var otlpEndpoint: String = ""
    /// `[telemetry] otlp_protocol`: `"http/protobuf"` (the collector default) or `"http/json"`.
    public var otlpProtocol: String = "http/protobuf"
    /// `[ml]`: the embedded ML node's engine (``apiML`` `"embedded"`); the defaults suit a devnet of
    /// several nodes on a 2-core machine.
    public var ml = MLEngineSettings()
    /// `[memory]`: byte budgets of the node's caches and queues (``MemorySettings``).
    public var memory = MemorySettings()

    public init(
        moniker: String, chainID: String, accountKey: String = "validator", consensusKey: String = "consensus",
        p2pKey: String = "p2p", p2pListen: String = "127.0.0.1:26656", persistentPeers: [String] = [],
        rpcListen: String = "127.0.0.1:26657", apiListen: String = "127.0.0.1:9000", keepRecent: UInt64 = 1000,
        timeouts: String = "devnet", mempoolMaxTxs: Int = 10_000, mempoolMaxBytes: Int = 64 << 20,
        testHooks: Bool = false
    ) {
        self.moniker = moniker
        self.chainID = chainID
        self.accountKey = accountKey
        self.consensusKey = consensusKey
        self.p2pKey = p2pKey
        self.p2pListen = p2pListen
        self.persistentPeers = persistentPeers
        self.rpcListen = rpcListen
        self.apiListen = apiListen
        self.keepRecent = keepRecent
        self.timeouts = timeouts
        self.mempoolMaxTxs = mempoolMaxTxs
        self.mempoolMaxBytes = mempoolMaxBytes
        self.testHooks = testHooks
    }

    /// The id the embedded ML node serves ``apiModel`` under: ``apiModelID``, or when that is empty
    /// the file name without its extension (`SmolLM2-135M-Instruct.Q4_1.gguf` →
    /// `SmolLM2-135M-Instruct.Q4_1`).
    public var servedModelID: String {
        if !apiModelID.isEmpty { return apiModelID }
        let name = apiModel.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? apiModel
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    /// The consensus timeouts named by ``timeouts``.
    public var consensusTimeouts: Consensus.Timeouts? {
        switch timeouts {
        case "devnet": .devnet
        case "mainnet": .mainnet
        case "fast":
            Consensus.Timeouts(
                propose: 600, proposeDelta: 200, prevote: 200, prevoteDelta: 100, precommit: 200, precommitDelta: 100,
                commit: 150)
        default: nil
        }
    }

    /// The block target of the chosen timeouts (PROTOCOL §12): 1 s devnet, 5 s mainnet, none for
    /// `fast` (tests want blocks as fast as consensus makes them).
    public var blockInterval: Duration {
        switch timeouts {
        case "devnet": .seconds(1)
        case "mainnet": .seconds(5)
        default: .zero
        }
    }

    /// Parses `config.toml` (TOML, read by TOMLKit): the keys are top-level or in `[section]`s and
    /// take strings, integers, booleans and arrays of strings. A syntax error names its line; a key
    /// this type does not know, a value of the wrong type or out of range, or a missing
    /// `moniker`/`chain_id` is refused by name.
    public init(toml: String) throws(NodeError) {
        let table = try ConfigTOML.parse(toml)
        var config = NodeConfig(moniker: "", chainID: "")
        var seen: Set<String> = []
        for (key, value) in table {
            seen.insert(key)
            switch key {
            case "moniker": config.moniker = try value.string(key)
            case "chain_id": config.chainID = try value.string(key)
            case "keys.account": config.accountKey = try value.string(key)
            case "keys.consensus": config.consensusKey = try value.string(key)
            case "keys.p2p": config.p2pKey = try value.string(key)
            case "p2p.listen": config.p2pListen = try value.string(key)
            case "p2p.persistent_peers": config.persistentPeers = try value.strings(key)
            case "rpc.listen": config.rpcListen = try value.string(key)
            case "api.listen": config.apiListen = try value.string(key)
            case "api.enabled": config.apiEnabled = try value.bool(key)
            case "api.ml": config.apiML = try value.string(key)
            case "api.model": config.apiModel = try value.string(key)
            case "api.model_id": config.apiModelID = try value.string(key)
            case "api.ml_nodes": config.apiMLNodes = try value.strings(key)
            case "api.admin_listen": config.apiAdminListen = try value.string(key)
            case "api.executor_first_byte_timeout_ms":
                config.apiFirstByteTimeoutMs = Int(try value.integer(key, min: 1))
            case "api.executor_idle_timeout_ms":
                config.apiExecutorIdleTimeoutMs = Int(
                    try value.integer(key, min: Int64(Self.minimumExecutorIdleTimeoutMs)))
            case "api.payload_retention_s": config.apiPayloadRetentionSeconds = Int(try value.integer(key, min: 1))
            case "api.validate": config.apiValidate = try value.bool(key)
            case "api.auto_unjail": config.apiAutoUnjail = try value.bool(key)
            case "state.keep_recent": config.keepRecent = UInt64(try value.integer(key, min: 0))
            case "storage.keep_blocks":
                let keep = UInt64(try value.integer(key, min: 0))
                guard keep == 0 || keep >= Self.minimumKeepBlocks else {
                    throw .config(
                        "\(key) must be 0 (keep every block) or at least \(Self.minimumKeepBlocks), not \(keep)")
                }
                config.keepBlocks = keep
            case "state_sync.snapshot_interval": config.snapshotInterval = UInt64(try value.integer(key, min: 0))
            case "state_sync.snapshot_keep_recent":
                config.snapshotKeepRecent = UInt64(try value.integer(key, min: 1))
            case "state_sync.enable": config.stateSyncEnabled = try value.bool(key)
            case "state_sync.trust_height": config.trustHeight = UInt64(try value.integer(key, min: 0))
            case "state_sync.trust_hash": config.trustHash = try value.string(key)
            case "consensus.timeouts": config.timeouts = try value.string(key)
            case "mempool.max_txs": config.mempoolMaxTxs = Int(try value.integer(key, min: 1))
            case "mempool.max_bytes": config.mempoolMaxBytes = Int(try value.integer(key, min: 1))
            case "debug.test_hooks": config.testHooks = try value.bool(key)
            case "poc.enabled": config.pocEnabled = try value.bool(key)
            case "poc.threads": config.pocThreads = Int(try value.integer(key, min: 1))
            case "poc.max_nonces_per_second": config.pocMaxNoncesPerSecond = Int(try value.integer(key, min: 0))
            case "telemetry.otlp_endpoint": config.otlpEndpoint = try value.string(key)
            case "telemetry.otlp_protocol": config.otlpProtocol = try value.string(key)
            case "ml.threads": config.ml.threads = Int(try value.integer(key, in: MLEngineSettings.threadsRange))
            case "ml.parallel": config.ml.parallel = Int(try value.integer(key, in: MLEngineSettings.parallelRange))
            case "ml.queue": config.ml.queue = Int(try value.integer(key, in: MLEngineSettings.queueRange))
            case "ml.kv_cache_mb":
                config.ml.kvCacheMB = Int(try value.integer(key, in: MLEngineSettings.kvCacheMBRange))
            case "ml.prefix_cache_mb":
                config.ml.prefixCacheMB = Int(try value.integer(key, in: MLEngineSettings.prefixCacheMBRange))
            case _ where key.hasPrefix("memory."):
                let name = String(key.dropFirst("memory.".count))
                guard let entry = MemorySettings.keys.first(where: { $0.name == name }) else {
                    throw .config("unknown key \(key)")
                }
                config.memory[name] = Int(try value.integer(key, in: entry.range))
            default: throw .config("unknown key \(key)")
            }
        }
        for required in ["moniker", "chain_id"] where !seen.contains(required) {
            throw .config("missing key \(required)")
        }
        guard config.consensusTimeouts != nil else {
            throw .config("consensus.timeouts must be \"devnet\", \"mainnet\" or \"fast\", got \"\(config.timeouts)\"")
        }
        if config.trustHeight > 0 || !config.trustHash.isEmpty {
            guard config.trustHeight >= 2, Hash(hex: config.trustHash) != nil else {
                throw .config(
                    "state_sync.trust_height (at least 2) and state_sync.trust_hash (64 hex digits) go together, "
                        + "got \(config.trustHeight) and \"\(config.trustHash)\"")
            }
        }
        for listen in [config.p2pListen, config.rpcListen] {
            _ = try HostPort(parsing: listen)
        }
        guard config.apiML == "" || config.apiML == "embedded" else {
            throw .config("api.ml must be \"embedded\" or \"\", got \"\(config.apiML)\"")
        }
        if config.apiML == "embedded", config.apiModel.isEmpty {
            throw .config("api.ml = \"embedded\" needs api.model (a GGUF file)")
        }
        guard config.apiModelID.count <= 256, !config.apiModelID.contains(where: { $0.isWhitespace || $0.isNewline })
        else {
            throw .config("api.model_id must be at most 256 characters without spaces, got \"\(config.apiModelID)\"")
        }
        if config.apiEnabled { _ = try HostPort(parsing: config.apiListen) }
        if !config.otlpEndpoint.isEmpty, let problem = TraceExport.problem(withEndpoint: config.otlpEndpoint) {
            throw .config("telemetry.otlp_endpoint \(problem)")
        }
        guard TraceExport.WireFormat(rawValue: config.otlpProtocol) != nil else {
            throw .config(
                "telemetry.otlp_protocol must be \"http/protobuf\" or \"http/json\", got \"\(config.otlpProtocol)\"")
        }
        if !config.apiAdminListen.isEmpty {
            let admin = try HostPort(parsing: config.apiAdminListen)
            guard ["127.0.0.1", "localhost", "::1"].contains(admin.host) else {
                throw .config("api.admin_listen must be a loopback address (127.0.0.1, localhost or ::1)")
            }
        }
        self = config
    }

    /// Reads and parses `config.toml` at `file`; a file that cannot be read is a config error.
    public init(file: URL) throws(NodeError) {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw .config("cannot read \(file.path): \(error.localizedDescription)")
        }
        try self.init(toml: text)
    }

    /// The file as `gonka init` writes it.
    public var toml: String {
        func quote(_ s: String) -> String { ConfigTOML.quote(s) }
        return """
            # gonka node configuration (written by `gonka init`).
            moniker = \(quote(moniker))
            chain_id = \(quote(chainID))

            [keys]
            # Names of key files under keys/.
            account = \(quote(accountKey))
            consensus = \(quote(consensusKey))
            p2p = \(quote(p2pKey))

            [p2p]
            listen = \(quote(p2pListen))
            persistent_peers = [\(persistentPeers.map(quote).joined(separator: ", "))]

            [rpc]
            listen = \(quote(rpcListen))

            [api]
            listen = \(quote(apiListen))
            # true runs the API node (Transfer Agent, executor) with the chain node.
            enabled = \(apiEnabled)
            # "embedded": an in-process ML node over `model`; "": only the remote `ml_nodes`.
            ml = \(quote(apiML))
            model = \(quote(apiModel))
            # The id `model` is served and registered under (the chain knows only ids); "": the file name without .gguf.
            model_id = \(quote(apiModelID))
            ml_nodes = [\(apiMLNodes.map(quote).joined(separator: ", "))]
            # Loopback host:port of the admin API (ML-node registry, API keys); "" for none.
            admin_listen = \(quote(apiAdminListen))
            executor_first_byte_timeout_ms = \(apiFirstByteTimeoutMs)
            # No bytes from an executor for this long once its answer began (executors send a keepalive
            # every 5 s): the executor is taken for gone and the client gets an error (≥ 10000).
            executor_idle_timeout_ms = \(apiExecutorIdleTimeoutMs)
            # Payload files go with their inference record once the chain prunes it (PROTOCOL §3.3); this
            # wall-clock age takes the rest (a Finish that never landed, a record pruned while down).
            payload_retention_s = \(apiPayloadRetentionSeconds)
            # Check other participants' inferences as the epoch seed obliges (PROTOCOL §7); false only to
            # measure what validation costs (a host that does not validate forfeits its settlement).
            validate = \(apiValidate)
            # Send MsgUnjail once a liveness jail is over and the node is caught up (PROTOCOL §9);
            # false: unjail by hand with `gonka tx unjail`.
            auto_unjail = \(apiAutoUnjail)

            [state]
            # Old state versions kept for queries and proofs (state_keep_recent, PROTOCOL §3.3).
            keep_recent = \(keepRecent)

            [storage]
            # Blocks kept in the block store (the latest); 0 keeps every block (archive node). A pruned
            # block is answered "pruned" over RPC and block sync (PROTOCOL §3.1).
            keep_blocks = \(keepBlocks)

            [state_sync]
            # A snapshot of the state every snapshot_interval blocks (0: none), offered to peers that
            # join by state sync; the newest snapshot_keep_recent are kept (PROTOCOL §3.1).
            snapshot_interval = \(snapshotInterval)
            snapshot_keep_recent = \(snapshotKeepRecent)
            # true: started with an empty state, restore a peer's snapshot first, then block-sync.
            enable = \(stateSyncEnabled)
            # A block (height, hash) you trust, e.g. from GET /block/{h} of a node you trust: only the
            # snapshot of trust_height - 1 is taken. 0 and "": trust the genesis validator set.
            trust_height = \(trustHeight)
            trust_hash = \(quote(trustHash))

            [consensus]
            # "devnet" or "mainnet" timeouts (PROTOCOL §3.1).
            timeouts = \(quote(timeouts))

            [mempool]
            max_txs = \(mempoolMaxTxs)
            max_bytes = \(mempoolMaxBytes)

            [debug]
            # true enables POST /debug/isolate on the RPC port (fault tests only).
            test_hooks = \(testHooks)

            [poc]
            # Run the PoC orchestrator (seeds, search, batches, validations) for the account key.
            enabled = \(pocEnabled)
            # Threads of the in-process PoC search.
            threads = \(pocThreads)
            # Cap on the search's nonces per second (0: none); the weight follows the work done.
            max_nonces_per_second = \(pocMaxNoncesPerSecond)

            [telemetry]
            # OpenTelemetry collector for the API node's request spans (OTLP/HTTP, e.g.
            # "http://127.0.0.1:4318"; spans go to /v1/traces); "" sends none.
            otlp_endpoint = \(quote(otlpEndpoint))
            # "http/protobuf" or "http/json".
            otlp_protocol = \(quote(otlpProtocol))

            [ml]
            # The embedded ML node (api.ml = "embedded"): compute threads of its engine,
            threads = \(ml.threads)
            # requests decoded together in one batched pass (more wait in the queue),
            parallel = \(ml.parallel)
            # requests that may wait for a place (more get 429),
            queue = \(ml.queue)
            # and the KV-cache memory of the running requests together, in MiB (a request reserves
            # its prompt plus max_tokens positions; one that cannot fit waits, one larger than all gets 400).
            kv_cache_mb = \(ml.kvCacheMB)
            # KV blocks of prompt prefixes kept for reuse across requests, in MiB (0: off).
            prefix_cache_mb = \(ml.prefixCacheMB)

            [memory]
            # Byte budgets of the node's caches and queues, in MiB: bounds, not reservations (memory is
            # taken as they fill). The mempool and the ML caches have theirs above. README "Long-lived hosts".
            \(MemorySettings.keys.map { "# \($0.comment)\n\($0.name) = \(memory[$0.name] ?? 0)" }.joined(separator: "\n"))

            """
    }
}

/// `host:port`.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(NodeError) {
        guard let colon = text.lastIndex(of: ":") else { throw .config("\"\(text)\" is not host:port") }
        let host = String(text[..<colon])
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw .config("\"\(text)\" is not host:port")
        }
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}
