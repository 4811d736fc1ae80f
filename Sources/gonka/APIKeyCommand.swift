import APINode
import ArgumentParser
import Foundation
import GonkaCore
import Storage

/// `gonka apikey …`: gateway API keys of this node (PROTOCOL §6.1 [improved]).
struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikey",
        abstract: "Create, list and revoke gateway API keys (Authorization: Bearer) of this node's API.",
        discussion: """
            A client sending `Authorization: Bearer KEY` to this node's API is served as if it had signed with --account's key, until the key's escrows reach --limit. Keys are stored hashed in HOME/data/apikeys.json (0600); the running node reads the file on every request.
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    static func store(_ home: HomeOptions) -> APIKeyStore {
        APIKeyStore(file: home.url.appendingPathComponent("data/apikeys.json"))
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; prints the secret once.")
        @OptionGroup var home: HomeOptions
        @Option(help: "Name of the account key under HOME/keys/ the node signs with for this key.") var account: String
        @Option(help: "Most ngonka this key may commit in escrows (0: no limit).") var limit: UInt64 = 0

        func run() async throws {
            let key: SigningKey
            do {
                key = try KeyStore(home: home.url).load(account)
            } catch {
                throw CLIError("no account key \"\(account)\" in \(home.url.path)/keys: \(error)")
            }
            let (entry, secret) = try APIKeyCommand.store(home).create(
                account: account, address: key.publicKey.address, limit: limit)
            print("id      \(entry.id)")
            print("account \(entry.address)")
            print("limit   \(limit == 0 ? "none" : "\(limit) ngonka")")
            print("key     \(secret)")
            print("(the key is shown only now; the node keeps its hash)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys (never the secrets).")
        @OptionGroup var home: HomeOptions

        func run() async throws {
            let keys = try APIKeyCommand.store(home).list()
            if keys.isEmpty { print("no API keys") }
            for key in keys {
                print(
                    "\(key.id)  \(key.address)  spent \(key.spent)  limit \(key.limit == 0 ? "none" : "\(key.limit)")"
                        + (key.revoked ? "  REVOKED" : ""))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The key's id (from `gonka apikey list`).") var id: String

        func run() async throws {
            guard try APIKeyCommand.store(home).revoke(id: id) else { throw CLIError("no API key \(id)") }
            print("revoked \(id)")
        }
    }
}
