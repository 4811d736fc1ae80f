import ArgumentParser
import Benchmarks
import ServerLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// `gonka bench chain`: committed bank sends per second on a real local devnet.
struct ChainBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain",
        abstract: "Committed bank-send txs/s, block time and commit latency on a local devnet of real processes.",
        discussion: """
            Starts a devnet of --participants validator processes (this binary; build with -c release) whose genesis funds --accounts extra accounts, pre-signs --txs sends spread over them, pushes them to every node's POST /tx?mode=sync (each account's txs in order to one node), and follows the blocks until all are committed. Prints txs/s, block time and submit→commit latency percentiles, and CPU% and memory per node. The devnet is stopped and deleted at the end.
            """)

    @Option(help: "Validators.") var participants = 4
    @Option(help: "Transactions to commit.") var txs = 20_000
    @Option(help: "Funded sender accounts (txs are spread over them).") var accounts = 200
    @Option(help: "The gonka binary for the nodes (default: this one).") var binary: String?
    @Option(help: "Seconds to wait for the last commit after the last submission.") var drainTimeout = 120
    @Flag(help: "Keep the devnet directory afterwards (it is printed).") var keep = false

    func validate() throws {
        guard (1...16).contains(participants) else { throw ValidationError("--participants must be 1–16") }
        guard txs > 0, accounts > 0, accounts <= txs else {
            throw ValidationError("--txs and --accounts must be positive, --accounts ≤ --txs")
        }
    }

    func run() async throws {
        let benchmark = ChainBenchmark(
            participants: participants, txs: txs, accounts: accounts, binary: binary, drainTimeout: drainTimeout,
            keep: keep)
        let line = ProgressLine()
        defer { line.finish() }
        try await benchmark.run(progress: line.update, output: line.log)
    }
}
