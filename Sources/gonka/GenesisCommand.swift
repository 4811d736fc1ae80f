import ArgumentParser
import Foundation
import GonkaCore
import Ledger
import Storage

/// `gonka genesis …`
struct GenesisCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genesis",
        abstract: "Edit and check HOME/genesis.json before the chain starts.",
        subcommands: [AddAccount.self, Validate.self]
    )

    struct AddAccount: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-account",
            abstract: "Fund an account in the genesis file.",
            discussion:
                "ADDRESS is a gonka1… address or the name of a key in HOME/keys. AMOUNT is e.g. 1.5gnk or 1500000000ngonka."
        )
        @OptionGroup var home: HomeOptions
        @Argument(help: "A gonka1… address or a key name.") var address: String
        @Argument(help: "The balance, e.g. 1000gnk.") var amount: String

        func validate() throws {
            let balance: Amount
            do {
                balance = try Amount(parsing: amount)
            } catch {
                throw ValidationError("AMOUNT: \(error)")
            }
            guard balance > .zero else { throw ValidationError("AMOUNT must be positive") }
        }

        func run() throws {
            var genesis = try loadGenesis(home)
            let target = try resolveAddress(address, home: home)
            let balance = try Amount(parsing: amount)
            guard !genesis.accounts.contains(where: { $0.address == target }) else {
                throw CLIError("\(target) already has a genesis balance; nothing changed")
            }
            genesis.accounts.append(.init(address: target, balance: balance))
            try genesis.validate()
            try genesis.encodedJSON().write(to: home.genesisURL, options: .atomic)
            print("added \(target) with \(balance.gnkString) to \(home.genesisURL.path)")
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the genesis file and print what it contains.")
        @OptionGroup var home: HomeOptions

        func run() throws {
            let genesis = try loadGenesis(home)
            let total =
                genesis.accounts.reduce(UInt128(0)) { $0 + UInt128($1.balance.ngonka) }
                + genesis.moduleAccounts.reduce(UInt128(0)) { $0 + UInt128($1.balance.ngonka) }
            print("genesis ok: chain \(genesis.chainID)")
            print("  accounts:   \(genesis.accounts.count), supply \(Amount(ngonka: UInt64(total)).gnkString)")
            print("  validators: \(genesis.validators.count), power \(genesis.validators.reduce(0) { $0 + $1.power })")
        }
    }
}

func loadGenesis(_ home: HomeOptions) throws -> Genesis {
    let path = home.genesisURL.path
    guard FileManager.default.fileExists(atPath: path) else {
        throw CLIError("no genesis at \(path) (run `gonka init --chain-id ID --home \(home.url.path)` first)")
    }
    let data: Data
    do {
        data = try Data(contentsOf: home.genesisURL)
    } catch {
        throw CLIError("cannot read \(path): \(error.localizedDescription)")
    }
    do {
        return try Genesis.decode(json: data)
    } catch {
        throw CLIError("\(path): \(error)")
    }
}

/// An address given on the command line, or the address of a key with that name.
func resolveAddress(_ text: String, home: HomeOptions) throws -> Address {
    if text.lowercased().hasPrefix(Address.humanReadablePart + "1") {
        do {
            return try Address(text)
        } catch {
            throw CLIError("\"\(text)\" is not a valid address: \(error)")
        }
    }
    do {
        return try KeyStore(home: home.url).entry(text).address
    } catch {
        throw CLIError("\"\(text)\" is neither a gonka1… address nor a key name (\(error))")
    }
}
