import ArgumentParser
import Foundation
import GonkaClient
import GonkaCore

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
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-bench-chain-\(getpid())")
        let keys = (0..<accounts).map { _ in SigningKey() }
        let manifest = try await DevnetRunner.prepare(
            dir: dir, participants: participants, testHooks: false, reset: true,
            binary: binary ?? DevnetProcess.currentExecutable, extraAccounts: keys.map(\.publicKey.address))
        print("devnet in \(dir.path): starting \(participants) validators")
        try await DevnetRunner.withStarted(manifest, dir: dir, keep: keep) { try await measure($0, keys: keys) }
    }

    private func measure(_ manifest: DevnetManifest, keys: [SigningKey]) async throws {
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
        print("pre-signed \(wanted.count) txs from \(keys.count) accounts; submitting to \(clients.count) nodes")

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
        print("")
        print(
            "gonka bench chain: \(manifest.nodes.count) validators, \(keys.count) accounts, release: \(Self.isRelease)")
        print(String(format: "  committed          %d / %d txs in %.2f s", committed, wanted.count, window))
        print(
            String(
                format: "  throughput         %.0f tx/s (submit phase %.2f s, %d resubmits after bad_sequence/full)",
                window > 0 ? Double(committed) / window : 0, Self.seconds(submitted - start), retries))
        print(
            String(
                format: "  blocks             %d (%d with txs), %.0f txs per non-empty block",
                blocks.count, loadBlocks.count, loadBlocks.isEmpty ? 0 : Double(committed) / Double(loadBlocks.count)))
        print(
            String(
                format: "  block time         p50 %.3f s  p99 %.3f s", Self.percentile(blockTimes, 0.5),
                Self.percentile(blockTimes, 0.99)))
        print(
            String(
                format: "  commit latency     p50 %.3f s  p99 %.3f s", Self.percentile(latencies, 0.5),
                Self.percentile(latencies, 0.99)))
        print("  per node           CPU% (of one core)   RSS now   RSS peak")
        for (i, node) in manifest.nodes.enumerated() {
            let cpu = (cpuAfter[i] - cpuBefore[i]) / Self.seconds(elapsed) * 100
            let memory = ProcessSample.memory(node.pid)
            print(
                String(
                    format: "    %@  %8.0f%%           %5d MiB  %5d MiB", node.moniker, cpu,
                    memory.rss >> 20, memory.peak >> 20))
        }
        if committed < wanted.count { throw CLIError("only \(committed) of \(wanted.count) txs were committed") }
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

/// When each tx was accepted by a node (the start of its commit latency).
actor SubmitRecorder {
    var times: [String: ContinuousClock.Instant] = [:]
    var retries = 0
    func record(_ hash: String, at instant: ContinuousClock.Instant) { times[hash] = times[hash] ?? instant }
    func retry() { retries += 1 }

    /// Broadcasts one tx (sync mode) and records when it was accepted; a refusal `isTemporary`
    /// says will pass is retried after `pause`, up to `tries` times.
    func submit(
        _ bytes: [UInt8], hash: String, client: ChainClient, clock: ContinuousClock, tries: Int, pause: Duration,
        isTemporary: (ChainClientError) -> Bool
    ) async throws {
        for _ in 0..<tries {
            let sentAt = clock.now
            do throws(ChainClientError) {
                _ = try await client.broadcast(bytes, mode: .sync)
                record(hash, at: sentAt)
                return
            } catch {
                guard isTemporary(error) else { throw CLIError("submitting \(hash): \(error)") }
                retry()
                try await Task.sleep(for: pause)
            }
        }
        throw CLIError("gave up submitting \(hash) after \(tries) tries")
    }
}

/// Follows the committed blocks of one node by polling, noting when each was first seen.
struct BlockFollower: Sendable {
    struct Seen: Sendable {
        var height: UInt64
        var timeMs: Int64
        var hashes: [String]
        var seenAt: ContinuousClock.Instant
    }

    let client: ChainClient
    let from: UInt64
    let wanted: Set<String>

    func run(clock: ContinuousClock, until deadline: ContinuousClock.Instant) async -> [Seen] {
        var seen: [Seen] = []
        var next = from
        var remaining = wanted
        while !remaining.isEmpty, clock.now < deadline {
            guard let status = try? await client.status(), status.height >= next else {
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            let now = clock.now
            while next <= status.height {
                guard let block = try? await client.block(next) else { break }
                let hashes = block.txs.map(\.hash)
                for hash in hashes { remaining.remove(hash) }
                seen.append(Seen(height: next, timeMs: block.timeMs, hashes: hashes, seenAt: now))
                next += 1
            }
        }
        return seen
    }
}

/// CPU time and memory of a process, from /proc.
enum ProcessSample {
    static func cpuSeconds(_ pid: Int32?) -> Double {
        guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after "(comm)": state is field 3, utime 14 and stime 15 of the whole line.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func memory(_ pid: Int32?) -> (rss: Int, peak: Int) {
        guard let pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            return (0, 0)
        }
        func kib(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        return (kib("VmRSS:"), kib("VmHWM:"))
    }
}
