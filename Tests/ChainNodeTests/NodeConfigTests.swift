import ChainNode
import Consensus
import Testing

@Suite struct NodeConfigTests {
    @Test func roundTrips() throws {
        var config = NodeConfig(moniker: "node \"7\"", chainID: "gonka-devnet", accountKey: "alice")
        config.persistentPeers = ["ab@127.0.0.1:26666", "127.0.0.1:26676"]
        config.timeouts = "fast"
        config.testHooks = true
        config.mempoolMaxTxs = 5
        config.pocEnabled = true
        config.pocMaxNoncesPerSecond = 250
        config.apiModel = "/models/q3.gguf"
        config.apiModelID = "SmolLM2-135M-Instruct.Q4_1"
        config.apiValidate = false
        config.apiAutoUnjail = false
        config.ml.threads = 3
        config.ml.parallel = 8
        config.ml.queue = 0
        config.ml.kvCacheMB = 2048
        config.ml.prefixCacheMB = 0
        config.otlpEndpoint = "http://127.0.0.1:4318"
        config.apiExecutorIdleTimeoutMs = 45_000
        config.otlpProtocol = "http/json"
        config.memory.statePageCacheMB = 64
        config.memory.stateValueCacheMB = 0
        config.memory.replayCacheMB = 8
        config.memory.validationQueueMB = 2
        let parsed = try NodeConfig(toml: config.toml)
        #expect(parsed == config)
    }

    /// `[memory]` (issue 23): every cache and queue of a node has a budget in MiB; the section is
    /// optional, written by `gonka init` with its defaults, and each key is read by name.
    @Test func theMemorySectionSetsByteBudgets() throws {
        let config = try NodeConfig(toml: "moniker = \"a\"\nchain_id = \"c\"")
        #expect(config.memory == MemorySettings())
        #expect(config.memory.statePageCacheMB == 64 && config.memory.signatureCacheMB == 24)
        #expect(config.memory.totalMB == 64 + 128 + 32 + 24 + 32 + 64 * 2 + 32 + 16)
        for entry in MemorySettings.keys {
            #expect(config.toml.contains("\n\(entry.name) = \(config.memory[entry.name] ?? -1)\n"), "\(entry.name)")
            let set = try NodeConfig(toml: "moniker = \"a\"\nchain_id = \"c\"\n[memory]\n\(entry.name) = 7")
            #expect(set.memory[entry.name] == 7, "\(entry.name)")
            var expected = MemorySettings()
            expected[entry.name] = 7
            #expect(set.memory == expected, "\(entry.name) sets only itself")
        }
        #expect(MemorySettings()["no_such_key"] == nil)
    }

    /// `[ml]` is optional; the defaults (one thread, 4 batched requests) suit a 2-core devnet.
    @Test func theMLSectionDefaultsWhenAbsent() throws {
        let config = try NodeConfig(toml: "moniker = \"a\"\nchain_id = \"c\"")
        #expect(config.ml == MLEngineSettings())
        #expect(config.ml.threads == 1 && config.ml.parallel == 4 && config.ml.queue == 16)
        #expect(config.ml.kvCacheBytes == 512 << 20 && config.ml.prefixCacheBytes == 64 << 20)
        let set = try NodeConfig(toml: "moniker = \"a\"\nchain_id = \"c\"\n[ml]\nparallel = 2\nkv_cache_mb = 64")
        #expect(set.ml.parallel == 2 && set.ml.kvCacheMB == 64 && set.ml.threads == 1)
    }

    /// `[api] model_id` names the served id; without it the id is the file name without `.gguf`.
    @Test func theServedModelIDIsModelIDElseTheFileStem() throws {
        var config = NodeConfig(moniker: "a", chainID: "c")
        config.apiModel = "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        #expect(config.servedModelID == "SmolLM2-135M-Instruct.Q4_1")
        #expect(config.toml.contains("model_id = \"\""))
        config.apiModel = "/models/cheat.q3.gguf"
        config.apiModelID = "SmolLM2-135M-Instruct.Q4_1"
        #expect(try NodeConfig(toml: config.toml).servedModelID == "SmolLM2-135M-Instruct.Q4_1")
        config.apiModelID = ""
        config.apiModel = "plain"
        #expect(config.servedModelID == "plain")
    }

    /// Strings with quotes, backslashes and control characters come back as they went in.
    @Test func roundTripsAwkwardStrings() throws {
        var config = NodeConfig(moniker: "a\"b\\c\n\td\r\ne\u{1}f\u{7F}", chainID: "gonka-devnet")
        config.apiMLNodes = ["http://127.0.0.1:8080", "ü # not a comment"]
        let parsed = try NodeConfig(toml: config.toml)
        #expect(parsed == config)
    }

