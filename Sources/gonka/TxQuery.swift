import ArgumentParser
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Storage

/// `--node` and `--json`, shared by the commands that talk to a node's RPC.
struct NodeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The node's RPC URL.", discussion: "Default: $GONKA_NODE, else http://127.0.0.1:26657."))
    var node: String?
    @Flag(help: "Print the node's answer as JSON.") var json = false

    var url: String {
        if let node { return node }
        if let env = ProcessInfo.processInfo.environment["GONKA_NODE"], !env.isEmpty { return env }
        return "http://127.0.0.1:26657"
    }

    func client() throws -> ChainClient {
        do {
            return try ChainClient(baseURL: url)
        } catch {
            throw CLIError("--node: \(error)")
        }
    }
}

/// Runs a client call, turning its error into the CLI's `error: …` line.
func rpc<T>(_ body: () async throws(ChainClientError) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw CLIError("\(error)")
    }
}

/// Prints a broadcast's outcome (or its JSON with `--json`); exit code 2 when the chain refused it.
func printBroadcast(_ result: BroadcastResult, json: Bool) throws {
    if json {
        printJSON(result)
    } else {
        print("hash:   \(result.hash)")
        if let height = result.height { print("height: \(height)") }
        print("code:   \(result.code)\(result.log.isEmpty ? "" : " (\(result.log))")")
    }
    if result.code != 0 { throw ExitCode(2) }
}

func parseAddressArgument(_ text: String, name: String) throws -> Address {
    do {
        return try Address(text)
    } catch {
        throw ValidationError("\(name) \"\(text)\" is not a gonka1… address: \(error)")
    }
}

/// `gonka tx …`
struct Tx: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign and broadcast transactions.",
        subcommands: [Bank.self, Claim.self, Collateral.self, Unjail.self, Gov.self])

    struct Bank: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bank transactions.", subcommands: [Send.self])

        struct Send: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Send coins from a key in --home to an address.",
                discussion: """
                    FROM is the name of a key in HOME/keys; TO a gonka1… address; AMOUNT e.g. 1.5gnk or 1000ngonka. The fee (min_gas_price × tx size) and the sequence come from the node. --mode commit (default) waits until the tx is in a block.
                    """)
            @OptionGroup var home: HomeOptions
            @OptionGroup var node: NodeOptions
            @Argument(help: "The sender's key name.") var from: String
            @Argument(help: "The recipient's gonka1… address.") var to: String
            @Argument(help: "The amount, e.g. 1.5gnk.") var amount: String
            @Option(help: "commit (wait for the block) or sync (return after checkTx).")
            var mode: ChainClient.BroadcastMode = .commit
            @Option(help: "A note stored with the tx.") var memo = ""

            func validate() throws {
                try KeyStore.validate(name: from)
                _ = try parseAddressArgument(to, name: "TO")
                let value: Amount
                do {
                    value = try Amount(parsing: amount)
                } catch {
                    throw ValidationError("AMOUNT \"\(amount)\": \(error)")
                }
                guard value > .zero else { throw ValidationError("AMOUNT must be positive") }
            }

            func run() async throws {
                let key: SigningKey
                do {
                    key = try KeyStore(home: home.url).load(from)
                } catch {
                    throw CLIError("key \"\(from)\" in \(home.url.path): \(error)")
                }
                let recipient = try parseAddressArgument(to, name: "TO")
                let value = try Amount(parsing: amount)
                let client = try node.client()
                var send = Wire.MsgSend()
                send.fromAddress = key.publicKey.address.description
                send.toAddress = recipient.description
                send.amount = value.ngonka
                let result: BroadcastResult
                do {
                    result = try await client.signAndBroadcast([Wire.Msg(send)], key: key, mode: mode, memo: memo)
                        .result
                } catch let error as ChainClientError {
                    throw CLIError(error.description)
                }
                try printBroadcast(result, json: node.json)
            }
        }
    }
}

extension ChainClient.BroadcastMode: ExpressibleByArgument {}

