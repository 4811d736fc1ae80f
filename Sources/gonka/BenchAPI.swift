import ArgumentParser
import Benchmarks

/// `gonka bench api`
struct APIBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Added latency of the network path (TA → executor → ML node) over calling the ML node directly.",
        discussion: """
            Starts --participants validators in this process (a devnet layout in a temporary directory, each with its API node and the embedded model), then sends the same streamed chat request --requests times (a) straight to the executor's ML node, (b) to it with the executor's rewrite (logprobs, top 5, usage), and (c) signed through another node's Transfer Agent. Reports p50/p99 time to first byte and total, one request at a time, loopback.
            """)

    @Option(help: "The GGUF model (default: $GONKA_MODEL or the `make model` cache).") var model: String?
    @Option(help: "Requests per path.") var requests = 40
    @Option(help: "max_tokens of each request.") var maxTokens = 8
    @Option(help: "Validators (at least 2, so the executor is another participant).") var participants = 2
    @Option(help: "Then: requests/s through the network with this many concurrent clients (0: skip).")
    var concurrency = 0
    @Option(help: "Requests of the throughput run.") var throughputRequests = 200
    @Flag(help: "Print the median of each phase of the network path (the nodes' traces and the client's marks).")
    var trace = false

    func validate() throws {
        guard requests >= 5 else { throw ValidationError("--requests must be at least 5") }
        guard (2...8).contains(participants) else { throw ValidationError("--participants must be 2…8") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() async throws {
        let benchmark = APIBenchmark(
            requests: requests, maxTokens: maxTokens, concurrency: concurrency, throughputRequests: throughputRequests,
            trace: trace)
        try await benchmark.run(model: model, participants: participants, output: say)
    }
}
