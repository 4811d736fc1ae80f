import ArgumentParser
import Benchmarks
import ServerLifecycle

/// `gonka bench chain-inference`: inferences per second the chain records (Start + Finish
/// committed) on a real local devnet.
struct ChainInferenceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain-inference",
        abstract: "Inferences/s a devnet of real processes records (MsgStartInference + MsgFinishInference committed).",
        discussion: """
            Starts a devnet of --participants validator processes (chain only, this binary; build with -c release) whose genesis funds --requesters developer accounts. The load generator signs --inferences real developer requests (an OpenAI chat body with max_tokens --max-tokens, the PROTOCOL §6.1 signature and inference id) and for each builds the MsgStartInference its Transfer Agent (the participants in turn) would send (TA signature, the executor drawn with ExecutorDraw over the chain's /query/executors) and the MsgFinishInference that executor would send (a response commitment), each a free duty transaction signed by the participant's account key from the devnet home. Every participant's transactions go in sequence order to its own node's POST /txs (--batch at a time; --batch 1: POST /tx?mode=sync each); the blocks are followed until every transaction is committed, then every inference record is read back and must be FINISHED. Prints inferences/s, block time, latency percentiles (first submission to both committed) and CPU% and memory per node. The model is not run: this measures the chain's recording capacity (see `gonka bench api` for the request path).
            """)

    @Option(help: "Validators.") var participants = 4
    @Option(help: "Inferences to record (each a Start and a Finish transaction).") var inferences = 20_000
    @Option(help: "Funded developer accounts (requests are spread over them).") var requesters = 200
    @Option(help: "max_tokens of each request body.") var maxTokens = 4
    @Option(help: "Transactions per POST /txs (1: one POST /tx each).") var batch = 100
    @Option(help: "The gonka binary for the nodes (default: this one).") var binary: String?
    @Option(help: "Seconds to wait for the last commit after the last submission.") var drainTimeout = 120
    @Flag(help: "Keep the devnet directory afterwards (it is printed).") var keep = false

    func validate() throws {
        guard (2...16).contains(participants) else { throw ValidationError("--participants must be 2–16") }
        guard inferences > 0, requesters > 0 else {
            throw ValidationError("--inferences and --requesters must be positive")
        }
        guard (1...4096).contains(maxTokens) else { throw ValidationError("--max-tokens must be 1–4096") }
        guard (1...1_000).contains(batch) else { throw ValidationError("--batch must be 1–1000") }
    }

    func run() async throws {
        let benchmark = ChainInferenceBenchmark(
            participants: participants, inferences: inferences, requesters: requesters, maxTokens: maxTokens,
            batch: batch, binary: binary, drainTimeout: drainTimeout, keep: keep)
        let line = ProgressLine()
        defer { line.finish() }
        try await benchmark.run(progress: line.update, output: line.log)
    }
}
