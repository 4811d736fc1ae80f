import ArgumentParser
import ChainNode
import Devnet
import Foundation
import GonkaClient
import GonkaCore
import Storage

extension NodeCommand {
    /// `gonka node join`
    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a running network: register this home as a new participant through a peer.",
            discussion: """
                Creates HOME (keys account/consensus/p2p, 0600) if needed, takes the network's genesis and chain id from the peer's chain RPC (GET /status, GET /genesis), sends MsgRegisterParticipant signed by the account key to the peer and waits for its block, then writes HOME/genesis.json and HOME/config.toml (the peer as persistent peer, [poc] enabled). The node then block-syncs (with --state-sync: first restores a peer's snapshot of the state, verified against the block --trust-height/--trust-hash names; without them, against the block after the peer's newest snapshot, whose hash is taken from the peer as the genesis is; then block-syncs from the snapshot's height), mines in the next sprint and, once its PoC is accepted, becomes a validator at that epoch's switch (PROTOCOL §4, §5). The account pays the registration tx's fee: fund it first (on a devnet: gonka devnet fund ADDR AMOUNT). Re-running on a registered home goes on without registering again. Nothing is written to HOME but keys until the registration is committed.
                """
        )

        @OptionGroup var home: HomeOptions
        @Option(help: "Chain RPC URL of a running node of the network, e.g. http://127.0.0.1:26657.") var peer: String
        @Option(help: "The chain id you mean to join; refused if the peer serves another.") var chainID: String?
        @Option(help: "A human name for this node.") var moniker = "node"
        @Option(help: "Name of the account key to create or reuse.") var keyName = "validator"
        @Option(help: "Public URL of this node's API (registered on chain).") var url = "http://127.0.0.1:9000"
        @Option(help: "host:port the P2P host listens on.") var p2pListen = "127.0.0.1:26656"
        @Option(help: "host:port of the chain RPC.") var rpcListen = "127.0.0.1:26657"
        @Option(help: "host:port of the API node (with --model).") var apiListen = "127.0.0.1:9000"
        @Option(help: "Consensus timeouts: devnet, mainnet or fast (tests).") var timeouts = "devnet"
        @Option(help: "Threads of the in-process PoC search.") var pocThreads = 1
        @Option(help: "Cap on PoC nonces per second, to leave part of the machine free (0: no cap).")
        var pocMaxNoncesPerSecond = 0
        @Option(help: "A GGUF model the API node serves in-process (none: chain node and PoC only).") var model: String?
        @Option(help: "Seconds to wait for the peer's answers and the registration's block.") var waitTimeout = 40
        @Flag(
            help:
                "Join by state sync: the node restores a peer's snapshot of the state (verified against a trusted header) instead of replaying every block."
        ) var stateSync = false
        @Option(help: "With --state-sync: the height of a block you trust (its snapshot is the one of height - 1).")
        var trustHeight: UInt64 = 0
        @Option(
            help: "With --state-sync: that block's hash (64 hex digits, e.g. from GET /block/{h} of a node you trust).")
        var trustHash = ""
        @Flag(help: "Start the node after joining (as `gonka node start --home HOME`).") var start = false
        @Option(help: "Log level of the node with --start.") var logLevel = "info"

        func validate() throws {
            do {
                try JoinPlan.validate(
                    peer: peer, chainID: chainID, keyName: keyName, url: url,
                    listens: [("--p2p-listen", p2pListen), ("--rpc-listen", rpcListen), ("--api-listen", apiListen)],
                    timeouts: timeouts, pocThreads: pocThreads)
            } catch let error as DevnetError {
                throw ValidationError(error.description)
            }
            guard pocMaxNoncesPerSecond >= 0 else {
                throw ValidationError("--poc-max-nonces-per-second must be 0 (no cap) or positive")
            }
            if trustHeight > 0 || !trustHash.isEmpty {
                guard stateSync else { throw ValidationError("--trust-height and --trust-hash go with --state-sync") }
                guard trustHeight >= 2, Hash(hex: trustHash) != nil else {
                    throw ValidationError("--trust-height (at least 2) and --trust-hash (64 hex digits) go together")
                }
            }
            guard waitTimeout > 0 else { throw ValidationError("--wait-timeout must be positive") }
            if let model, !FileManager.default.fileExists(atPath: model) {
                throw ValidationError("--model \(model) does not exist")
            }
        }

        func run() async throws {
            var config = NodeConfig(
                moniker: moniker, chainID: "", accountKey: keyName, p2pListen: p2pListen, rpcListen: rpcListen,
                apiListen: apiListen, timeouts: timeouts)
            config.pocEnabled = true
            config.pocThreads = pocThreads
            config.pocMaxNoncesPerSecond = pocMaxNoncesPerSecond
            config.stateSyncEnabled = stateSync
            config.trustHeight = trustHeight
            config.trustHash = trustHash
            if stateSync, trustHash.isEmpty {
                // Trust the peer this join already takes the genesis from: its newest snapshot whose
                // next block it has names the block the node will check its snapshot against.
                let trusted = try await Self.trustedSnapshotBlock(peer: peer)
                config.trustHeight = trusted.height
                config.trustHash = trusted.hash
                print("state sync: trusting block \(trusted.height) \(trusted.hash) of \(peer)")
            }
            if let model {
                config.apiEnabled = true
                config.apiML = "embedded"
                config.apiModel = URL(fileURLWithPath: model).standardizedFileURL.path
            }
            let plan = JoinPlan(
                home: home.url, peer: peer, expectedChainID: chainID, url: url, config: config,
                timeout: .seconds(waitTimeout))
            let outcome = try await plan.run()
            outcome.print(home: home.url)
            if start {
                print("starting the node…")
                let node = try NodeCommand.Start.parse(["--home", home.url.path, "--log-level", logLevel])
                try await node.run()
            } else {
                print("start it with: gonka node start --home \(home.url.path)")
            }
        }
    }
}

