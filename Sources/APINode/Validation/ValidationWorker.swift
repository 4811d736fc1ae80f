import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Ledger
import Logging
import ServiceLifecycle
import Synchronization
import Verification

/// The API node's validator (PROTOCOL §7.1–§7.3): follows finished inferences on the chain's
/// event stream, decides with its secret epoch seed which ones it must check, fetches each payload
/// from the executor, re-scores it on its own ML node (at lower priority than live requests), and
/// sends `MsgValidation` through the duty-tx queue; every block it also asks which revalidation
/// votes it was drawn for and checks those the same way.
///
/// One inference at a time: validation is background work that must not compete with live
/// requests for the ML node. Drawn revalidation votes go before sampled checks: a vote has a
/// deadline (`invalidation_vote_blocks`) and an undecided vote ends VALIDATED, so a vote queued
/// behind a backlog of checks would let a cheater's failed inference pass (measured on a 4-node
/// devnet under steady traffic: 9 votes cast for ~60 failed checks with one FIFO queue). A failure
/// of this node's own (ML node down, scores that do not fit)
/// is retried and then given up with a log line, never sent as the executor's failure.
public final class ValidationWorker: Service, Sendable {
    /// One piece of work.
    struct Job: Sendable, Hashable {
        var inferenceID: String
        /// A revalidation vote (§7.3) rather than this node's own sampled check.
        var vote: Bool

        /// What it takes in a queue or set: the id's bytes, its string storage and the slot.
        var cost: Int { inferenceID.utf8.count + 64 }
    }

    let client: ChainClient
    let chain: ChainView
    let txs: TxSender
    let validator: @Sendable (ValidationParams) -> InferenceValidator
    let fetcher: PayloadFetcher
    let seeds: ValidationSeeds
    let metrics: APIMetrics
    let logger: Logger
    let me: Address
    /// How often a check that failed on this node's side is tried before it is given up.
    let localAttempts = 3

    /// Wakes the processor after jobs were queued (``WorkerState/pending``).
    private let wake: AsyncStream<Void>
    private let input: AsyncStream<Void>.Continuation
    private let state = Mutex(WorkerState())

    /// The jobs waiting: votes first (oldest first), then checks (oldest first).
    ///
    /// Checks are bounded in bytes (``checkLimitBytes``, ``Job/cost`` each): every finished inference of the others is queued until
    /// its obligation is decided, so a node that cannot keep up with the network's traffic would
    /// otherwise grow without end. Past the bound the oldest check is dropped (it is the nearest to
    /// its validation window's end); an obligation dropped is missed, which the claim audit counts
    /// (§8.4), so ``dropped`` is a metric and a log line. Votes are few (one per failed check the
    /// node is drawn for) and never dropped.
    struct Pending {
        private var votes: [Job] = []
        private var checks: [Job] = []
        /// Index of the oldest check not yet taken (taken ones are dropped in batches).
        private var head = 0
        let checkLimitBytes: Int
        /// ``Job/cost`` of the checks waiting.
        private(set) var checkBytes = 0
        /// Checks dropped for the bound so far.
        private(set) var dropped = 0

        init(checkLimitBytes: Int = 8 << 20) {
            self.checkLimitBytes = max(1, checkLimitBytes)
        }

        var count: Int { votes.count + checks.count - head }

        /// Queues `job`; returns the check it pushed out, if any.
        @discardableResult
        mutating func push(_ job: Job) -> Job? {
            if job.vote {
                votes.append(job)
                return nil
            }
            checks.append(job)
            checkBytes += job.cost
            // The newest check always stays, whatever its size.
            guard checkBytes > checkLimitBytes, checks.count - head > 1 else { return nil }
            let oldest = checks[head]
            checkBytes -= oldest.cost
            head += 1
            dropped += 1
            compact()
            return oldest
        }

        private mutating func compact() {
            if head >= 1024 && head * 2 >= checks.count {
                checks.removeFirst(head)
                head = 0
            }
        }

        mutating func pop() -> Job? {
            if !votes.isEmpty { return votes.removeFirst() }
            guard head < checks.count else { return nil }
            let job = checks[head]
            checkBytes -= job.cost
            head += 1
            compact()
            return job
        }
    }

