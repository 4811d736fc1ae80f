import ArgumentParser
import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Ledger
import Storage

extension NodeCommand {
    /// `gonka node join`
    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a running network: register this home as a new participant through a peer.",
            discussion: """
                Creates HOME (keys account/consensus/p2p, 0600) if needed, takes the network's genesis and chain id from the peer's chain RPC (GET /status, GET /genesis), sends MsgRegisterParticipant signed by the account key to the peer and waits for its block, then writes HOME/genesis.json and HOME/config.toml (the peer as persistent peer, [poc] enabled). The node then block-syncs, mines in the next sprint and, once its PoC is accepted, becomes a validator at that epoch's switch (PROTOCOL §4, §5). The account pays the registration tx's fee: fund it first (on a devnet: gonka devnet fund ADDR AMOUNT). Re-running on a registered home goes on without registering again. Nothing is written to HOME but keys until the registration is committed.
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
        @Flag(help: "Start the node after joining (as `gonka node start --home HOME`).") var start = false
        @Option(help: "Log level of the node with --start.") var logLevel = "info"

        func validate() throws {
            try JoinPlan.validate(
                peer: peer, chainID: chainID, keyName: keyName, url: url,
                listens: [("--p2p-listen", p2pListen), ("--rpc-listen", rpcListen), ("--api-listen", apiListen)],
                timeouts: timeouts, pocThreads: pocThreads)
            guard pocMaxNoncesPerSecond >= 0 else {
                throw ValidationError("--poc-max-nonces-per-second must be 0 (no cap) or positive")
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

/// The steps of `gonka node join` (and `gonka devnet join`): check the peer and the home, make the
/// keys, register, then write genesis and config. Everything that can fail on the network or on
/// the chain happens before the files that tie the home to the chain are written.
struct JoinPlan {
    var home: URL
    var peer: String
    var expectedChainID: String?
    /// The public API URL registered on chain.
    var url: String
    /// The config to write; `chainID` and `persistentPeers` are filled in from the peer.
    var config: NodeConfig
    var timeout: Duration

    struct Outcome {
        var chainID: String
        var account: Address
        var consensusKey: String
        var p2pKey: String
        var peerEntry: String
        /// Height of the registration's block; nil when the account was registered before.
        var registeredAt: UInt64
        var alreadyRegistered: Bool
        var configKept: Bool

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

    static func validate(
        peer: String, chainID: String?, keyName: String, url: String, listens: [(String, String)], timeouts: String,
        pocThreads: Int
    ) throws {
        do {
            _ = try ChainClient(baseURL: peer)
        } catch {
            throw ValidationError("--peer \"\(peer)\" is not a chain RPC URL (expected http://HOST:PORT)")
        }
        if let chainID, !Genesis.isValidChainID(chainID) {
            throw ValidationError("--chain-id \"\(chainID)\" must be 1–50 characters of a-z, 0-9, '-', '_' or '.'")
        }
        try KeyStore.validate(name: keyName)
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.utf8.count <= 256,
            !url.contains(where: \.isWhitespace), URL(string: url)?.host?.isEmpty == false
        else {
            throw ValidationError("--url \"\(url)\" must be an http(s) URL of at most 256 bytes")
        }
        for (flag, value) in listens {
            do {
                _ = try HostPort(parsing: value)
            } catch {
                throw ValidationError("\(flag) \"\(value)\" is not host:port")
            }
        }
        guard ["devnet", "mainnet", "fast"].contains(timeouts) else {
            throw ValidationError("--timeouts must be devnet, mainnet or fast")
        }
        guard pocThreads >= 1 else { throw ValidationError("--poc-threads must be at least 1") }
    }

    func run() async throws -> Outcome {
        let fm = FileManager.default
        let client: ChainClient
        do {
            client = try ChainClient(baseURL: peer, timeout: timeout)
        } catch {
            throw CLIError("--peer: \(error)")
        }
        // 1. The network, as the peer sees it.
        let status: NodeStatus
        let genesisBytes: Data
        do {
            status = try await client.status()
            genesisBytes = try await client.genesis()
        } catch {
            throw CLIError("cannot reach the peer \(peer): \(error)")
        }
        if let expectedChainID, status.chainID != expectedChainID {
            throw CLIError("the peer \(peer) serves chain \"\(status.chainID)\", not \"\(expectedChainID)\"")
        }
        let genesis: Genesis
        do {
            genesis = try Genesis.decode(json: genesisBytes)
        } catch {
            throw CLIError("the peer's genesis is unreadable: \(error)")
        }
        guard genesis.chainID == status.chainID else {
            throw CLIError(
                "the peer's genesis is of chain \"\(genesis.chainID)\" but it reports \"\(status.chainID)\"")
        }
        guard let p2p = status.p2pListen, let p2pAddress = try? HostPort(parsing: p2p) else {
            throw CLIError("the peer \(peer) does not report its P2P address (p2p_listen in GET /status)")
        }
        let peerHost =
            ["0.0.0.0", "::", ""].contains(p2pAddress.host)
            ? (URL(string: client.baseURL)?.host ?? "") : p2pAddress.host
        let peerEntry = "\(status.nodeID)@\(peerHost):\(p2pAddress.port)"
        // The peer's outbound connections go to listen addresses: more peers to start from (there
        // is no peer exchange yet, and a validator wants direct links to the others' votes).
        let morePeers = status.peers.filter { $0.outbound && !$0.address.isEmpty }.map { "\($0.id)@\($0.address)" }

        // 2. The home: empty, or already of this chain.
        let genesisURL = home.appendingPathComponent("genesis.json")
        let configURL = home.appendingPathComponent("config.toml")
        var configKept = false
        if fm.fileExists(atPath: configURL.path) {
            let existing: NodeConfig
            do {
                existing = try NodeConfig(toml: String(contentsOf: configURL, encoding: .utf8))
            } catch {
                throw CLIError("\(configURL.path) exists but is unreadable (\(error)); choose another --home")
            }
            guard existing.chainID == genesis.chainID else {
                throw CLIError(
                    "\(home.path) belongs to chain \"\(existing.chainID)\", not \"\(genesis.chainID)\"; "
                        + "choose another --home")
            }
            configKept = true
        }
        if fm.fileExists(atPath: genesisURL.path) {
            let existing = (try? Data(contentsOf: genesisURL)) ?? Data()
            if existing != genesisBytes {
                let other = (try? Genesis.decode(json: existing))?.chainID ?? "unreadable"
                throw CLIError(
                    "\(home.path) holds another genesis (chain \"\(other)\") than the peer's \"\(genesis.chainID)\"; "
                        + "choose another --home")
            }
        }

        // 3. Keys (0600). They tie the home to no chain, so they stay even if the rest fails: the
        // account's address is what has to be funded.
        let accountName = configKept ? (try? existingAccountKey(configURL)) ?? config.accountKey : config.accountKey
        let keys = KeyStore(home: home)
        let account: SigningKey
        let consensus: KeyStore.Entry
        let p2pKey: KeyStore.Entry
        do {
            try fm.createDirectory(at: home, withIntermediateDirectories: true)
            _ = try keys.entryOrCreate(accountName)
            account = try keys.load(accountName)
            consensus = try keys.entryOrCreate(config.consensusKey)
            p2pKey = try keys.entryOrCreate(config.p2pKey)
        } catch {
            throw CLIError("cannot create the keys in \(home.path): \(error)")
        }
        let address = account.publicKey.address

        // 4. Registration (skipped when the chain already has this participant).
        let registeredAt: UInt64
        let already: Bool
        do {
            if let mine = try await client.participants().first(where: { $0.address == address.description }) {
                guard mine.consensusPubkey.lowercased() == consensus.publicKey.lowercased() else {
                    throw CLIError(
                        "\(address) is registered with another consensus key (\(mine.consensusPubkey)) than "
                            + "\(home.path)/keys/\(config.consensusKey).json")
                }
                registeredAt = mine.registeredHeight
                already = true
            } else {
                registeredAt = try await register(client: client, account: account, consensus: consensus, p2p: p2pKey)
                already = false
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("registering \(address) through \(peer) failed: \(error)")
        }

        // 5. Only now the files that point the home at the chain.
        var config = self.config
        config.chainID = genesis.chainID
        config.accountKey = accountName
        config.persistentPeers = [peerEntry] + morePeers.filter { $0 != peerEntry }
        do {
            try fm.createDirectory(at: home.appendingPathComponent("data"), withIntermediateDirectories: true)
            try genesisBytes.write(to: genesisURL, options: .atomic)
            if !configKept {
                try config.toml.write(to: configURL, atomically: true, encoding: .utf8)
            }
        } catch {
            throw CLIError("cannot write \(home.path): \(error)")
        }
        return Outcome(
            chainID: genesis.chainID, account: address, consensusKey: consensus.publicKey, p2pKey: p2pKey.publicKey,
            peerEntry: peerEntry, registeredAt: registeredAt, alreadyRegistered: already, configKept: configKept)
    }

    private func existingAccountKey(_ configURL: URL) throws -> String {
        try NodeConfig(toml: String(contentsOf: configURL, encoding: .utf8)).accountKey
    }

    /// Sends `MsgRegisterParticipant` and waits for its block; the height it committed at.
    private func register(
        client: ChainClient, account: SigningKey, consensus: KeyStore.Entry, p2p: KeyStore.Entry
    ) async throws -> UInt64 {
        let address = account.publicKey.address
        var msg = Wire.MsgRegisterParticipant()
        msg.participant = address.description
        msg.url = url
        msg.consensusPubkey = Data(Hex.decode(consensus.publicKey) ?? [])
        msg.p2PPubkey = Data(Hex.decode(p2p.publicKey) ?? [])
        let status = try await client.status()
        let params = try await client.params()
        let sequence = try await client.account(address).sequence
        let tx = try TxBuilder(chainID: status.chainID, key: account, minGasPrice: params.minGasPrice)
            .build([Wire.Msg(msg)], sequence: sequence)
        let fee = Amount(ngonka: tx.fee)
        let balance = try await client.balance(address)
        guard balance.ngonka >= tx.fee else { throw Self.unfunded(address, balance: balance, fee: fee) }
        let result: BroadcastResult
        do {
            result = try await client.broadcast(tx.bytes, mode: .commit)
        } catch {
            // Spent between the balance check and the broadcast.
            let code = (error as any Error as? ChainClientError)?.serverCode
            if code == "insufficient_funds" || code == "fee_too_low" {
                throw Self.unfunded(address, balance: balance, fee: fee)
            }
            throw error
        }
        guard result.code == 0 else { throw CLIError("the registration tx \(tx.hash) failed: \(result.log)") }
        return result.height ?? status.height
    }

    static func unfunded(_ address: Address, balance: Amount, fee: Amount) -> CLIError {
        CLIError(
            "account \(address) holds \(balance.gnkString), the registration fee is \(fee.gnkString): "
                + "fund it first: gonka devnet fund \(address) 1gnk (on a devnet; else send it funds from any account)")
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
            guard let peer = manifest.nodes.first(where: { DevnetProcess.isRunning($0.pid, home: $0.home) }) else {
                throw CLIError("no devnet node is running in \(dir.path) (gonka devnet up)")
            }
            let value: Amount
            do {
                value = try Amount(parsing: amount)
            } catch {
                throw CLIError("--amount \(amount): \(error)")
            }
            let index = manifest.nodes.count
            let home = dir.appendingPathComponent("node\(index)", isDirectory: true)
            guard !FileManager.default.fileExists(atPath: home.appendingPathComponent("config.toml").path) else {
                throw CLIError("\(home.path) already exists but is not in devnet.json; remove it first")
            }
            let ports = try FreePorts.allocate(3)
            let keys = KeyStore(home: home)
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            let account = try keys.entryOrCreate("validator")
            let consensus = try keys.entryOrCreate("consensus")
            let p2p = try keys.entryOrCreate("p2p")
            // Fund it from the faucet (the registration pays a fee).
            let faucet = try KeyStore(home: URL(fileURLWithPath: manifest.faucet.home, isDirectory: true))
                .load(manifest.faucet.key)
            var send = Wire.MsgSend()
            send.fromAddress = faucet.publicKey.address.description
            send.toAddress = account.address.description
            send.amount = value.ngonka
            let client = try ChainClient(baseURL: peer.rpcURL)
            let (_, funded) = try await client.signAndBroadcast([Wire.Msg(send)], key: faucet, mode: .commit)
            guard funded.code == 0 else { throw CLIError("funding \(account.address) failed: \(funded.log)") }
            print("funded \(account.address) with \(value.gnkString)")
            var config = NodeConfig(
                moniker: "node\(index)", chainID: "", accountKey: "validator", p2pListen: "127.0.0.1:\(ports[0])",
                rpcListen: "127.0.0.1:\(ports[1])", apiListen: "127.0.0.1:\(ports[2])", timeouts: "devnet",
                testHooks: manifest.testHooks)
            config.pocEnabled = true
            let plan = JoinPlan(
                home: home, peer: peer.rpcURL, expectedChainID: manifest.chainID, url: "http://127.0.0.1:\(ports[2])",
                config: config, timeout: .seconds(40))
            let outcome = try await plan.run()
            outcome.print(home: home)
            let consensusKey = try PublicKey(bytes: Hex.decode(consensus.publicKey) ?? [])
            var node = DevnetManifest.Node(
                index: index, moniker: "node\(index)", home: home.path, pid: nil, p2pPort: ports[0], rpcPort: ports[1],
                apiPort: ports[2], nodeID: p2p.publicKey, accountAddress: account.address,
                validatorAddress: Hex.encode(consensusKey.address.bytes))
            node.pid = try DevnetProcess.start(binary: manifest.binary, home: node.home, logPath: node.logPath)
            manifest.nodes.append(node)
            try manifest.save(to: dir)
            print("started \(node.moniker) (pid \(node.pid ?? 0), rpc \(node.rpcURL)); waiting for it to sync…")
            let target = try await client.status().height
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
