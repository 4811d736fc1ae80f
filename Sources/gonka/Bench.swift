import ArgumentParser
import Foundation
import GonkaCore
import GonkaWire
import Inference
import Ledger
import Storage
import SwiftProtobuf

/// `gonka bench …`: measured speeds, never asserted in tests.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the speed of this machine's node components.",
        discussion: "Build with `swift build -c release` first: debug builds are many times slower.",
        subcommands: [
            TxPipelineBench.self, StoreBench.self, ConsensusBench.self, InferenceBench.self, ChainBench.self,
            PocBench.self, APIBench.self,
            InferenceLedgerBench.self, ChainInferenceBench.self,
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
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gonka-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store =
            memory
            ? try AuthenticatedStore(inMemory: "test")
            : try AuthenticatedStore(path: directory.appendingPathComponent("state.sqlite").path)
        let chainID = "bench"
        let keys = (0..<accounts).map { _ in SigningKey() }
        let validator = SigningKey()
        var params = ChainParams.devnet
        params.minGasPrice = 1
        let genesis = Genesis(
            chainID: chainID, genesisTime: "2026-01-01T00:00:00Z", params: params,
            accounts: keys.map { .init(address: $0.publicKey.address, balance: Amount(gnk: 1_000_000)!) },
            validators: [
                .init(
                    name: "v", address: validator.publicKey.address, url: "http://127.0.0.1:1",
                    consensusPubkey: validator.publicKey.hex, p2pPubkey: validator.publicKey.hex, power: 1)
            ])
        let ledger = try Ledger(store: store)
        _ = try ledger.initChain(genesis)

        print("signing \(txs) transactions…")
        var sequences = [UInt64](repeating: 0, count: accounts)
        var signed: [[UInt8]] = []
        signed.reserveCapacity(txs)
        for i in 0..<txs {
            let from = i % accounts
            var send = Wire.MsgSend()
            send.fromAddress = keys[from].publicKey.address.description
            send.toAddress = keys[(from + 1 + i / accounts) % accounts].publicKey.address.description
            send.amount = 1_000
            var body = Wire.TxBody()
            body.chainID = chainID
            body.signer = send.fromAddress
            body.sequence = sequences[from]
            body.messages = [Wire.Msg(send)]
            body.fee = 1_000
            sequences[from] += 1
            signed.append(try Array(Wire.Tx.signed(body: body, by: keys[from]).serializedData()))
        }

        // Components, measured alone on the same transactions.
        let sample = try signed.prefix(min(txs, 5_000)).map { try Wire.Tx(serializedBytes: $0) }
        var clock = ContinuousClock.now
        let parsed = sample.compactMap { try? PublicKey(bytes: Array($0.signerPubkey)) }
        let parseSeconds = (ContinuousClock.now - clock).seconds
        clock = ContinuousClock.now
        var ok = 0
        for (tx, key) in zip(sample, parsed)
        where key.isValidSignature(tx.signature, for: SignBytes.make(.tx, chainID: chainID, tx.bodyBytes)) {
            ok += 1
        }
        let verifySeconds = (ContinuousClock.now - clock).seconds

        let start = ContinuousClock.now
        var applied = 0
        var height: UInt64 = 1
        for block in stride(from: 0, to: txs, by: blockSize) {
            let slice = Array(signed[block..<min(block + blockSize, txs)])
            let result = try ledger.finalize(
                block: slice, context: BlockContext(chainID: chainID, height: height, time: 0, proposer: nil))
            applied += result.txResults.filter(\.isSuccess).count
            height += 1
        }
        let seconds = (ContinuousClock.now - start).seconds
        guard applied == txs else { throw CLIError("only \(applied) of \(txs) transactions applied") }
        print("store:            \(memory ? "SQLite in memory" : "SQLite file")")
        print("public key parse: \(rate(Double(parsed.count), parseSeconds)) /s (point validity check)")
        print("signature verify: \(rate(Double(ok), verifySeconds)) /s (\(ok) signatures)")
        print(
            "finalize MsgSend: \(rate(Double(txs), seconds)) tx/s (\(txs) txs in blocks of \(blockSize), commit included)"
        )
        print("per block:        \(String(format: "%.1f", seconds * 1000 / Double(height - 1))) ms")
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
            Prefill runs --prompt-tokens fixed pseudo-random ids as one batch into an empty cache (logits for the last position); decode then feeds --gen-tokens ids one at a time from an empty cache, computing the logits of each. Reports the median and spread of --runs runs per thread count, and the peak resident memory of the process.
            """
    )

    @Option(help: "The GGUF model (default: $GONKA_MODEL, else the `make model` cache).") var model: String?
    @Option(help: "Prompt tokens for the prefill test.") var promptTokens = 512
    @Option(help: "Tokens for the decode test.") var genTokens = 128
    @Option(help: "Comma-separated thread counts.") var threads = "1,2"
    @Option(help: "Runs per test (the median is reported).") var runs = 3

    var threadCounts: [Int] {
        threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    func validate() throws {
        guard promptTokens > 0, genTokens > 0, runs > 0, promptTokens + genTokens <= 8192 else {
            throw ValidationError("--prompt-tokens, --gen-tokens and --runs must be positive; prompt + gen ≤ 8192")
        }
        let counts = threadCounts
        guard !counts.isEmpty, counts.count == threads.split(separator: ",").count,
            counts.allSatisfy({ (1...256).contains($0) })
        else { throw ValidationError("--threads must be a comma-separated list of counts in 1…256, e.g. 1,2") }
    }

    func run() throws {
        let path =
            model ?? ProcessInfo.processInfo.environment["GONKA_MODEL"]
            ?? FileManager.default.homeDirectoryForCurrentUser
            .appendingPathComponent(".cache/gonka/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        let loadStart = ContinuousClock.now
        let llama = try LlamaModel(path: path)
        let c = llama.config
        print(
            "loaded \(path): llama, \(c.layers) layers, embedding \(c.embedding), \(c.heads)/\(c.kvHeads) heads, vocab \(c.vocabularySize), \(llama.file.size / 1_000_000) MB, in \(String(format: "%.2f", (ContinuousClock.now - loadStart).seconds)) s"
        )
        var stream = PhiloxStream(seedString: "gonka/bench/inference")
        let span = UInt32(c.vocabularySize - 17)
        let prompt = (0..<promptTokens).map { _ in 17 + Int(stream.nextUInt32() % span) }
        let generated = (0..<genTokens).map { _ in 17 + Int(stream.nextUInt32() % span) }
        print("| threads | test     |        t/s (median) | runs")
        print("|--------:|----------|--------------------:|-----")
        for threadCount in threadCounts {
            let session = LlamaSession(model: llama, capacity: promptTokens + genTokens, threads: threadCount)
            _ = try session.evaluate(Array(prompt.prefix(8)))  // warm-up: page in the weights
            var prefill: [Double] = []
            var decode: [Double] = []
            for _ in 0..<runs {
                session.reset()
                let start = ContinuousClock.now
                _ = try session.evaluate(prompt)
                prefill.append(Double(promptTokens) / (ContinuousClock.now - start).seconds)
                session.reset()
                let decodeStart = ContinuousClock.now
                for id in generated { _ = try session.evaluate([id]) }
                decode.append(Double(genTokens) / (ContinuousClock.now - decodeStart).seconds)
            }
            // Decode as serving runs it: each step's logits also go through the sampler (top-p 0.95, as
            // OpenAI clients usually ask; then top-k 40). The fed ids stay fixed so runs compare.
            var sampled: [String: [Double]] = [:]
            for (label, sampling) in [
                ("+p", SamplingParameters(temperature: 0.8, topP: 0.95)),
                ("+k", SamplingParameters(temperature: 0.8, topK: 40)),
            ] {
                for run in 0..<runs {
                    session.reset()
                    var sampler = Sampler(
                        SamplingParameters(
                            temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP,
                            seed: UInt64(run)))
                    let start = ContinuousClock.now
                    for id in generated {
                        try session.evaluate([id]) { _, logits in _ = sampler.sample(logits) }
                    }
                    sampled["tg\(genTokens)\(label)", default: []].append(
                        Double(genTokens) / (ContinuousClock.now - start).seconds)
                }
            }
            for (name, values) in [("pp\(promptTokens)", prefill), ("tg\(genTokens)", decode)]
                + sampled.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) })
            {
                let sorted = values.sorted()
                let median = sorted[sorted.count / 2]
                let spread = (sorted.last ?? 0) - (sorted.first ?? 0)
                print(
                    "| \(String(repeating: " ", count: max(0, 7 - String(threadCount).count)))\(threadCount) | \(name.padding(toLength: 8, withPad: " ", startingAt: 0)) | \(String(format: "%9.1f (range %5.1f)", median, spread)) | \(values.map { String(format: "%.1f", $0) }.joined(separator: " "))"
                )
            }
        }
        // The sampler alone on one real logits row (the model's next-token logits after the prompt).
        let session = LlamaSession(model: llama, capacity: promptTokens + 1, threads: 1)
        let row = try session.evaluate(prompt)
        var timings: [String] = []
        for (label, sampling) in [
            ("temperature", SamplingParameters(temperature: 0.8)),
            ("top-p 0.95", SamplingParameters(temperature: 0.8, topP: 0.95)),
            ("top-k 40", SamplingParameters(temperature: 0.8, topK: 40)),
        ] {
            var sampler = Sampler(sampling)
            let draws = 300
            let start = ContinuousClock.now
            row.withUnsafeBufferPointer { logits in
                for _ in 0..<draws { _ = sampler.sample(logits) }
            }
            timings.append(
                "\(label) \(String(format: "%.0f", (ContinuousClock.now - start).seconds / Double(draws) * 1e6)) µs")
        }
        print("sampler, per draw over \(c.vocabularySize) logits: " + timings.joined(separator: ", "))
        var usage = rusage()
        #if os(Linux)
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            let peakKiB = usage.ru_maxrss
        #else
            getrusage(RUSAGE_SELF, &usage)
            let peakKiB = usage.ru_maxrss / 1024
        #endif
        print("peak RSS: \(peakKiB / 1024) MiB")
    }
}

func rate(_ count: Double, _ seconds: Double) -> String {
    String(format: "%.0f", count / max(seconds, 1e-9))
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