    @Test func parsesTheContractExample() throws {
        let text = """
            moniker = "node0"   # a comment
            chain_id = "gonka-devnet"
            [keys]
            account = "validator"
            consensus = "consensus"
            p2p = "p2p"
            [p2p]
            listen = "127.0.0.1:26656"
            persistent_peers = ["aa@127.0.0.1:26666", "bb@127.0.0.1:26676"]
            [rpc]
            listen = "127.0.0.1:26657"
            [api]
            listen = "127.0.0.1:9000"
            [state]
            keep_recent = 1000
            [consensus]
            timeouts = "devnet"          # or "mainnet"
            [mempool]
            max_txs = 10000
            max_bytes = 67108864
            [debug]
            test_hooks = false
            """
        let config = try NodeConfig(toml: text)
        #expect(config.moniker == "node0")
        #expect(config.persistentPeers == ["aa@127.0.0.1:26666", "bb@127.0.0.1:26676"])
        #expect(config.mempoolMaxBytes == 67_108_864)
        #expect(config.consensusTimeouts == .devnet)
        #expect(config.testHooks == false)
    }

    @Test(arguments: [
        ("moniker = \"a\"", "missing key chain_id"),
        ("moniker = \"a\"\nchain_id = \"c\"\nbogus = 1", "unknown key bogus"),
        ("moniker = 3\nchain_id = \"c\"", "moniker must be a string"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[mempool]\nmax_txs = 0", "mempool.max_txs must be an integer"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[consensus]\ntimeouts = \"slow\"", "consensus.timeouts"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[rpc]\nlisten = \"nowhere\"", "is not host:port"),
        ("moniker = \"a\nchain_id = \"c\"", "bad value"),
        ("moniker = \"a\"\nmoniker = \"b\"\nchain_id = \"c\"", "duplicate key"),
        ("[keys\nmoniker = \"a\"", "bad section"),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[poc]\nmax_nonces_per_second = -1",
            "poc.max_nonces_per_second must be an integer ≥ 0"
        ),
        ("moniker = \"a\"\nchain_id = \"c\"\n[poc]\nmax_nonces_per_second = \"fast\"", "poc.max_nonces_per_second"),
        // One case per remaining class: wrong types, keys under unknown or nested sections, refused
        // values, and syntax errors (which name their line).
        ("moniker = \"a\"\nchain_id = \"c\"\n[debug]\ntest_hooks = \"yes\"", "debug.test_hooks must be true or false"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[p2p]\npersistent_peers = \"x\"", "must be an array of strings"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[p2p]\npersistent_peers = [1]", "must be an array of strings"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[mempool]\nmax_txs = 1.5", "mempool.max_txs must be an integer"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[bogus]\nx = 1", "unknown key bogus.x"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[api.extra]\nx = 1", "unknown key api.extra.x"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[api]\nml = \"remote\"", "api.ml must be"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[api]\nml = \"embedded\"", "needs api.model"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[api]\nadmin_listen = \"10.0.0.1:9\"", "loopback"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[api]\nmodel_id = \"two words\"", "api.model_id must be"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[api]\nmodel_id = 3", "api.model_id must be a string"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[api]\nvalidate = \"no\"", "api.validate must be"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[api]\nauto_unjail = 1", "api.auto_unjail must be"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[ml]\nthreads = 0", "ml.threads must be an integer in 1…256"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[ml]\nparallel = 65", "ml.parallel must be an integer in 1…64"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[ml]\nqueue = -1", "ml.queue must be an integer in 0…10000"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[ml]\nkv_cache_mb = 0", "ml.kv_cache_mb must be an integer in 1…1048576"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[ml]\nkv_cache_mb = \"1G\"", "ml.kv_cache_mb must be an integer"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[ml]\nslots = 2", "unknown key ml.slots"),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[ml]\nprefix_cache_mb = -1",
            "ml.prefix_cache_mb must be an integer in 0…"
        ),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[telemetry]\notlp_endpoint = \"127.0.0.1:4318\"",
            "telemetry.otlp_endpoint must be an http:// or https:// URL"
        ),
        ("moniker = \"a\"\nchain_id = \"c\"\n[telemetry]\notlp_protocol = \"grpc\"", "telemetry.otlp_protocol must be"),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[telemetry]\notlp_endpoint = 4318",
            "telemetry.otlp_endpoint must be a string"
        ),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[api]\nexecutor_idle_timeout_ms = 5000",
            "api.executor_idle_timeout_ms must be an integer ≥ 10000"
        ),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[memory]\nstate_page_cache_mb = 0",
            "memory.state_page_cache_mb must be an integer in 1…1048576"
        ),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[memory]\nsignature_cache_mb = -1",
            "memory.signature_cache_mb must be an integer in 0…1048576"
        ),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[memory]\nreplay_cache_mb = 2097152",
            "memory.replay_cache_mb must be an integer in 1…1048576"
        ),
        (
            "moniker = \"a\"\nchain_id = \"c\"\n[memory]\ntx_queue_mb = \"32M\"",
            "memory.tx_queue_mb must be an integer"
        ),
        ("moniker = \"a\"\nchain_id = \"c\"\n[memory]\ncache_mb = 64", "unknown key memory.cache_mb"),
        ("moniker = \"a\"\nchain_id = \"c\"\nstray", "config.toml line 3"),
        ("moniker = \"a\"\nchain_id = \"c\"\n[keys\n", "config.toml line 3: bad section"),
    ])
    func rejectsBadFiles(text: String, expected: String) {
        let error = #expect(throws: NodeError.self) { try NodeConfig(toml: text) }
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }
}