    struct WorkerState {
        /// Jobs queued or done (so an event seen twice, or a vote still pending, is taken once).
        var seen: Set<Job> = []
        /// Inferences this node has sent a verdict on (a check and a vote on one inference are one
        /// verdict: the ledger counts a drawn revalidator's check as its vote).
        var sent: Set<String> = []
        /// ``Job/cost`` of `seen` and `sent`; both are forgotten past ``seenLimitBytes``.
        var seenBytes = 0
        var seenLimitBytes = 8 << 20
        var pending = Pending()
        /// Checks waiting for an unreachable executor (``DeferredChecks``).
        var deferred = DeferredChecks()
        var tip: UInt64 = 0
        var params: ChainParams?
        var models: [String: ModelRecord] = [:]
        var snapshots: [UInt64: ValidationEpochInfo] = [:]
    }

    init(
        client: ChainClient, chain: ChainView, txs: TxSender, fetcher: PayloadFetcher, seeds: ValidationSeeds,
        metrics: APIMetrics, logger: Logger, queueBytes: Int = 16 << 20,
        validator: @escaping @Sendable (ValidationParams) -> InferenceValidator
    ) {
        self.client = client
        self.chain = chain
        self.txs = txs
        self.fetcher = fetcher
        self.seeds = seeds
        self.metrics = metrics
        self.logger = logger
        self.validator = validator
        me = txs.address
        (wake, input) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // `[memory] validation_queue_mb`: half for the checks waiting, half for the ids remembered.
        state.withLock {
            $0.pending = Pending(checkLimitBytes: queueBytes / 2)
            $0.seenLimitBytes = queueBytes / 2
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.follow() }
                group.addTask { await self.process() }
                await group.waitForAll()
            }
        }
    }

    // MARK: Following the chain

    /// Reads the event stream; reconnects after a second when it ends.
    private func follow() async {
        var warned = false
        while !Task.isCancelled {
            do {
                for try await event in client.events() {
                    warned = false
                    switch event {
                    case .ledger(_, "inference_finished", let data):
                        guard let id = data["inference_id"]?.stringValue,
                            data["executor"]?.stringValue != me.description
                        else { continue }
                        enqueue(Job(inferenceID: id, vote: false))
                    case .newBlock(let block):
                        let due = state.withLock { s -> Int in
                            s.tip = max(s.tip, block.height)
                            let due = s.deferred.due(at: s.tip)
                            for job in due { s.pending.push(job) }
                            return due.count
                        }
                        if due > 0 { input.yield() }
                        await checkVotes()
                    default: continue
                    }
                }
            } catch {
                if !warned, !Task.isCancelled {
                    logger.notice(
                        "validation: chain event stream unavailable; retrying", metadata: ["error": "\(error)"])
                    warned = true
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
        input.finish()
    }

    /// Queues the votes this node was drawn for and has not cast.
    private func checkVotes() async {
        guard let pending = try? await client.pendingVotes(me) else { return }
        for voting in pending { enqueue(Job(inferenceID: voting.inferenceID, vote: true)) }
    }

    private func enqueue(_ job: Job) {
        let (fresh, pushedOut) = state.withLock { s -> (Bool, Job?) in
            // Forget old ids now and then; a job seen again is checked against the chain anyway.
            if s.seenBytes > s.seenLimitBytes {
                s.seen.removeAll(keepingCapacity: true)
                s.sent.removeAll(keepingCapacity: true)
                s.seenBytes = 0
            }
            guard s.seen.insert(job).inserted else { return (false, nil) }
            s.seenBytes += job.cost
            return (true, s.pending.push(job))
        }
        guard fresh else { return }
        if let pushedOut {
            metrics.increment("gonka_validation_dropped_total")
            let dropped = state.withLock { $0.pending.dropped }
            // One line per thousand: a node this far behind would otherwise log every request.
            if dropped % 1000 == 1 {
                logger.warning(
                    "validation: behind the network's traffic; dropping the oldest queued checks (their obligations count as missed at the claim)",
                    metadata: [
                        "dropped": "\(dropped)", "oldest": "\(pushedOut.inferenceID.prefix(16))",
                        "queue": "\(state.withLock { $0.pending.count })",
                    ])
            }
        }
        input.yield()
        metrics.set("gonka_validation_queue", state.withLock { $0.pending.count })
    }

    // MARK: Processing

    private func process() async {
        for await _ in wake {
            while let (job, remaining) = state.withLock({ s in s.pending.pop().map { ($0, s.pending.count) } }) {
                metrics.set("gonka_validation_queue", remaining)
                await run(job)
            }
        }
    }

    /// Checks one inference if this node must, and sends the verdict.
    func run(_ job: Job) async {
        let id = job.inferenceID
        guard !state.withLock({ $0.sent.contains(id) }) else { return }
        guard let record = try? await client.inference(id) else {
            logger.notice("validation: inference record unavailable", metadata: ["id": "\(id.prefix(16))"])
            return
        }
        let allowed: Set<String> = job.vote ? ["VOTING"] : ["FINISHED", "VALIDATED", "VOTING", "INVALIDATED"]
        guard allowed.contains(record.status), let executor = try? Address(record.executor), executor != me else {
            return
        }
        do {
            guard let params = try await params(), let model = try await model(record.model) else { return }
            if !job.vote {
                guard try await isObliged(record, executor: executor, params: params.validation) else {
                    metrics.increment("gonka_validation_skipped_total")
                    return
                }
            }
            // After a restart the chain may already hold this node's verdict.
            if try await client.validations(of: id).validations.contains(where: { $0.validator == me.description }) {
                return
            }
            guard let commitment = Hex.decode(record.responseCommitment).flatMap({ Hash(bytes: $0) }) else { return }
            let finished = InferenceValidator.Finished(
                inferenceID: id, executor: executor, responseCommitment: commitment,
                completionTokens: record.completionTokens)
            let bytes: [UInt8]?
            switch await payload(id, executor: executor) {
            case .bytes(let fetched): bytes = fetched
            case .unavailable: bytes = nil
            case .unreachable(let reason):
                // An executor that did not answer is tried again later, while the window allows.
                let deadline = record.finishHeight &+ params.epochs.epochLength / 2
                if !job.vote,
                    let due = state.withLock({ s in s.deferred.postpone(job, tip: s.tip, deadline: deadline) })
                {
                    metrics.increment("gonka_validation_deferred_total")
                    logger.notice(
                        "validation: executor unreachable; checking again later",
                        metadata: [
                            "id": "\(id.prefix(16))", "executor": "\(executor)", "reason": "\(reason)",
                            "at_height": "\(due)",
                        ])
                    return
                }
                logger.notice(
                    "validation: executor unreachable until the check's deadline; the payload is unavailable",
                    metadata: ["id": "\(id.prefix(16))", "executor": "\(executor)", "reason": "\(reason)"])
                bytes = nil
            }
            let verdict = try await check(bytes: bytes, finished: finished, model: model, params: params.validation)
            send(verdict, id: id, vote: job.vote)
            state.withLock { $0.deferred.forget(id) }
            let lag = state.withLock { $0.tip } &- record.finishHeight
            metrics.set("gonka_validation_lag_blocks", Int(clamping: lag))
        } catch {
            metrics.increment("gonka_validation_errors_total", [("kind", "local")])
            logger.warning(
                "validation: gave up on an inference (a fault on this node's side; nothing sent)",
                metadata: ["id": "\(id.prefix(16))", "error": "\(error)"])
        }
    }

    /// The check, retried when it fails on this node's side.
    private func check(
        bytes: [UInt8]?, finished: InferenceValidator.Finished, model: InferenceValidator.Model,
        params: ValidationParams
    ) async throws -> InferenceCheck.Verdict {
        var last: (any Error)?
        for attempt in 0..<localAttempts {
            if attempt > 0 { try await Task.sleep(for: .seconds(2 * attempt)) }
            do {
                return try await validator(params).check(bytes: bytes, finished: finished, model: model)
            } catch {
                last = error
                logger.notice(
                    "validation: local check failed; retrying",
                    metadata: [
                        "id": "\(finished.inferenceID.prefix(16))", "attempt": "\(attempt + 1)", "error": "\(error)",
                    ])
            }
        }
        throw last ?? InferenceValidatorError.local("no attempt")
    }

    /// The payload from the executor's API node, or why there is none.
    private func payload(_ id: String, executor: Address) async -> PayloadFetcher.Outcome {
        guard let url = try? await chain.url(of: executor) else {
            logger.notice("validation: executor has no URL on chain", metadata: ["executor": "\(executor)"])
            return .unavailable("the executor has no URL on chain")
        }
        let outcome = await fetcher.fetch(
            inferenceID: id, executor: executor, baseURL: url,
            now: { Int64(Date().timeIntervalSince1970 * 1_000_000_000) })
        if case .unavailable(let reason) = outcome {
            logger.notice(
                "validation: payload unavailable after retries",
                metadata: ["id": "\(id.prefix(16))", "executor": "\(executor)", "reason": "\(reason)"])
        }
        return outcome
    }

    private func send(_ verdict: InferenceCheck.Verdict, id: String, vote: Bool) {
        var msg = Wire.MsgValidation()
        msg.validator = me.description
        msg.inferenceID = id
        msg.passed = verdict.passed
        msg.reason = verdict.reason?.rawValue ?? ""
        msg.distancePpm = verdict.distancePpm
        msg.samplerMisses = UInt64(max(0, verdict.samplerMisses))
        msg.vote = vote
        txs.enqueue(Wire.Msg(msg), what: vote ? "revalidation vote" : "validation")
        state.withLock {
            if $0.sent.insert(id).inserted { $0.seenBytes += Job(inferenceID: id, vote: vote).cost }
        }
        let outcome = verdict.passed ? "passed" : "failed"
        metrics.increment("gonka_validation_done_total", [("outcome", outcome)])
        if let reason = verdict.reason {
            metrics.increment("gonka_validation_failed_total", [("reason", reason.rawValue)])
        }
        let level: Logger.Level = verdict.passed ? .debug : .notice
        logger.log(
            level: level, "validation: \(vote ? "vote" : "check") \(outcome)",
            metadata: [
                "id": "\(id.prefix(16))", "reason": "\(verdict.reason?.rawValue ?? "-")",
                "distance_ppm": "\(verdict.distancePpm)", "sampler_misses": "\(verdict.samplerMisses)",
                "above_ceiling": "\(verdict.positionsAboveCeiling)", "impossible": "\(verdict.impossibleTokens)",
                "logprob_mismatches": "\(verdict.logprobMismatches)",
                "likelihood_z": "\(verdict.likelihoodZ.map { String(format: "%.2f", $0) } ?? "-")",
            ])
    }

    // MARK: The obligation (§7.1)

    /// Whether this node's seed obliges it to check `record`.
    private func isObliged(
        _ record: InferenceRecordInfo, executor: Address, params: ValidationParams
    ) async throws -> Bool {
        guard let snapshot = try await snapshot(epoch: record.epoch) else { return false }
        let seed = try seeds.seed(epoch: record.epoch)
        let obligation = Self.obligationSnapshot(snapshot, model: record.model)
        let probability = try ValidationObligations.probability(
            validator: me,
            inference: .init(id: record.inferenceID, executor: executor, model: record.model),
            snapshot: obligation, params: params)
        return probability.numerator > 0
            && ValidationSampling.isObliged(seed: seed, inferenceID: record.inferenceID, probability: probability)
    }

    /// The chain's epoch snapshot as ``ValidationObligations`` reads it: every participant with
    /// weight serves every registered model (as the executor pool does, §6.2).
    static func obligationSnapshot(_ info: ValidationEpochInfo, model: String) -> ValidationObligations.Snapshot {
        var weights: [Address: UInt64] = [:]
        var reputations: [Address: UInt64] = [:]
        for participant in info.participants where participant.weight > 0 {
            guard let address = try? Address(participant.address) else { continue }
            weights[address] = participant.weight
            reputations[address] = info.startReputations[participant.address] ?? 0
        }
        return ValidationObligations.Snapshot(
            traffic: info.traffic, modelWeights: [model: weights], reputations: reputations)
    }

    private func snapshot(epoch: UInt64) async throws -> ValidationEpochInfo? {
        if let cached = state.withLock({ $0.snapshots[epoch] }) { return cached }
        let info = try await client.validationEpoch(epoch)
        guard info.begun else { return nil }
        state.withLock { s in
            if s.snapshots.count > 8 { s.snapshots.removeAll() }
            s.snapshots[epoch] = info
        }
        return info
    }

    private func params() async throws -> ChainParams? {
        if let cached = state.withLock({ $0.params }) { return cached }
        let params = try await client.params()
        state.withLock { $0.params = params }
        return params
    }

    private func model(_ id: String) async throws -> InferenceValidator.Model? {
        var found = state.withLock { $0.models[id] }
        if found == nil {
            let all = try await client.models()
            state.withLock { s in for m in all { s.models[m.id] = m } }
            found = all.first { $0.id == id }
        }
        guard let found else { return nil }
        return InferenceValidator.Model(
            id: found.id, validationThresholdPpm: found.validationThresholdPpm,
            sampler: InferenceCheck.SamplerKind(rawValue: found.sampler) ?? .native)
    }
}
