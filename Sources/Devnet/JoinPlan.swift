import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Ledger
import Storage

/// The steps of `gonka node join` (and `gonka devnet join`): check the peer and the home, make the
/// keys, register, then write genesis and config. Everything that can fail on the network or on
/// the chain happens before the files that tie the home to the chain are written.
public struct JoinPlan: Sendable {
    public var home: URL
    public var peer: String
    public var expectedChainID: String?
    /// The public API URL registered on chain.
    public var url: String
    /// The config to write; `chainID` and `persistentPeers` are filled in from the peer.
    public var config: NodeConfig
    public var timeout: Duration

    /// A plan to join through `peer` (its chain must be `expectedChainID` when given).
    public init(
        home: URL, peer: String, expectedChainID: String?, url: String, config: NodeConfig, timeout: Duration
    ) {
        self.home = home
        self.peer = peer
        self.expectedChainID = expectedChainID
        self.url = url
        self.config = config
        self.timeout = timeout
    }

    /// What the join did, for the command to print.
    public struct Outcome: Sendable {
        public var chainID: String
        public var account: Address
        public var consensusKey: String
        public var p2pKey: String
        public var peerEntry: String
        /// Height of the registration's block; nil when the account was registered before.
        public var registeredAt: UInt64
        public var alreadyRegistered: Bool
        public var configKept: Bool
    }

    /// Runs the steps; nothing but keys is written to the home unless the registration is committed.
    public func run() async throws -> Outcome {
        let fm = FileManager.default
        let client: ChainClient
        do {
            client = try ChainClient(baseURL: peer, timeout: timeout)
        } catch {
            throw DevnetError("--peer: \(error)")
        }
        // 1. The network, as the peer sees it.
        let status: NodeStatus
        let genesisBytes: Data
        do {
            status = try await client.status()
            genesisBytes = try await client.genesis()
        } catch {
            throw DevnetError("cannot reach the peer \(peer): \(error)")
        }
        if let expectedChainID, status.chainID != expectedChainID {
            throw DevnetError("the peer \(peer) serves chain \"\(status.chainID)\", not \"\(expectedChainID)\"")
        }
        let genesis: Genesis
        do {
            genesis = try Genesis.decode(json: genesisBytes)
        } catch {
            throw DevnetError("the peer's genesis is unreadable: \(error)")
        }
        guard genesis.chainID == status.chainID else {
            throw DevnetError(
                "the peer's genesis is of chain \"\(genesis.chainID)\" but it reports \"\(status.chainID)\"")
        }
        guard let p2p = status.p2pListen, let p2pAddress = try? HostPort(parsing: p2p) else {
            throw DevnetError("the peer \(peer) does not report its P2P address (p2p_listen in GET /status)")
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
                throw DevnetError("\(configURL.path) exists but is unreadable (\(error)); choose another --home")
            }
            guard existing.chainID == genesis.chainID else {
                throw DevnetError(
                    "\(home.path) belongs to chain \"\(existing.chainID)\", not \"\(genesis.chainID)\"; "
                        + "choose another --home")
            }
            configKept = true
        }
        if fm.fileExists(atPath: genesisURL.path) {
            let existing = (try? Data(contentsOf: genesisURL)) ?? Data()
            if existing != genesisBytes {
                let other = (try? Genesis.decode(json: existing))?.chainID ?? "unreadable"
                throw DevnetError(
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
            throw DevnetError("cannot create the keys in \(home.path): \(error)")
        }
        let address = account.publicKey.address

        // 4. Registration (skipped when the chain already has this participant).
        let registeredAt: UInt64
        let already: Bool
        do {
            if let mine = try await client.participants().first(where: { $0.address == address.description }) {
                guard mine.consensusPubkey.lowercased() == consensus.publicKey.lowercased() else {
                    throw DevnetError(
                        "\(address) is registered with another consensus key (\(mine.consensusPubkey)) than "
                            + "\(home.path)/keys/\(config.consensusKey).json")
                }
                registeredAt = mine.registeredHeight
                already = true
            } else {
                registeredAt = try await register(client: client, account: account, consensus: consensus, p2p: p2pKey)
                already = false
            }
        } catch let error as DevnetError {
            throw error
        } catch {
            throw DevnetError("registering \(address) through \(peer) failed: \(error)")
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
            throw DevnetError("cannot write \(home.path): \(error)")
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
        guard result.code == 0 else { throw DevnetError("the registration tx \(tx.hash) failed: \(result.log)") }
        return result.height ?? status.height
    }

    static func unfunded(_ address: Address, balance: Amount, fee: Amount) -> DevnetError {
        DevnetError(
            "account \(address) holds \(balance.gnkString), the registration fee is \(fee.gnkString): "
                + "fund it first: gonka devnet fund \(address) 1gnk (on a devnet; else send it funds from any account)")
    }
}
