import ArgumentParser
import Benchmarks
import Foundation

/// `gonka bench cheat-model`
struct CheatModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cheat-model",
        abstract: "Write a cheating copy of a GGUF model (what validation must catch) for tests and benchmarks.",
        discussion: """
            The cheats of PROTOCOL §7.5 that live in the weights: `q3` snaps every 4-bit weight to 3-bit levels (a more coarsely quantised model), `minus-layers` removes --layers transformer layers. The copy is written to --out as STEM.TAG.gguf and its path printed; serve it on one devnet node with `gonka devnet up --node-model K=PATH` and watch validation convict it (`gonka query participants`). Never serve it on a real network: it is caught and slashed.
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case q3
        case minusLayers = "minus-layers"
    }

    @Argument(help: "q3 or minus-layers.") var kind: Kind
    @Option(help: "The original GGUF model.") var model: String
    @Option(help: "Directory to write the copy into (created if missing).") var out: String
    @Option(help: "Layers to remove (minus-layers).") var layers = 4

    func validate() throws {
        guard FileManager.default.fileExists(atPath: model) else {
            throw ValidationError("--model \(model) does not exist")
        }
        guard layers >= 1 else { throw ValidationError("--layers must be at least 1") }
    }

    func run() throws {
        let directory = URL(fileURLWithPath: out, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cheat: CheatModel.Kind =
            switch kind {
            case .q3: .coarserQuantisation(bits: 3)
            case .minusLayers: .removedLayers(count: layers)
            }
        print(try CheatModel.write(cheat, from: model, to: directory).path)
    }
}
