import ArgumentParser
import Foundation

/// `--home`, shared by every command that reads or writes a node's files.
struct HomeOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The node's home directory.", discussion: "Default: $GONKA_HOME, else ~/.gonka."),
        completion: .directory)
    var home: String?

    var url: URL {
        if let home { return URL(fileURLWithPath: (home as NSString).expandingTildeInPath, isDirectory: true) }
        if let env = ProcessInfo.processInfo.environment["GONKA_HOME"], !env.isEmpty {
            return URL(fileURLWithPath: env, isDirectory: true)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".gonka", isDirectory: true)
    }

    var genesisURL: URL { url.appendingPathComponent("genesis.json") }
    var configURL: URL { url.appendingPathComponent("config.toml") }
}

/// A failure the user can act on: printed as `error: …` with exit code 1, no stack trace.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
