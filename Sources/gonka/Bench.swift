import ArgumentParser
import Benchmarks
import Foundation
import ServerLifecycle
import Storage

/// `gonka bench …`: measured speeds, never asserted in tests.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the speed of this machine's node components.",
        discussion: "Build with `swift build -c release` first: debug builds are many times slower.",
        subcommands: [
            TxPipelineBench.self, StoreBench.self, ConsensusBench.self, InferenceBench.self, ChainBench.self,
            PocBench.self, APIBench.self,
            InferenceLedgerBench.self, ChainInferenceBench.self, ValidationBench.self, CheatModelBench.self,
            SettlementBench.self, ServeBench.self, SoakBench.self,
        ]
    )
}

/// `gonka bench tx`
struct TxPipelineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tx",
        abstract: "Signed MsgSend transactions per second through the ledger (one core, SQLite state).",
        discussion: """
            Pre-signs --txs transfers between --accounts funded accounts, then executes them in blocks of --block-size with `finalize` (decode, signature verify, sequence, fee, transfer, state commit). Also reports checkTx and bare signature-verify rates.
            """
    )

    @Option(help: "Transactions to execute.") var txs = 20_000
    @Option(help: "Transactions per block.") var blockSize = 1_000
    @Option(help: "Funded accounts sending to each other.") var accounts = 1_000
    @Flag(help: "Use an in-memory SQLite store instead of a file in a temporary directory.") var memory = false

    func validate() throws {
        guard txs > 0, blockSize > 0, accounts > 1 else {
            throw ValidationError("--txs and --block-size must be positive, --accounts > 1")
        }
    }

    func run() throws {
        try TxPipelineBenchmark(txs: txs, blockSize: blockSize, accounts: accounts, memory: memory).run { print($0) }
    }
}

/// `gonka bench store`
struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Authenticated state store: committed key updates/s, proofs generated and verified/s.")

    @Option(help: "Keys in the tree before measuring.") var keys = 100_000
    @Option(help: "Updates per commit.") var batch = 1_000
    @Option(help: "Proofs to generate and verify.") var proofs = 10_000

    func run() throws {
        let report = try StoreBenchmark.run(keys: keys, batch: batch, proofs: proofs)
        print(report)
    }
}

/// `gonka bench inference`
struct InferenceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference",
        abstract: "Prefill and decode tokens/s of the native engine, like llama-bench (pp and tg tests).",
        discussion: """
            Prefill runs --prompt-tokens fixed pseudo-random ids as one batch into an empty cache (logits for the last position); decode then feeds --gen-tokens ids one at a time from an empty cache, computing the logits of each. --batch B adds tgN×B: B sequences decoding together, each in its own cache, one token of each per batched step (the serving engine's step without HTTP; aggregate tokens/s). Reports the median and spread of --runs runs per thread count, and the peak resident memory of the process.
            """
    )

    @Option(help: "The GGUF model (default: $GONKA_MODEL, else the `make model` cache).") var model: String?
    @Option(help: "Prompt tokens for the prefill test.") var promptTokens = 512
    @Option(help: "Tokens for the decode test.") var genTokens = 128
    @Option(help: "Comma-separated thread counts.") var threads = "1,2"
    @Option(help: "Runs per test (the median is reported).") var runs = 3
    @Option(help: "Comma-separated batch sizes for the batched decode test (none by default), e.g. 4,8.")
    var batch = ""

    var threadCounts: [Int] {
        threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    var batches: [Int] { batch.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard promptTokens > 0, genTokens > 0, runs > 0, promptTokens + genTokens <= 8192 else {
            throw ValidationError("--prompt-tokens, --gen-tokens and --runs must be positive; prompt + gen ≤ 8192")
        }
        let counts = threadCounts
        guard !counts.isEmpty, counts.count == threads.split(separator: ",").count,
            counts.allSatisfy({ (1...256).contains($0) })
        else { throw ValidationError("--threads must be a comma-separated list of counts in 1…256, e.g. 1,2") }
        guard batches.count == batch.split(separator: ",").count, batches.allSatisfy({ (1...64).contains($0) }) else {
            throw ValidationError("--batch must be a comma-separated list of sizes in 1…64, e.g. 4,8")
        }
    }

    func run() throws {
        let benchmark = InferenceBenchmark(
            model: model, promptTokens: promptTokens, genTokens: genTokens, threadCounts: threadCounts, runs: runs,
            batches: batches)
        let line = ProgressLine()
        defer { line.finish() }
        try benchmark.run(progress: line.update, output: line.log)
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