/// `gonka query …`
struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the chain through a node's RPC.",
        subcommands: [
            Status.self, Balance.self, Account.self, Block.self, TxCommand.self, EpochCommand.self,
            ParticipantsCommand.self, PocCommand.self, InferenceCommand.self, Models.self, Executors.self,
            Misses.self, ValidationsCommand.self, Supply.self, SettlementCommand.self, RewardsCommand.self,
            Proposals.self, Proposal.self, Params.self,
            CollateralCommand.self, Slashes.self,
        ])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The node's height, hashes, peers and role.")
        @OptionGroup var node: NodeOptions

        func run() async throws {
            let client = try node.client()
            let status = try await rpc { () async throws(ChainClientError) in try await client.status() }
            if node.json { return printJSON(status) }
            print("chain:      \(status.chainID)  node \(status.moniker) (\(status.nodeID.prefix(16))…)")
            print("height:     \(status.height)  block \(status.blockHash)")
            print("app hash:   \(status.appHash)")
            print(
                "consensus:  height \(status.consensus.height) round \(status.consensus.round) \(status.consensus.step)"
            )
            print("peers:      \(status.peers.count)  mempool \(status.mempoolSize)  catching up \(status.catchingUp)")
            if let validator = status.validator { print("validator:  \(validator.address) power \(validator.power)") }
        }
    }

    struct Balance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An address's balance.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "A gonka1… address.") var address: String
        @Option(help: "Read at this height (default: latest).") var height: UInt64?

        func validate() throws { _ = try parseAddressArgument(address, name: "ADDRESS") }

        func run() async throws {
            let client = try node.client()
            let target = try parseAddressArgument(address, name: "ADDRESS")
            if node.json {
                let result = try await rpc { () async throws(ChainClientError) in
                    try await client.query("balance/\(target)", height: height)
                }
                return printJSON(result)
            }
            let amount = try await rpc { () async throws(ChainClientError) in
                try await client.balance(target, height: height)
            }
            print("\(amount.gnkString) (\(amount))")
        }
    }

    struct Account: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An account's sequence and public key.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "A gonka1… address.") var address: String

        func validate() throws { _ = try parseAddressArgument(address, name: "ADDRESS") }

        func run() async throws {
            let client = try node.client()
            let target = try parseAddressArgument(address, name: "ADDRESS")
            let account = try await rpc { () async throws(ChainClientError) in try await client.account(target) }
            if node.json { return printJSON(account) }
            print("address:  \(account.address)")
            print("sequence: \(account.sequence)")
            print("pubkey:   \(account.pubKey ?? "(none yet)")")
        }
    }

    struct Block: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A committed block.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "The height (1 or more).") var height: UInt64

        func validate() throws { guard height > 0 else { throw ValidationError("HEIGHT must be at least 1") } }

        func run() async throws {
            let client = try node.client()
            let block = try await rpc { () async throws(ChainClientError) in try await client.block(height) }
            if node.json { return printJSON(block) }
            print("height:    \(block.height)  time_ms \(block.timeMs)")
            print("hash:      \(block.hash)")
            print("app hash:  \(block.appHash)")
            print("proposer:  \(block.proposer)")
            print("txs:       \(block.numTxs)")
            for tx in block.txs { print("  \(tx.hash)") }
            print("commit:    round \(block.commit.round), \(block.commit.signers.count) signers")
        }
    }

    struct TxCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "tx", abstract: "A committed tx by hash.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "The tx hash (64 hex digits).") var hash: String

        func validate() throws {
            guard hash.count == 64, Hex.decode(hash) != nil else {
                throw ValidationError("HASH \"\(hash)\" must be 64 hex digits")
            }
        }

        func run() async throws {
            let client = try node.client()
            let result = try await rpc { () async throws(ChainClientError) in try await client.tx(hash) }
            if node.json { return printJSON(result) }
            print("hash:   \(result.hash)")
            print("height: \(result.height)  index \(result.index)")
            print("code:   \(result.code)\(result.log.isEmpty ? "" : " (\(result.log))")")
            for event in result.events {
                let attributes = event.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                print("  \(event.type) \(attributes.joined(separator: " "))")
            }
        }
    }
}
