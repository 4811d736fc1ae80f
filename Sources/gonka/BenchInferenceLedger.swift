import ArgumentParser
import Benchmarks

/// `gonka bench inference-ledger`
struct InferenceLedgerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference-ledger",
        abstract: "Inferences/s the ledger records: MsgStartInference + MsgFinishInference, one core, SQLite state.",
        discussion: """
            Pre-signs --inferences real requests (developer signature, TA signature, drawn executor) from --requesters funded accounts through 4 participants, as free duty transactions, then, block by block (--block-size inferences), runs every transaction through `checkTx` (the mempool) and then `finalize` (every signature verified, escrow, cost, refund, expiry index, price update, state commit) on one ledger with a signature cache, as a node does. The combined rate is the node-side bound on one core.
            """
    )

    @Option(help: "Inferences (each a Start and a Finish transaction).") var inferences = 5_000
    @Option(help: "Inferences per block.") var blockSize = 500
    @Option(help: "Funded developer accounts.") var requesters = 200
    @Flag(help: "Use an in-memory SQLite store instead of a file in a temporary directory.") var memory = false

    func validate() throws {
        guard inferences > 0, blockSize > 0, requesters > 0 else {
            throw ValidationError("--inferences, --block-size and --requesters must be positive")
        }
    }

    func run() throws {
        let benchmark = InferenceLedgerBenchmark(
            inferences: inferences, blockSize: blockSize, requesters: requesters, memory: memory)
        try benchmark.run { print($0) }
    }
}
