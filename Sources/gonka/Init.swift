import ArgumentParser
import ChainNode
import Foundation
import GonkaCore
import Ledger
import Storage

/// `gonka init`
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a node home: keys, config.toml and a genesis with this node as sole validator.",
        discussion: """
            Creates HOME/keys/{ACCOUNT,consensus,p2p}.json (reusing keys that already exist), HOME/config.toml, HOME/genesis.json and HOME/data/. The genesis funds the account key with --amount and makes this node the only validator with --power. Add more funded accounts with `gonka genesis add-account`.
            """
    )

    @OptionGroup var home: HomeOptions
    @Option(help: "The chain id (1–50 of a-z, 0-9, '-', '_', '.').") var chainID: String
    @Option(help: "A human name for this node.") var moniker = "node0"
    @Option(help: "Name of the account key to create or reuse.") var keyName = "validator"
    @Option(help: "Genesis balance of the account key, e.g. 1000000gnk.") var amount = "1000000gnk"
    @Option(help: "Genesis voting power of this validator.") var power: UInt64 = 100
    @Option(help: "Public URL of this node's API.") var url = "http://127.0.0.1:9000"
    @Flag(help: "Overwrite an existing config.toml and genesis.json (keys are kept).") var force = false

    func validate() throws {
        guard Genesis.isValidChainID(chainID) else {
            throw ValidationError("--chain-id \"\(chainID)\" must be 1–50 characters of a-z, 0-9, '-', '_' or '.'")
        }
        do {
            _ = try Amount(parsing: amount)
        } catch {
            throw ValidationError("--amount: \(error)")
        }
        guard power > 0 else { throw ValidationError("--power must be positive") }
        try KeyStore.validate(name: keyName)
    }

    func run() throws {
        let fm = FileManager.default
        if !force, fm.fileExists(atPath: home.genesisURL.path) || fm.fileExists(atPath: home.configURL.path) {
            throw CLIError(
                "\(home.url.path) is already initialised (use --force to overwrite config.toml and genesis.json)")
        }
        try fm.createDirectory(at: home.url.appendingPathComponent("data"), withIntermediateDirectories: true)
        let keys = KeyStore(home: home.url)
        let account = try keys.entryOrCreate(keyName)
        let consensus = try keys.entryOrCreate("consensus")
        let p2p = try keys.entryOrCreate("p2p")
        let balance = try Amount(parsing: amount)
        let genesis = Genesis(
            chainID: chainID,
            genesisTime: ISO8601DateFormatter().string(from: Date()),
            accounts: [.init(address: account.address, balance: balance)],
            validators: [
                .init(
                    name: moniker, address: account.address, url: url, consensusPubkey: consensus.publicKey,
                    p2pPubkey: p2p.publicKey, power: power)
            ],
            // The embedded model, under the id the ML node serves it as.
            models: [.devnetDefault])
        try genesis.validate()
        try genesis.encodedJSON().write(to: home.genesisURL, options: .atomic)
        try NodeConfig(moniker: moniker, chainID: chainID, accountKey: keyName).toml
            .write(to: home.configURL, atomically: true, encoding: .utf8)
        print("initialised \(home.url.path)")
        print("  chain id:   \(chainID)")
        print("  account:    \(account.address) (key \"\(keyName)\", \(balance.gnkString))")
        print("  validator:  \(moniker), power \(power), consensus key \(consensus.publicKey)")
        print("  genesis:    \(home.genesisURL.path)")
        print("  config:     \(home.configURL.path)")
    }
}
