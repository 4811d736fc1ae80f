import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Logging
import ServiceLifecycle
import SwiftProtobuf

/// One sprint's search, as the orchestrator hands it to a worker (PROTOCOL §5.2).
public struct PocJob: Sendable, Hashable {
    /// H = hex(hash(block P)): seeds the model.
    public var blockHashHex: String
    /// The participant's PoC key (its consensus public key, lowercase hex).
    public var publicKeyHex: String
    public var nodeIndex: UInt64
    public var nodeCount: UInt64
    /// Valid iff distance_nano < rTargetNano.
    public var rTargetNano: UInt64
    /// `poc_model` preset name.
    public var model: String
    /// Hits per reported batch.
    public var batchSize: Int
    /// The search starts at the lattice's `startIndex`-th nonce (after the ones already submitted).
    public var startIndex: UInt64

    public init(
        blockHashHex: String, publicKeyHex: String, nodeIndex: UInt64, nodeCount: UInt64, rTargetNano: UInt64,
        model: String, batchSize: Int, startIndex: UInt64 = 0
    ) {
        self.blockHashHex = blockHashHex
        self.publicKeyHex = publicKeyHex
        self.nodeIndex = nodeIndex
        self.nodeCount = nodeCount
        self.rTargetNano = rTargetNano
        self.model = model
        self.batchSize = batchSize
        self.startIndex = startIndex
    }
}

/// Valid nonces found by a worker, with their distances in nano units (⌊d × 10⁹⌋).
public struct PocFound: Sendable, Hashable {
    public var nonces: [UInt64]
    public var distancesNano: [UInt64]

    public init(nonces: [UInt64], distancesNano: [UInt64]) {
        self.nonces = nonces
        self.distancesNano = distancesNano
    }
}

/// What computes PoC for a participant: today the in-process engine of the chain node, later the
/// ML nodes behind the API node (`POST /poc/generate`, `/poc/validate`, `/poc/stop`, PROTOCOL §11).
public protocol PocWorker: Sendable {
    /// Starts a search; found nonces stream until ``stop()`` or the stream's consumer goes away.
    func generate(_ job: PocJob) throws -> AsyncStream<PocFound>
    /// Recomputes the distances (nano units) of `nonces` for participant `publicKeyHex`.
    func validate(
        blockHashHex: String, model: String, publicKeyHex: String, nonces: [UInt64]
    ) async throws
        -> [UInt64]
    /// Ends the running search, if any.
    func stop() async
}

