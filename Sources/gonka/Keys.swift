import ArgumentParser
import Foundation
import GonkaCore
import Storage

/// `gonka keys …`
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage Ed25519 account keys.",
        discussion: """
            Keys are stored as HOME/keys/NAME.json, readable only by you (mode 0600). Private keys are never printed unless you ask with `keys show NAME --reveal-private-key`.
            """,
        subcommands: [Add.self, List.self, Show.self, ExportPubkey.self, Delete.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a new key and print its address.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "A name for the key (letters, digits, '.', '_', '-').") var name: String
        @Option(help: "Import this 32-byte Ed25519 seed (hex) instead of generating one.") var recoverHex: String?

        func validate() throws {
            try KeyStore.validate(name: name)
        }

        func run() throws {
            let key: SigningKey
            if let recoverHex {
                guard let seed = Hex.decode(recoverHex), let imported = try? SigningKey(seed: seed) else {
                    throw ValidationError("--recover-hex must be 64 hex digits (a 32-byte seed)")
                }
                key = imported
            } else {
                key = SigningKey()
            }
            let store = KeyStore(home: home.url)
            let entry = try store.add(name: name, key: key)
            print("name:    \(entry.name)")
            print("address: \(entry.address)")
            print("pubkey:  \(entry.publicKey)")
            print("saved:   \(store.fileURL(name).path) (mode 0600)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys in the home directory.")
        @OptionGroup var home: HomeOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let entries = try KeyStore(home: home.url).list()
            if json {
                printJSON(entries.map { ["name": $0.name, "address": $0.address.description, "pubkey": $0.publicKey] })
            } else if entries.isEmpty {
                print("no keys in \(home.url.appendingPathComponent("keys").path) (create one: gonka keys add NAME)")
            } else {
                for e in entries { print("\(e.name)\t\(e.address)") }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a key's address and public key.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The key's name.") var name: String
        @Flag(help: "Print only the address.") var address = false
        @Flag(help: "Also print the private key (hex seed). Anyone who sees it controls the account.")
        var revealPrivateKey = false

        func run() throws {
            let store = KeyStore(home: home.url)
            let entry = try store.entry(name)
            if address {
                print(entry.address)
                return
            }
            print("name:    \(entry.name)")
            print("address: \(entry.address)")
            print("pubkey:  \(entry.publicKey)")
            if revealPrivateKey { print("private: \(try store.exportPrivateKeyHex(name))") }
        }
    }

    struct ExportPubkey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-pubkey", abstract: "Print a key's public key as hex (safe to share).")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The key's name.") var name: String

        func run() throws {
            print(try KeyStore(home: home.url).entry(name).publicKey)
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key file. This cannot be undone.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The key's name.") var name: String
        @Flag(name: .shortAndLong, help: "Do not ask for confirmation.") var yes = false

        func run() throws {
            let store = KeyStore(home: home.url)
            let entry = try store.entry(name)
            if !yes {
                print("Delete key \(name) (\(entry.address))? Type the name to confirm: ", terminator: "")
                guard readLine()?.trimmingCharacters(in: .whitespaces) == name else {
                    throw CLIError("not confirmed; nothing deleted (use --yes to skip the question)")
                }
            }
            try store.delete(name)
            print("deleted \(name)")
        }
    }
}

func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}
