import ChainNode
import Devnet
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf

#if canImport(Glibc)
    import Glibc
#endif

/// `gonka bench chain-inference`: inferences per second the chain records (Start + Finish
/// committed) on a local devnet of real node processes, chain only: the model is not run.
public struct ChainInferenceBenchmark: Sendable {
    /// Validators.
    public var participants: Int
    /// Inferences to record (each a Start and a Finish transaction).
    public var inferences: Int
    /// Funded developer accounts (requests are spread over them).
    public var requesters: Int
    /// `max_tokens` of each request body.
    public var maxTokens: Int
    /// Transactions per `POST /txs` (1: one `POST /tx` each).
    public var batch: Int
    /// The gonka binary for the nodes (nil: this one).
    public var binary: String?
    /// Seconds to wait for the last commit after the last submission.
    public var drainTimeout: Int
    /// Keep the devnet directory afterwards.
    public var keep: Bool

    /// The benchmark with these settings (the options of its command).
    public init(
        participants: Int, inferences: Int, requesters: Int, maxTokens: Int, batch: Int, binary: String?,
        drainTimeout: Int, keep: Bool
    ) {
        self.participants = participants
        self.inferences = inferences
        self.requesters = requesters
        self.maxTokens = maxTokens
        self.batch = batch
        self.binary = binary
        self.drainTimeout = drainTimeout
        self.keep = keep
    }

    /// Measures and reports: every line of the report goes to `output`, in order, as it is measured;
    /// `progress` gets what the devnet start waits for (each node's steps go to `output`).
    public func run(progress: (String) -> Void = { _ in }, output: (String) -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gonka-bench-chain-inference-\(getpid())")
        let developers = (0..<requesters).map { _ in SigningKey() }
        let manifest = try await DevnetRunner.prepare(
            dir: dir, participants: participants, testHooks: false, reset: true,
            binary: binary ?? DevnetProcess.currentExecutable, extraAccounts: developers.map(\.publicKey.address))
        // PoC off: its transactions would use the participants' sequences the pre-signed streams
        // take, and its search would compete for the CPU (an epoch without PoC keeps its weights).
        for node in manifest.nodes {
            let url = URL(fileURLWithPath: node.home).appendingPathComponent("config.toml")
            var config = try NodeConfig(toml: String(contentsOf: url, encoding: .utf8))
            config.pocEnabled = false
            try config.toml.write(to: url, atomically: true, encoding: .utf8)
        }
        output("devnet in \(dir.path): starting \(participants) validators")
        try await DevnetRunner.withStarted(
            manifest, dir: dir, keep: keep, progress: output,
            starting: { if case .step = $0 { output($0.description) } else { progress($0.description) } }
        ) {
            progress("")
            try await measure($0, developers: developers, output: output)
        }
    }

    /// One participant's pre-signed duty transactions, in sequence order.
    struct Stream {
        var txs: [PreSigned] = []
    }

    struct PreSigned: Sendable {
        var bytes: [UInt8]
        var hash: String
        var signer: Address
    }