extension NodeCommand.Join {
    /// The block after the peer's newest snapshot that it stores: (height, hash).
    static func trustedSnapshotBlock(peer: String) async throws -> (height: UInt64, hash: String) {
        let found: (height: UInt64, hash: String)?
        do {
            found = try await ChainClient(baseURL: peer).snapshotTrust()
        } catch {
            throw CLIError("--state-sync: cannot list the snapshots of \(peer): \(error)")
        }
        guard let found else {
            throw CLIError(
                "--state-sync: \(peer) offers no snapshot yet (taken every [state_sync] snapshot_interval blocks); "
                    + "join without --state-sync, or later")
        }
        return found
    }
}

extension JoinPlan.Outcome {
    func print(home: URL) {
        Swift.print(
            alreadyRegistered
                ? "already registered: \(account) (since height \(registeredAt)); going on"
                : "registered participant \(account) at height \(registeredAt)")
        Swift.print("  chain id:   \(chainID)")
        Swift.print("  consensus:  \(consensusKey)")
        Swift.print("  peer:       \(peerEntry)")
        Swift.print("  genesis:    \(home.appendingPathComponent("genesis.json").path)")
        Swift.print(
            "  config:     \(home.appendingPathComponent("config.toml").path)\(configKept ? " (kept as it was)" : "")"
        )
        Swift.print("It mines in the next sprint and becomes a validator at that epoch's switch once accepted.")
    }
}

extension Devnet {
    /// `gonka devnet join`
    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add one more participant to a running devnet: a new home, funded, joined and started.",
            discussion: """
                Writes DIR/nodeK (K = the next index) with fresh keys and loopback ports, funds its account from the faucet, runs `gonka node join` against node0's RPC and starts it as a detached process recorded in devnet.json, so `devnet status/down` see it. It mines in the next sprint and becomes a validator at that epoch's switch.
                """)
        @OptionGroup var dir: DirOptions
        @Option(help: "What the faucet sends the new account (covers the registration fee).") var amount = "1000gnk"
        @Option(help: "Seconds to wait for the new node to sync to the network's height.") var waitTimeout = 120

        func run() async throws {
            let dir = self.dir.url
            var manifest = try DevnetManifest.load(from: dir)
            let peer = try DevnetRunner.firstRunningNode(manifest, dir: dir)
            let value: Amount
            do {
                value = try Amount(parsing: amount)
            } catch {
                throw CLIError("--amount \(amount): \(error)")
            }
            let joiner = try DevnetJoiner(index: manifest.nodes.count, dir: dir)
            // Fund it from the faucet (the registration pays a fee).
            let faucet = try DevnetFaucet.key(manifest)
            let (_, funded) = try await DevnetFaucet.send(value, to: joiner.account.address, key: faucet, node: peer)
            guard funded.code == 0 else { throw CLIError("funding \(joiner.account.address) failed: \(funded.log)") }
            print("funded \(joiner.account.address) with \(value.gnkString)")
            let outcome = try await joiner.plan(peer: peer, manifest: manifest).run()
            outcome.print(home: joiner.home)
            var node = try joiner.node()
            node.pid = try DevnetProcess.start(
                binary: manifest.binary, home: node.home, logPath: node.logPath, netns: node.netns)
            manifest.nodes.append(node)
            try manifest.save(to: dir)
            print("started \(node.moniker) (pid \(node.pid ?? 0), rpc \(node.rpcURL)); waiting for it to sync…")
            let target = try await ChainClient(baseURL: peer.rpcURL).status().height
            try await DevnetRunner.waitForHeight(
                target,
                manifest: DevnetManifest(
                    chainID: manifest.chainID, binary: manifest.binary, testHooks: manifest.testHooks,
                    faucet: manifest.faucet, nodes: [node]), timeout: .seconds(waitTimeout))
            print(
                "\(node.moniker) is at height \(target) or later; `gonka devnet status --dir \(self.dir.dir)` shows it")
        }
    }
}