/// The PoC orchestrator of a participant (PROTOCOL §4–5), in the chain-node process until the API
/// node owns it: follows its own node's `poc_stage` events and
/// * at `seed_commit` commits SHA-256 of a fresh secret seed (kept at `HOME/data/seeds/EPOCH`, 0600);
/// * at `generation` (once hash(P) is known) runs the worker's search and submits every batch;
/// * at `exchange` stops the search;
/// * at `validation`, when it is a validator of the current epoch, samples every other
///   participant's nonces (``PocSampling``), recomputes them and submits its verdict with the
///   evidence.
/// Transactions are signed with the participant's account key and go to its own node's mempool
/// (free duties, PROTOCOL §3.4).
public actor PocOrchestrator {
    let driver: ConsensusDriver
    let events: EventHub
    let account: SigningKey
    let seedsDirectory: URL
    let worker: any PocWorker
    let chainID: String
    var logger: Logger
    /// Hits per batch tx.
    let batchSize: Int
    /// ML nodes of this participant: the one in-process worker. With one node it always mines
    /// (§5.7); the pick runs through `Ledger.miningNodes` so more nodes (the API node's registry)
    /// follow the same rule.
    let mlNodeCount: UInt64 = 1

    private var generation: Task<Void, Never>?
    /// Sprints already acted on, so a repeated event does nothing twice.
    private var seeded: Set<UInt64> = []
    private var mined: Set<UInt64> = []
    private var validated: Set<UInt64> = []

    public init(
        driver: ConsensusDriver, events: EventHub, account: SigningKey, seedsDirectory: URL, worker: any PocWorker,
        chainID: String, logger: Logger, batchSize: Int = 8
    ) {
        self.driver = driver
        self.events = events
        self.account = account
        self.seedsDirectory = seedsDirectory
        self.worker = worker
        self.chainID = chainID
        self.logger = logger
        self.batchSize = max(batchSize, 1)
    }

    var address: Address { account.publicKey.address }

    /// Follows the node's events until cancelled.
    public func run() async {
        let stream = events.subscribe(buffer: 10_000)
        // Started (or restarted) inside a sprint, the node missed the stage events before now: act
        // on the stage the chain is in.
        if let attributes = await currentStage() { await handle(stage: attributes) }
        for await event in stream {
            if Task.isCancelled { break }
            guard case .ledger(let e) = event, e.type == "poc_stage" else { continue }
            await handle(stage: e.attributes)
        }
        await stopGeneration()
    }

    /// The `poc_stage` attributes of the committed height's stage (nil in epoch 0).
    private func currentStage() async -> [String: String]? {
        try? await driver.readLedger { ledger throws(LedgerError) -> [String: String]? in
            let position = ledger.schedule.position(at: ledger.height ?? 0)
            guard let p = position.pocStartHeight else { return nil }
            let hash = try ledger.epoch(position.epoch)?.pocBlockHash ?? Data()
            return [
                "epoch": String(position.epoch), "stage": position.stage.rawValue, "poc_start_height": String(p),
                "block_hash": hash.isEmpty ? "" : Hex.encode(Array(hash)),
            ]
        }
    }

    func handle(stage attributes: [String: String]) async {
        guard let epoch = attributes["epoch"].flatMap(UInt64.init),
            let p = attributes["poc_start_height"].flatMap(UInt64.init), let stage = attributes["stage"]
        else { return }
        let hash = attributes["block_hash"] ?? ""
        switch stage {
        case EpochSchedule.Stage.seedCommit.rawValue:
            await commitSeed(epoch: epoch)
        case EpochSchedule.Stage.generation.rawValue where !hash.isEmpty:
            // Seeds are accepted until generation ends: one missed at P is committed now.
            await commitSeed(epoch: epoch)
            await startGeneration(p: p, epoch: epoch, blockHashHex: hash)
        case EpochSchedule.Stage.exchange.rawValue:
            await stopGeneration()
        case EpochSchedule.Stage.validation.rawValue:
            await stopGeneration()
            await validate(p: p, epoch: epoch)
        default:
            break
        }
    }

    // MARK: Ledger reads

    private struct Snapshot: Sendable {
        var params: ChainParams
        var me: Wire.Participant?
        var participants: [Wire.Participant]
        var height: UInt64
        var blockHash: Data
        var isValidator: Bool
        var validatorKeyHex: String?
        /// Whether this participant's seed for the epoch is on chain already.
        var seedCommitted: Bool
    }

    private func snapshot(epoch: UInt64) async -> Snapshot? {
        let me = address
        do {
            return try await driver.readLedger { ledger throws(LedgerError) in
                let height = ledger.height ?? 0
                let set = try ledger.validatorSet(forHeight: height + 1)?.validators ?? []
                let mine = set.first { $0.address == me }
                return Snapshot(
                    params: ledger.params, me: try ledger.participant(me), participants: try ledger.participants(),
                    height: height,
                    blockHash: try ledger.epoch(epoch)?.pocBlockHash ?? Data(), isValidator: mine != nil,
                    validatorKeyHex: mine?.consensusKey.hex,
                    seedCommitted:
                        !(try ledger.pocSprint(ledger.schedule.pocStartHeight(ofEpoch: epoch), participant: me)
                        .summary.seedHash.isEmpty))
            }
        } catch {
            logger.warning("poc: reading the ledger failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    // MARK: Transactions

    /// Submits one duty tx (signed by the driver with the mempool's next sequence for the account).
    /// A tx that passed `checkTx` but fails in its block leaves a gap that drops this account's
    /// later pooled txs; nothing is retried, later duties start from the new sequence.
    @discardableResult
    private func submit(_ msg: Wire.Msg, validBefore: UInt64? = nil) async -> Bool {
        switch await driver.submitDuty([msg], key: account, validBefore: validBefore) {
        case .added, .duplicate, .committed:
            return true
        case nil:
            return false
        case .full:
            logger.warning("poc: mempool full, tx dropped", metadata: ["msg": "\(msg.typeName ?? "?")"])
            return false
        case .rejected(_, let code, let reason):
            logger.warning(
                "poc: tx rejected",
                metadata: ["msg": "\(msg.typeName ?? "?")", "code": "\(code)", "reason": "\(reason)"])
            return false
        }
    }

    // MARK: Seed

    private func commitSeed(epoch: UInt64) async {
        guard !seeded.contains(epoch), let view = await snapshot(epoch: epoch), view.me != nil, !view.seedCommitted
        else { return }
        seeded.insert(epoch)
        let file = seedsDirectory.appendingPathComponent(String(epoch))
        var seed = [UInt8](repeating: 0, count: 32)
        do {
            // A seed already on disk (a repeated event, a restart) is the one to commit: a new one
            // would overwrite the secret a committed hash may already stand for.
            if let existing = try? String(contentsOf: file, encoding: .utf8), let bytes = Hex.decode(existing),
                bytes.count == 32
            {
                seed = bytes
            } else {
                var generator = SystemRandomNumberGenerator()
                for i in seed.indices { seed[i] = UInt8.random(in: .min ... .max, using: &generator) }
                try FileManager.default.createDirectory(
                    at: seedsDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                guard
                    FileManager.default.createFile(
                        atPath: file.path, contents: Data(Hex.encode(seed).utf8), attributes: [.posixPermissions: 0o600]
                    )
                else { throw CocoaError(.fileWriteUnknown) }
            }
        } catch {
            // Without the seed on disk the claim could never be made: do not commit it.
            logger.error("poc: cannot keep the seed", metadata: ["epoch": "\(epoch)", "error": "\(error)"])
            return
        }
        var msg = Wire.MsgCommitSeed()
        msg.participant = address.description
        msg.epoch = epoch
        msg.seedHash = Data(Hash.sha256(seed).bytes)
        if await submit(Wire.Msg(msg)) {
            logger.info("poc: seed committed", metadata: ["epoch": "\(epoch)"])
        }
    }

    // MARK: Generation

    private func startGeneration(p: UInt64, epoch: UInt64, blockHashHex: String) async {
        guard !mined.contains(p), let view = await snapshot(epoch: epoch), let me = view.me else { return }
        mined.insert(p)
        await stopGeneration()
        // After a restart the nonces submitted before it are on chain: go on past the last one
        // of this node's lattice (nonce = index + k × count, so k = nonce / count).
        let own = address
        let nodeCount = mlNodeCount
        let submitted: [UInt64]
        let mining: [UInt64]
        do {
            (submitted, mining) = try await driver.readLedger { ledger throws(LedgerError) in
                (
                    try ledger.pocSprint(p, participant: own).nonces,
                    try ledger.miningNodes(epoch: epoch, participant: own, nodeCount: nodeCount)
                )
            }
        } catch {
            logger.warning("poc: reading the ledger failed", metadata: ["error": "\(error)"])
            mined.remove(p)
            return
        }
        // §5.7: the nodes the shuffle keeps serving do not mine (with one node, it mines).
        guard let nodeIndex = mining.first else {
            logger.info("poc: every node keeps serving this sprint", metadata: ["p": "\(p)"])
            return
        }
        let job = PocJob(
            blockHashHex: blockHashHex, publicKeyHex: Hex.encode(Array(me.consensusPubkey)), nodeIndex: nodeIndex,
            nodeCount: nodeCount, rTargetNano: view.params.epochs.rTargetNano, model: view.params.epochs.pocModel,
            batchSize: batchSize,
            startIndex: submitted.filter { $0 % nodeCount == nodeIndex }.max().map { $0 / nodeCount + 1 } ?? 0)
        let stream: AsyncStream<PocFound>
        do {
            stream = try worker.generate(job)
        } catch {
            logger.error("poc: the search did not start", metadata: ["error": "\(error)"])
            return
        }
        logger.info("poc: generation started", metadata: ["p": "\(p)", "h": "\(blockHashHex.prefix(12))"])
        let limit = Int(clamping: view.params.epochs.maxPocBatchNonces)
        // Batches are accepted until P + exchange_end (exclusive): later ones are not sent.
        let closes = p + view.params.epochs.exchangeEnd
        generation = Task { [weak self] in
            var submitted = 0
            for await found in stream {
                guard let self else { return }
                var start = 0
                while start < found.nonces.count {
                    let end = min(start + limit, found.nonces.count)
                    var batch = Wire.MsgSubmitPocBatch()
                    batch.participant = await self.address.description
                    batch.pocStartHeight = p
                    batch.mlNodeID = "local-\(nodeIndex)"
                    batch.nodeIndex = UInt32(nodeIndex)
                    batch.nodeCount = UInt32(nodeCount)
                    batch.nonces = Array(found.nonces[start..<end])
                    batch.distancesNano = Array(found.distancesNano[start..<end])
                    if await self.submit(Wire.Msg(batch), validBefore: closes) { submitted += end - start }
                    start = end
                }
            }
            await self?.logGenerationEnd(p: p, submitted: submitted)
        }
    }

    private func logGenerationEnd(p: UInt64, submitted: Int) {
        logger.info("poc: generation ended", metadata: ["p": "\(p)", "nonces": "\(submitted)"])
    }

    private func stopGeneration() async {
        guard let task = generation else { return }
        generation = nil
        await worker.stop()
        await task.value
    }

    // MARK: Validation

    private func validate(p: UInt64, epoch: UInt64) async {
        guard !validated.contains(p), let view = await snapshot(epoch: epoch), view.isValidator,
            let myKey = view.validatorKeyHex, !view.blockHash.isEmpty
        else { return }
        validated.insert(p)
        let h = Hex.encode(Array(view.blockHash))
        let epochs = view.params.epochs
        for participant in view.participants where participant.address != address.description {
            guard let target = try? Address(participant.address) else { continue }
            let nonces: [UInt64]
            do {
                nonces = try await driver.readLedger { ledger throws(LedgerError) in
                    try ledger.pocSprint(p, participant: target).nonces
                }
            } catch {
                continue
            }
            guard !nonces.isEmpty else { continue }
            let sample = PocSampling.sample(
                nonces: nonces, validatorKeyHex: myKey, blockHashHex: h,
                count: Int(clamping: epochs.pocValidationSample))
            let recomputed: [UInt64]
            do {
                recomputed = try await worker.validate(
                    blockHashHex: h, model: epochs.pocModel,
                    publicKeyHex: Hex.encode(Array(participant.consensusPubkey)),
                    nonces: sample)
            } catch {
                logger.warning("poc: recomputing failed", metadata: ["participant": "\(target)", "error": "\(error)"])
                continue
            }
            let verdict = PocVerdict(recomputedNano: recomputed, params: epochs)
            var msg = Wire.MsgSubmitPocValidation()
            msg.validator = address.description
            msg.participant = participant.address
            msg.pocStartHeight = p
            msg.sampledNonces = sample
            msg.recomputedNano = recomputed
            msg.fraud = verdict.fraud
            await submit(Wire.Msg(msg))
            logger.info(
                "poc: validated",
                metadata: [
                    "participant": "\(target)", "mismatches": "\(verdict.mismatches)/\(sample.count)",
                    "fraud": "\(msg.fraud)",
                ])
        }
    }
}

/// The orchestrator as a lifecycle service of the node.
struct PocService: Service {
    let orchestrator: PocOrchestrator

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await orchestrator.run()
        }
    }
}