    private func measure(
        _ manifest: DevnetManifest, developers: [SigningKey], output: (String) -> Void
    ) async throws {
        let clients = try manifest.nodes.map { try ChainClient(baseURL: $0.rpcURL, timeout: .seconds(30)) }
        let status = try await rpc { () async throws(ChainClientError) in try await clients[0].status() }
        let model = Genesis.Model.devnetDefault.id
        let pool = try await rpc { () async throws(ChainClientError) in try await clients[0].executors(model: model) }
        guard let epochSeed = pool.epochSeedHash else { throw BenchmarkError("the chain sent a malformed epoch seed") }
        let candidates = pool.candidates.map { ExecutorDraw.Candidate(address: $0.address, weight: $0.weight) }
        let epoch = try await rpc { () async throws(ChainClientError) in try await clients[0].epoch() }
        if epoch.blocksToNextStage < 60 {
            output(
                "note: the epoch's next stage is \(epoch.blocksToNextStage) blocks away; a switch mid-run changes the draw"
            )
        }
        output(
            "height \(status.height), epoch \(epoch.epoch); \(candidates.count) executors for \(model); signing \(inferences) inferences…"
        )
        var nodeOf: [Address: Int] = [:]
        var keys: [SigningKey] = []
        for (i, node) in manifest.nodes.enumerated() {
            let key = try KeyStore(home: URL(fileURLWithPath: node.home, isDirectory: true)).load("validator")
            keys.append(key)
            nodeOf[key.publicKey.address] = i
        }
        // Pre-signed, so the generator's signing is not in the measured window. A request's
        // timestamp may be 30 s ahead of the block time and 60 s behind it: stamping every request
        // 25 s ahead leaves a window of about 85 s for the whole run.
        let chainID = status.chainID
        let timestamp = status.blockTimeMs * 1_000_000 + 25_000_000_000
        var streams = Array(repeating: Stream(), count: keys.count)
        var inferenceOf: [String: Int] = [:]
        var ids: [String] = []
        for i in 0..<inferences {
            let developer = developers[i % developers.count]
            let taIndex = i % keys.count
            let ta = keys[taIndex]
            let body = Array(
                #"{"model":"\#(model)","messages":[{"role":"user","content":"Say hello to request \#(i)."}],"max_tokens":\#(maxTokens),"temperature":0}"#
                    .utf8)
            let bodyHash = Hash.sha256(body)
            let developerSignature = developer.signature(
                for: InferenceRequestSigning.developerSignBytes(
                    chainID: chainID, bodyHash: bodyHash, timestamp: timestamp, transferAgent: ta.publicKey.address))
            let id = InferenceRequestSigning.inferenceID(developerSignature: developerSignature)
            guard
                let executor = try ExecutorDraw.executor(
                    inferenceID: id, epochSeed: epochSeed, attempt: 0, transferAgent: ta.publicKey.address,
                    candidates: candidates),
                let executorIndex = nodeOf[executor]
            else { throw BenchmarkError("the draw picked no devnet participant") }
            // The TA's count without a tokenizer: the bytes of the contents plus 4 per message.
            let promptTokens = UInt64(("Say hello to request \(i).").utf8.count + 4)
            var start = Wire.MsgStartInference()
            start.inferenceID = id
            start.requester = developer.publicKey.address.description
            start.transferAgent = ta.publicKey.address.description
            start.executor = executor.description
            start.attempt = 0
            start.model = model
            start.promptHash = Data(bodyHash.bytes)
            start.promptTokens = promptTokens
            start.maxTokens = UInt64(maxTokens)
            start.timestamp = timestamp
            start.developerSignature = Data(developerSignature)
            start.taSignature = Data(
                ta.signature(
                    for: InferenceRequestSigning.transferAgentSignBytes(
                        chainID: chainID, bodyHash: bodyHash, timestamp: timestamp, transferAgent: ta.publicKey.address,
                        executor: executor, attempt: 0)))
            start.requesterPubkey = Data(developer.publicKey.bytes)
            var finish = Wire.MsgFinishInference()
            finish.inferenceID = id
            finish.executor = executor.description
            finish.promptTokens = promptTokens
            finish.completionTokens = UInt64(maxTokens)
            // The commitment of a payload with this request and maxTokens generated tokens.
            finish.responseCommitment = Data(Hash.sha256(Array(id.utf8) + body).bytes)
            finish.model = model
            finish.requester = developer.publicKey.address.description
            streams[taIndex].txs.append(
                try Self.dutyTx(Wire.Msg(start), key: ta, chainID: chainID, sequence: streams[taIndex].txs.count))
            streams[executorIndex].txs.append(
                try Self.dutyTx(
                    Wire.Msg(finish), key: keys[executorIndex], chainID: chainID,
                    sequence: streams[executorIndex].txs.count))
            inferenceOf[streams[taIndex].txs.last!.hash] = i
            inferenceOf[streams[executorIndex].txs.last!.hash] = i
            ids.append(id)
        }
        // The streams were signed from sequence 0: the participants' accounts must not have sent
        // a tx yet (PoC, which would, is off).
        for (i, key) in keys.enumerated() {
            let sequence = try await rpc { () async throws(ChainClientError) in
                try await clients[0].account(key.publicKey.address).sequence
            }
            if sequence != 0 {
                throw BenchmarkError(
                    "participant \(i) has sent \(sequence) txs already; rerun (the bench expects a fresh devnet)")
            }
        }
        let wanted = Set(inferenceOf.keys)
        output(
            "pre-signed \(wanted.count) txs (\(streams.map { "\($0.txs.count)" }.joined(separator: "/")) per participant); submitting"
        )

        let clock = ContinuousClock()
        let cpuBefore = manifest.nodes.map { ProcessSample.cpuSeconds($0.pid) }
        let start = clock.now
        let recorder = SubmitRecorder()
        let follower = BlockFollower(client: clients[0], from: status.height + 1, wanted: wanted)
        async let followed = follower.run(
            clock: clock, until: clock.now + .seconds(drainTimeout) + .seconds(inferences / 100))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, stream) in streams.enumerated() {
                let client = clients[i]
                let batch = self.batch
                group.addTask {
                    if batch == 1 {
                        // A participant's free duty txs are bounded per block, and the mempool's
                        // check state counts every pending one: past the bound (or with a full
                        // mempool) the stream waits for the next block. A refused tx leaves the
                        // next sequence refused too, so the stream stays in order.
                        for tx in stream.txs {
                            try await recorder.submit(
                                tx.bytes, hash: tx.hash, client: client, clock: clock, tries: 1_200,
                                pause: .milliseconds(50)
                            ) {
                                $0.serverCode == "duty_tx_limit" || $0.serverCode == "bad_sequence"
                                    || $0.httpStatus == 503
                            }
                        }
                    } else {
                        try await Self.submit(
                            stream.txs, batch: batch, client: client, recorder: recorder, clock: clock)
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

        // An inference is recorded when both its transactions are committed; its latency runs
        // from the first submission of either to the commit of the later one.
        var firstSent = [ContinuousClock.Instant?](repeating: nil, count: inferences)
        var committedAt = [ContinuousClock.Instant?](repeating: nil, count: inferences)
        var halves = [Int](repeating: 0, count: inferences)
        var lastCommit = start
        var committedTxs = 0
        for block in blocks {
            for hash in block.hashes {
                guard let i = inferenceOf[hash] else { continue }
                committedTxs += 1
                halves[i] += 1
                committedAt[i] = max(committedAt[i] ?? block.seenAt, block.seenAt)
                if let sent = submitTimes[hash] { firstSent[i] = min(firstSent[i] ?? sent, sent) }
                lastCommit = max(lastCommit, block.seenAt)
            }
        }
        let recorded = halves.filter { $0 == 2 }.count
        var latencies: [Double] = []
        for i in 0..<inferences where halves[i] == 2 {
            if let sent = firstSent[i], let done = committedAt[i] {
                latencies.append(ChainBenchmark.seconds(done - sent))
            }
        }
        let loadBlocks = blocks.filter { block in block.hashes.contains { inferenceOf[$0] != nil } }
        let blockTimes = zip(blocks.dropFirst(), blocks).map { Double($0.timeMs - $1.timeMs) / 1_000 }
        let window = ChainBenchmark.seconds(lastCommit - start)

        // Every record must be FINISHED (read back after the measured window).
        let finished = try await Self.countFinished(ids, clients: clients)

        output("")
        output(
            "gonka bench chain-inference: \(manifest.nodes.count) validators, \(developers.count) requesters, max_tokens \(maxTokens), release: \(ChainBenchmark.isRelease)"
        )
        output("  (the model is not run per request: this is the chain's recording capacity)")
        output(
            String(
                format: "  recorded           %d / %d inferences (%d txs) in %.2f s, %d FINISHED on chain", recorded,
                inferences, committedTxs, window, finished))
        output(
            String(
                format: "  throughput         %.0f inferences/s (%.0f tx/s; submit phase %.2f s, %d resubmits)",
                window > 0 ? Double(recorded) / window : 0, window > 0 ? Double(committedTxs) / window : 0,
                ChainBenchmark.seconds(submitted - start), retries))
        output(
            String(
                format: "  blocks             %d (%d with inference txs), %.0f txs per such block", blocks.count,
                loadBlocks.count, loadBlocks.isEmpty ? 0 : Double(committedTxs) / Double(loadBlocks.count)))
        output(
            String(
                format: "  block time         p50 %.3f s  p99 %.3f s", ChainBenchmark.percentile(blockTimes, 0.5),
                ChainBenchmark.percentile(blockTimes, 0.99)))
        output(
            String(
                format: "  latency            p50 %.3f s  p99 %.3f s (first submission → both committed)",
                ChainBenchmark.percentile(latencies, 0.5), ChainBenchmark.percentile(latencies, 0.99)))
        let cpuTotal = zip(cpuAfter, cpuBefore).map { $0 - $1 }.reduce(0, +)
        output(
            String(
                format: "  CPU                %.2f ms per inference, all nodes together (%.1f s of CPU)",
                recorded > 0 ? cpuTotal / Double(recorded) * 1_000 : 0, cpuTotal))
        output("  per node           CPU% (of one core)   RSS now   RSS peak")
        for (i, node) in manifest.nodes.enumerated() {
            let cpu = (cpuAfter[i] - cpuBefore[i]) / ChainBenchmark.seconds(elapsed) * 100
            let memory = ProcessSample.memory(node.pid)
            output(
                String(
                    format: "    %@  %8.0f%%           %5d MiB  %5d MiB", node.moniker, cpu, memory.rss >> 20,
                    memory.peak >> 20))
        }
        if recorded < inferences { throw BenchmarkError("only \(recorded) of \(inferences) inferences were committed") }
        if finished < inferences {
            throw BenchmarkError("only \(finished) of \(inferences) inference records are FINISHED")
        }
    }

    /// A free duty transaction of one message.
    static func dutyTx(_ message: Wire.Msg, key: SigningKey, chainID: String, sequence: Int) throws -> PreSigned {
        var body = Wire.TxBody()
        body.chainID = chainID
        body.signer = key.publicKey.address.description
        body.sequence = UInt64(sequence)
        body.messages = [message]
        body.fee = 0
        let bytes: [UInt8] = try Wire.Tx.signed(body: body, by: key).serializedBytes()
        return PreSigned(bytes: bytes, hash: Hash.sha256(bytes).hex, signer: key.publicKey.address)
    }

    /// Submits `txs` (one account's, in sequence order) `batch` at a time with `POST /txs`. A
    /// refused tx stops the batch there (the rest would fail on their sequence); the stream
    /// resumes from it after 50 ms when the refusal is the per-block duty bound, a sequence the
    /// node does not expect yet, or a full mempool.
    private static func submit(
        _ txs: [PreSigned], batch: Int, client: ChainClient, recorder: SubmitRecorder, clock: ContinuousClock
    ) async throws {
        var next = 0
        var waits = 0
        while next < txs.count {
            let chunk = txs[next..<min(next + batch, txs.count)]
            let sentAt = clock.now
            let results = try await rpc { () async throws(ChainClientError) in
                try await client.broadcast(batch: chunk.map(\.bytes))
            }
            let accepted = results.firstIndex { $0.code != 0 } ?? results.count
            for tx in chunk.prefix(accepted) { await recorder.record(tx.hash, at: sentAt) }
            next += accepted
            guard accepted < results.count else { continue }
            let refusal = results[accepted]
            guard ["duty_tx_limit", "bad_sequence", "mempool_full"].contains(refusal.error ?? "") else {
                throw BenchmarkError("submitting \(txs[next].hash): \(refusal.error ?? "?"): \(refusal.log)")
            }
            waits += 1
            guard waits < 2_400 else {
                throw BenchmarkError(
                    "gave up submitting after \(waits) waits; last: \(refusal.error ?? "?"): \(refusal.log)")
            }
            await recorder.retry()
            try await Task.sleep(for: .milliseconds(50))
            // Txs the mempool accepted may be dropped again (re-checked after a block against
            // the new state, e.g. past the per-block duty bound): then the node expects an
            // earlier sequence than the stream's next. Resume from the committed sequence (the
            // txs still pending answer as duplicates).
            if refusal.error == "bad_sequence", let signer = txs.first.map({ $0.signer }) {
                let committed = try await rpc { () async throws(ChainClientError) in
                    try await client.account(signer).sequence
                }
                next = min(next, Int(committed))
            }
        }
    }

    /// How many of `ids` the chain records as FINISHED (8 readers over the nodes).
    static func countFinished(_ ids: [String], clients: [ChainClient]) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            let lanes = 8
            for lane in 0..<lanes {
                let client = clients[lane % clients.count]
                group.addTask {
                    var n = 0
                    for index in stride(from: lane, to: ids.count, by: lanes) {
                        let record = try await rpc { () async throws(ChainClientError) in
                            try await client.inference(ids[index])
                        }
                        if record?.status == "FINISHED" { n += 1 }
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
    }
}
