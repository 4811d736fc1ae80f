import ArgumentParser
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Storage

/// Loads key `name` from `home`, signs `messages`, broadcasts them and prints the result (exit 2
/// when the chain refused the tx).
func broadcastAndPrint(
    _ messages: (Address) -> [Wire.Msg], keyName name: String, home: HomeOptions, node: NodeOptions,
    mode: ChainClient.BroadcastMode
) async throws {
    let key: SigningKey
    do {
        key = try KeyStore(home: home.url).load(name)
    } catch {
        throw CLIError("key \"\(name)\" in \(home.url.path): \(error)")
    }
    let client = try node.client()
    let result: BroadcastResult
    do {
        result = try await client.signAndBroadcast(messages(key.publicKey.address), key: key, mode: mode).result
    } catch let error as ChainClientError {
        throw CLIError(error.description)
    }
    try printBroadcast(result, json: node.json)
}

func parsePositiveAmount(_ text: String) throws -> Amount {
    let value: Amount
    do {
        value = try Amount(parsing: text)
    } catch {
        throw ValidationError("AMOUNT \"\(text)\": \(error)")
    }
    guard value > .zero else { throw ValidationError("AMOUNT must be positive") }
    return value
}

extension Tx {
    /// `gonka tx collateral deposit|withdraw FROM AMOUNT` (PROTOCOL §9).
    struct Collateral: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deposit or withdraw collateral (it backs PoC weight, PROTOCOL §5.6, §9).",
            subcommands: [Deposit.self, Withdraw.self])

        struct Deposit: AsyncParsableCommand {
            static func message(_ participant: Address, _ amount: Amount) -> Wire.MsgDepositCollateral {
                var msg = Wire.MsgDepositCollateral()
                msg.participant = participant.description
                msg.amount = amount.ngonka
                return msg
            }

            static let configuration = CommandConfiguration(
                abstract: "Move coins from a key's balance into its collateral.",
                discussion: "FROM is the name of a key in HOME/keys; AMOUNT e.g. 100gnk. The tx pays the fee.")
            @OptionGroup var home: HomeOptions
            @OptionGroup var node: NodeOptions
            @Argument(help: "The participant's key name.") var from: String
            @Argument(help: "The amount, e.g. 100gnk.") var amount: String
            @Option(help: "commit (wait for the block) or sync (return after checkTx).")
            var mode: ChainClient.BroadcastMode = .commit

            func validate() throws {
                try KeyStore.validate(name: from)
                _ = try parsePositiveAmount(amount)
            }

            func run() async throws {
                let value = try parsePositiveAmount(amount)
                try await broadcastAndPrint(
                    { address in
                        [
                            Wire.Msg(Self.message(address, value))
                        ]
                    }, keyName: from, home: home, node: node, mode: mode)
            }
        }

        struct Withdraw: AsyncParsableCommand {
            static func message(_ participant: Address, _ amount: Amount) -> Wire.MsgWithdrawCollateral {
                var msg = Wire.MsgWithdrawCollateral()
                msg.participant = participant.description
                msg.amount = amount.ngonka
                return msg
            }

            static let configuration = CommandConfiguration(
                abstract: "Start unbonding part of a key's collateral.",
                discussion: """
                    The amount stops backing weight at once, stays slashable while it unbonds, and is paid back at the first epoch start collateral_unbonding_epochs epochs later (see `gonka query collateral`). More than the deposit is refused.
                    """)
            @OptionGroup var home: HomeOptions
            @OptionGroup var node: NodeOptions
            @Argument(help: "The participant's key name.") var from: String
            @Argument(help: "The amount, e.g. 10gnk.") var amount: String
            @Option(help: "commit (wait for the block) or sync (return after checkTx).")
            var mode: ChainClient.BroadcastMode = .commit

            func validate() throws {
                try KeyStore.validate(name: from)
                _ = try parsePositiveAmount(amount)
            }

            func run() async throws {
                let value = try parsePositiveAmount(amount)
                try await broadcastAndPrint(
                    { address in
                        [
                            Wire.Msg(Self.message(address, value))
                        ]
                    }, keyName: from, home: home, node: node, mode: mode)
            }
        }
    }

    /// `gonka tx unjail FROM` (PROTOCOL §9).
    struct Unjail: AsyncParsableCommand {
        static func message(_ validator: Address) -> Wire.MsgUnjail {
            var msg = Wire.MsgUnjail()
            msg.validator = validator.description
            return msg
        }

        static let configuration = CommandConfiguration(
            abstract: "End a validator's jail once jail_blocks have passed.",
            discussion: "Refused when the validator is not jailed, too early, or tombstoned (double sign).")
        @OptionGroup var home: HomeOptions
        @OptionGroup var node: NodeOptions
        @Argument(help: "The validator's key name.") var from: String
        @Option(help: "commit (wait for the block) or sync (return after checkTx).")
        var mode: ChainClient.BroadcastMode = .commit

        func validate() throws { try KeyStore.validate(name: from) }

        func run() async throws {
            try await broadcastAndPrint(
                { address in [Wire.Msg(Self.message(address))] }, keyName: from,
                home: home, node: node, mode: mode)
        }
    }
}

extension Query {
    /// `gonka query collateral ADDR`.
    struct CollateralCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "collateral", abstract: "A participant's collateral, jail and liveness window.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "A gonka1… address.") var address: String

        func validate() throws { _ = try parseAddressArgument(address, name: "ADDRESS") }

        func run() async throws {
            let client = try node.client()
            let target = try parseAddressArgument(address, name: "ADDRESS")
            let info = try await rpc { () async throws(ChainClientError) in try await client.collateral(target) }
            if node.json { return printJSON(info) }
            print("address:    \(info.address)")
            print("deposit:    \(info.deposit)")
            for entry in info.unbonding {
                print("unbonding:  \(entry.amount) until height \(entry.releaseHeight)")
            }
            let standing =
                info.tombstoned ? "TOMBSTONED" : info.jailed ? "JAILED until height \(info.jailedUntil)" : "active"
            print("validator:  \(standing)")
            print("liveness:   \(info.blocksMissed) missed in the window, \(info.blocksCounted) blocks counted")
        }
    }

    /// `gonka query slashes [ADDR]`.
    struct Slashes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The slash log, all or one participant's.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "Only this participant's (a gonka1… address).") var address: String?

        func validate() throws { if let address { _ = try parseAddressArgument(address, name: "ADDRESS") } }

        func run() async throws {
            let client = try node.client()
            let target = try address.map { try parseAddressArgument($0, name: "ADDRESS") }
            let list = try await rpc { () async throws(ChainClientError) in try await client.slashes(of: target) }
            if node.json { return printJSON(list) }
            if list.isEmpty { print("no slashes") }
            for s in list {
                let marks = (s.tombstoned ? "  TOMBSTONED" : s.jailed ? "  JAILED" : "")
                print(
                    "#\(s.sequence)  height \(s.height)  \(s.address)  \(s.reason)  burned \(s.burnedDeposit) + "
                        + "\(s.burnedUnbonding) unbonding\(marks)")
            }
        }
    }
}
