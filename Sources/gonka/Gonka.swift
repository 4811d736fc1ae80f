import ArgumentParser
import GonkaCore

@main
struct Gonka: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gonka",
        abstract: "A node and toolkit for the Gonka decentralized AI inference network.",
        discussion: """
            Keys, node setup and chain tools. A node's files live under its home directory (--home, default $GONKA_HOME or ~/.gonka): config.toml, genesis.json, keys/ and data/.
            """,
        version: GonkaVersion.current,
        subcommands: [
            Keys.self, Init.self, GenesisCommand.self, NodeCommand.self, Devnet.self, Tx.self, Query.self,
            MLNodeCommand.self, ChatCommand.self, PocCommand.self, ProxyCommand.self, APIKeyCommand.self, Bench.self,
            ExplorerCommand.self,
            Version.self,
        ]
    )
}

/// `gonka version`
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version of this build.")

    func run() {
        print("gonka \(GonkaVersion.current) (protocol \(GonkaVersion.protocolVersion))")
    }
}
