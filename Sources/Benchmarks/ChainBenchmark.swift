import Devnet
import Foundation
import GonkaClient
import GonkaCore

#if canImport(Glibc)
    import Glibc
#endif

/// `gonka bench chain`: committed bank sends per second, block time and commit latency on a local
/// devnet of real node processes (started, measured, stopped and deleted).
public struct ChainBenchmark: Sendable {
    /// Validators.
    public var participants: Int
    /// Transactions to commit.
    public var txs: Int
    /// Funded sender accounts (txs are spread over them).
    public var accounts: Int
    /// The gonka binary for the nodes (nil: this one).
    public var binary: String?
    /// Seconds to wait for the last commit after the last submission.
    public var drainTimeout: Int
    /// Keep the devnet directory afterwards.
    public var keep: Bool

    /// The benchmark with these settings (the options of its command).
    public init(participants: Int, txs: Int, accounts: Int, binary: String?, drainTimeout: Int, keep: Bool) {
        self.participants = participants
        self.txs = txs
        self.accounts = accounts
        self.binary = binary
        self.drainTimeout = drainTimeout
        self.keep = keep
    }

    /// Measures and reports: every line of the report goes to `output`, in order, as it is measured;
    /// `progress` gets what the devnet start waits for (each node's steps go to `output`).
    public func run(progress: (String) -> Void = { _ in }, output: (String) -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-bench-chain-\(getpid())")
        let keys = (0..<accounts).map { _ in SigningKey() }
        let manifest = try await DevnetRunner.prepare(
            dir: dir, participants: participants, testHooks: false, reset: true,
            binary: binary ?? DevnetProcess.currentExecutable, extraAccounts: keys.map(\.publicKey.address))
        output("devnet in \(dir.path): starting \(participants) validators")
        try await DevnetRunner.withStarted(
            manifest, dir: dir, keep: keep, progress: output,
            starting: { if case .step = $0 { output($0.description) } else { progress($0.description) } }
        ) {
            progress("")
            try await measure($0, keys: keys, output: output)
        }
    }

    private func measure(_ manifest: DevnetManifest, keys: [SigningKey], output: (String) -> Void) async throws {
        let clients = try manifest.nodes.map { try ChainClient(baseURL: $0.rpcURL, timeout: .seconds(30)) }
        let status = try await rpc { () async throws(ChainClientError) in try await clients[0].status() }
        let params = try await rpc { () async throws(ChainClientError) in try await clients[0].params() }
        // Pre-sign: account i sends 1 ngonka to account i+1, sequences 0, 1, 2, …
        let perAccount = (0..<keys.count).map { txs / keys.count + ($0 < txs % keys.count ? 1 : 0) }
        var signed: [[TxBuilder.SignedTx]] = []
        for (i, key) in keys.enumerated() {
            let builder = TxBuilder(chainID: status.chainID, key: key, minGasPrice: params.minGasPrice)
            let recipient = keys[(i + 1) % keys.count].publicKey.address
            signed.append(
                try (0..<perAccount[i]).map {
                    try builder.send(to: recipient, amount: Amount(ngonka: 1), sequence: UInt64($0))
                })
        }
        let wanted = Set(signed.joined().map(\.hash))
        output("pre-signed \(wanted.count) txs from \(keys.count) accounts; submitting to \(clients.count) nodes")

        let clock = ContinuousClock()
        let cpuBefore = manifest.nodes.map { ProcessSample.cpuSeconds($0.pid) }
        let start = clock.now
        let startHeight = status.height
        let recorder = SubmitRecorder()
        let follower = BlockFollower(client: clients[0], from: startHeight + 1, wanted: wanted)
        async let followed = follower.run(clock: clock, until: clock.now + .seconds(drainTimeout) + .seconds(txs / 200))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, list) in signed.enumerated() {
                let client = clients[i % clients.count]
                group.addTask {
                    for tx in list {
                        // A node whose checkTx only knows committed sequences refuses an account's
                        // next tx until the previous one is in a block, and a full mempool answers
                        // 503: both are waited out.
                        try await recorder.submit(
                            tx.bytes, hash: tx.hash, client: client, clock: clock, tries: 600, pause: .milliseconds(100)
                        ) { $0.serverCode == "bad_sequence" || $0.httpStatus == 503 }
                    }
                }
            }
            try await group.waitForAll()
        }
        let submitted = clock.now
        let blocks = await followed
        let elapsed = clock.now - start
        let cpuAfter = manifest.nodes.map { ProcessSample.cpuSeconds($0.pid) }
        let submitTimes = await recorder.times
        let retries = await recorder.retries

        // Results.
        var latencies: [Double] = []
        var committed = 0
        var lastCommit = start
        for block in blocks {
            for hash in block.hashes where wanted.contains(hash) {
                committed += 1
                if let sent = submitTimes[hash] { latencies.append(Self.seconds(block.seenAt - sent)) }
                lastCommit = max(lastCommit, block.seenAt)
            }
        }
        let loadBlocks = blocks.filter { !$0.hashes.isEmpty }
        let blockTimes = zip(blocks.dropFirst(), blocks).map { Double($0.timeMs - $1.timeMs) / 1_000 }
        let window = Self.seconds(lastCommit - start)
        output("")
        output(
            "gonka bench chain: \(manifest.nodes.count) validators, \(keys.count) accounts, release: \(Self.isRelease)")
        output(String(format: "  committed          %d / %d txs in %.2f s", committed, wanted.count, window))
        output(
            String(
                format: "  throughput         %.0f tx/s (submit phase %.2f s, %d resubmits after bad_sequence/full)",
                window > 0 ? Double(committed) / window : 0, Self.seconds(submitted - start), retries))
        output(
            String(
                format: "  blocks             %d (%d with txs), %.0f txs per non-empty block",
                blocks.count, loadBlocks.count, loadBlocks.isEmpty ? 0 : Double(committed) / Double(loadBlocks.count)))
        output(
            String(
                format: "  block time         p50 %.3f s  p99 %.3f s", Self.percentile(blockTimes, 0.5),
                Self.percentile(blockTimes, 0.99)))
        output(
            String(
                format: "  commit latency     p50 %.3f s  p99 %.3f s", Self.percentile(latencies, 0.5),
                Self.percentile(latencies, 0.99)))
        output("  per node           CPU% (of one core)   RSS now   RSS peak")
        for (i, node) in manifest.nodes.enumerated() {
            let cpu = (cpuAfter[i] - cpuBefore[i]) / Self.seconds(elapsed) * 100
            let memory = ProcessSample.memory(node.pid)
            output(
                String(
                    format: "    %@  %8.0f%%           %5d MiB  %5d MiB", node.moniker, cpu,
                    memory.rss >> 20, memory.peak >> 20))
        }
        if committed < wanted.count { throw BenchmarkError("only \(committed) of \(wanted.count) txs were committed") }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    static var isRelease: Bool {
        #if DEBUG
            false
        #else
            true
        #endif
    }
}
