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
    ])
    func rejectsBadFiles(text: String, expected: String) {
        let error = #expect(throws: NodeError.self) { try NodeConfig(toml: text) }
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }
}
