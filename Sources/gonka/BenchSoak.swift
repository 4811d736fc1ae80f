import ArgumentParser
import Benchmarks
import ChainNode
import Devnet
import Foundation

/// `gonka bench soak`: resources of a devnet of real processes under steady traffic, with the
/// slopes of the second half (issue 23).
struct SoakBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "RSS, open files and data-directory growth of a devnet under steady client traffic.",
        discussion: """
            Starts a devnet of --participants node processes (this binary; build with -c release), each with its API node serving the model (registered with a declared capacity of 1,000 tokens/s per unit of weight, so the price of PROTOCOL §6.5 stays low under the traffic), and sends --rate signed chat requests per second for --minutes, alternately streamed and not, to the nodes' Transfer Agents in turn (at most 16 open at once; a request due while 16 are open is skipped and counted). Every --interval seconds it samples each node's RSS, threads and open file descriptors from /proc, the sizes of its data directory (state, consensus WAL, blocks, payloads) and, from its /metrics, what its bounded caches hold (gonka_cache_bytes: state page, node and value caches, signatures, mempool), its heap as the C allocator counts it (in use, kept free) and its anonymous resident memory, so RSS growth can be told apart into caches filling toward their [memory] budgets (--memory sets smaller ones) and anything else; then it prints each metric at the start, middle and end and its least-squares slope per minute over the second half. It exits non-zero when a request failed. A bounded node is flat there once every record has passed its pruning window (PROTOCOL §3.3): with --short-epochs (30-block epochs) after about 3 minutes, with devnet epochs after about 10. Open files are judged once the traffic has ended and its client has closed its connections: the drained sample is taken when each node is back to its quietest second-half count, or after its pools' idle timeout (60 s) and a margin, and a node still holding more is growing its open files.
            """)

    @Option(help: "Validators.") var participants = 2
    @Option(help: "Minutes to run.") var minutes = 10.0
    @Option(help: "Requests per second.") var rate = 2.0
    @Option(help: "Seconds between samples.") var interval = 60.0
    @Option(help: "max_tokens of each request.") var maxTokens = 16
    @Option(
        help: """
            [storage] keep_blocks of every node: a pruning host, whose disk levels off. 0 keeps every \
            block, as an archive node (the node's own default) does; its block store then grows by \
            ~26 MiB per 1,000 blocks.
            """)
    var keepBlocks: UInt64 = 1_000
    @Option(help: "[state] keep_recent of every node (default: the node's, 1000 state versions).")
    var keepRecent: UInt64?
    @Option(
        name: .customLong("memory"),
        help: ArgumentHelp(
            "A [memory] budget of every node, NAME=MIB (repeatable), e.g. state_page_cache_mb=64.",
            valueName: "name=mib"))
    var memory: [String] = []
    @Flag(help: "30-block epochs, so pruning windows pass within a short run.") var shortEpochs = false
    @Option(help: "The GGUF model (default: $GONKA_MODEL, else the `make model` cache).") var model: String?
    @Option(help: "The gonka binary for the nodes (default: this one).") var binary: String?
    @Flag(help: "Print the report as JSON (samples included) instead of text.") var json = false
    @Flag(help: "Keep the devnet directory afterwards (it is printed).") var keep = false

    func validate() throws {
        guard (1...8).contains(participants) else { throw ValidationError("--participants must be 1–8") }
        guard minutes > 0, minutes <= 24 * 60 else { throw ValidationError("--minutes must be in (0, 1440]") }
        guard rate > 0, rate <= 100 else { throw ValidationError("--rate must be in (0, 100]") }
        guard interval >= 1, interval * 2 <= minutes * 60 else {
            throw ValidationError("--interval must be at least 1 s and at most half the run")
        }
        guard (1...4096).contains(maxTokens) else { throw ValidationError("--max-tokens must be 1–4096") }
        guard keepBlocks == 0 || keepBlocks >= 2 else { throw ValidationError("--keep-blocks must be 0 or at least 2") }
        _ = try memoryBudgets()
    }

    /// `--memory` as `[memory]` names and MiB, each name a key of ``MemorySettings`` and each value
    /// in its range.
    func memoryBudgets() throws -> [String: Int] {
        var out: [String: Int] = [:]
        for entry in memory {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let key = MemorySettings.keys.first(where: { $0.name == parts[0] }) else {
                throw ValidationError(
                    "--memory \(entry): expected NAME=MIB with NAME one of "
                        + MemorySettings.keys.map(\.name).joined(separator: ", "))
            }
            guard let mib = Int64(parts[1]), key.range.contains(mib) else {
                let range = "\(key.range.lowerBound)…\(key.range.upperBound)"
                throw ValidationError("--memory \(entry): \(key.name) must be a whole number of MiB in \(range)")
            }
            out[key.name] = Int(mib)
        }
        return out
    }

    func run() async throws {
        var benchmark = SoakBenchmark(
            participants: participants, duration: .milliseconds(Int64(minutes * 60_000)), rate: rate,
            interval: .milliseconds(Int64(interval * 1_000)), maxTokens: maxTokens, shortEpochs: shortEpochs,
            keepBlocks: keepBlocks, binary: binary ?? DevnetProcess.currentExecutable, model: model, keep: keep)
        benchmark.keepRecent = keepRecent
        benchmark.memory = try memoryBudgets()
        let quiet = json
        let report = try await benchmark.run { line in
            // Unbuffered, so a long soak shows its samples as they come, also into a file.
            if !quiet { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for line in report.lines { print(line) }
        }
        // A run whose requests failed did not measure the steady traffic it was asked for.
        if report.failed > 0 {
            throw CLIError(
                "\(report.failed) of \(report.sent) requests failed (first: \(report.firstFailure ?? "?")): "
                    + "the figures are not of the traffic asked for")
        }
    }
}
