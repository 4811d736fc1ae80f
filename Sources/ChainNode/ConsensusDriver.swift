import Consensus
import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Logging
import P2P
import Storage
import SwiftProtobuf

/// The consensus shell (issue 5 §2): an actor that owns the pure ``Consensus/Machine`` and does its
/// I/O. It writes every input to the WAL (fsync'd) before handing it in, persists the sign-state
/// before anything signed leaves the node, runs the machine's timers on the real clock, gossips
/// proposals and votes on the consensus channel (and re-gossips them every second so peers that
/// missed them converge), executes decided blocks through the ``LedgerApplication`` (block store
/// first, then the ledger, then the mempool and events), and syncs blocks from peers when behind.
///
/// Everything runs on this actor, never on NIO event loops: SQLite, signatures and the ledger.
public actor ConsensusDriver {
    /// Knobs (tests shorten them).
    public struct Configuration: Sendable {
        public var chainID: String
        public var timeouts: Consensus.Timeouts
        /// How often own messages, seen votes and the status are re-sent.
        public var gossipInterval: Duration = .seconds(1)
        /// How long to wait at one height, with a peer one block ahead, before fetching the block.
        public var stuckBeforeSync: Duration = .seconds(2)
        /// Blocks requested at once while syncing.
        public var syncWindow = 8
        /// A request unanswered this long is sent again (to another peer if possible).
        public var syncRequestTimeout: Duration = .seconds(4)
        /// Messages for later heights kept until this node gets there.
        public var maxFutureMessages = 4_096
        public var mempoolMaxTxs = 10_000
        public var mempoolMaxBytes = 64 << 20
        public var limits = LedgerApplication.Limits()
        /// The block target (PROTOCOL §12: 1 s devnet, 5 s mainnet): the pause after a commit is
        /// stretched so consecutive heights start at least this far apart. Zero = only the commit timeout.
        public var blockInterval: Duration = .zero

        public init(chainID: String, timeouts: Consensus.Timeouts) {
            self.chainID = chainID
            self.timeouts = timeouts
        }
    }

    let configuration: Configuration
    let host: P2PHost
    let status: NodeStatusBox
    let events: EventHub
    public nonisolated let blocks: BlockStore
    private var logger: Logger
    private let app: LedgerApplication
    private let signer: Consensus.Signer?
    /// The validator this node signs as (address, power), if it is one.
    public nonisolated let validator: (address: Address, power: UInt64)?
    /// The address of this node's consensus key, validator or not (`/status` pairs it with the
    /// current power from ``NodeStatusBox``).
    public nonisolated let signerAddress: Address?
    private var machine: Consensus.Machine
    private var wal: Consensus.WAL<ConsensusWALFile>
    private let walFile: ConsensusWALFile
    private var signStore: SignStateFile
    private var mempool: Mempool

    private var started = false
    private var replaying = false
    private var halted: String?
    private var pendingInputs: [Consensus.Machine.Input] = []
    private var timers: [Consensus.Timeout: Task<Void, Never>] = [:]
    private var advanceTask: Task<Void, Never>?
    /// Consensus payloads of the current height to re-gossip: our own, and every valid one seen.
    private var gossipVotes: [[UInt8]] = []
    /// Proposals by round; only recent rounds are re-sent (they carry whole blocks).
    private var gossipProposals: [Int: [[UInt8]]] = [:]
    private var seenSignatures: Set<[UInt8]> = []
    private var future: [(height: UInt64, peer: PeerID, payload: [UInt8])] = []
    /// Digests of `future`'s payloads: peers re-gossip every second, so the same message comes often.
    private var futureDigests: Set<Hash> = []
    private var pendingTxGossip: [[UInt8]] = []
    /// Gossiped transactions waiting for their mempool check, oldest from `txBacklogHead` on.
    /// They are checked in small slices between other work: peers' messages used to be handled
    /// strictly in arrival order, so under a flood of transactions a proposal or vote waited
    /// behind seconds of checks and blocks took 5 s instead of 1 s.
    private var txBacklog: [[UInt8]] = []
    private var txBacklogHead = 0
    /// Wakes the backlog's checker (one pending wake-up is enough).
    private let txBacklogSignal = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    private var heightStartedAt = ContinuousClock.now
    private var lastBlockAt: ContinuousClock.Instant?

    // Block sync.
    private var peerHeights: [PeerID: UInt64] = [:]
    private var requested: [UInt64: (peer: PeerID, at: ContinuousClock.Instant)] = [:]
    private var received: [UInt64: (peer: PeerID, block: [UInt8], commit: Consensus.Commit)] = [:]
    private var requestRotation = 0

    /// Opens the stores and the WAL; ``run()`` replays and starts consensus.
    init(
        configuration: Configuration, paths: NodePaths, genesis: Genesis, consensusKey: SigningKey?, host: P2PHost,
        status: NodeStatusBox, events: EventHub, logger: Logger
    ) throws(NodeError) {
        self.configuration = configuration
        self.host = host
        self.status = status
        self.events = events
        self.logger = logger
        let state: AuthenticatedStore
        do {
            state = try AuthenticatedStore(path: paths.state.path)
            blocks = try BlockStore(path: paths.blocks.path)
        } catch {
            throw .storage("\(error)")
        }
        let app = try LedgerApplication(genesis: genesis, state: state, blocks: blocks, limits: configuration.limits)
        self.app = app
        let signer = consensusKey.map { Consensus.Signer(key: $0) }
        // A key outside the current validator set follows without signing (the machine checks
        // membership per height), and signs once the set it belongs to takes over.
        self.signer = signer
        signerAddress = signer?.address
        validator = self.signer.flatMap { s in app.validators.validator(s.address).map { (s.address, $0.power) } }
        do {
            walFile = try ConsensusWALFile(path: paths.walFile.path)
        } catch {
            throw .storage("wal: \(error)")
        }
        wal = Consensus.WAL(storage: walFile)
        signStore = SignStateFile(url: paths.signState)
        let signState: Consensus.SignState
        do {
            signState = try signStore.load() ?? .empty
        } catch {
            throw .storage("sign state \(paths.signState.path): \(error)")
        }
        machine = Consensus.Machine(
            configuration: Consensus.Machine.Configuration(
                chainID: configuration.chainID, timeouts: configuration.timeouts),
            signer: self.signer, height: app.tip.height + 1,
            validators: app.consensusValidators(forHeight: app.tip.height + 1), lastBlockTime: app.tip.time,
            signState: signState)
        mempool = Mempool(maxTxs: configuration.mempoolMaxTxs, maxBytes: configuration.mempoolMaxBytes)
        let tip = app.tip
        let appHash = app.appHash
        let power = signer.flatMap { app.validators.validator($0.address)?.power }
        status.update {
            $0.validatorPower = power
            $0.height = tip.height
            $0.blockHash = tip.blockID
            $0.appHash = appHash
            $0.blockTimeMs = tip.time
            $0.consensusHeight = tip.height + 1
        }
    }

    // MARK: Running

    /// Replays the WAL, starts consensus, and serves peers' messages until cancelled.
    public func run() async {
        startConsensus()
        let host = self.host
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in host.inbound {
                    await self.receive(message)
                }
            }
            let signal = txBacklogSignal.stream
            group.addTask {
                for await _ in signal {
                    // One slice per turn of the actor: consensus messages queued meanwhile go first.
                    while await self.checkQueuedTxs(limit: Self.txCheckSlice) { await Task.yield() }
                }
            }
            group.addTask {
                for await event in host.events {
                    await self.peerEvent(event)
                }
            }
            group.addTask {
                var ticks = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    ticks += 1
                    await self.tick(full: ticks % 10 == 0)
                }
            }
            // The streams end only with the host; stop with the first task that ends (cancellation).
            await group.next()
            group.cancelAll()
        }
        stop()
    }

    private func stop() {
        txBacklogSignal.continuation.finish()
        for task in timers.values { task.cancel() }
        timers = [:]
        advanceTask?.cancel()
        events.finish()
    }

    private func startConsensus() {
        guard !started else { return }
        started = true
        let replay: Consensus.WALReplay
        do {
            replay = try wal.open()
        } catch {
            return halt("wal open: \(error)")
        }
        if replay.truncatedBytes > 0 {
            logger.warning("cut a torn tail off the wal", metadata: ["bytes": "\(replay.truncatedBytes)"])
        }
        var actions = machine.start()
        let inputs = Consensus.WAL<ConsensusWALFile>.inputs(of: replay.entries, height: machine.height)
        for (input, time) in inputs {
            actions += machine.handle(input, now: time)
        }
        logger.info(
            "consensus started",
            metadata: [
                "height": "\(machine.height)", "round": "\(machine.round)", "wal.replayed": "\(inputs.count)",
                "validator": "\(signer?.address.description ?? "none")",
            ])
        heightStartedAt = .now
        replaying = true
        perform(actions)
        replaying = false
        publishStatus()
    }

    private func halt(_ why: String) {
        guard halted == nil else { return }
        halted = why
        logger.critical("consensus halted", metadata: ["reason": "\(why)"])
        for task in timers.values { task.cancel() }
        timers = [:]
        status.update { $0.halted = why }
    }

    private static var nowMs: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: Machine I/O

    private func input(_ input: Consensus.Machine.Input) {
        pendingInputs.append(input)
        guard pendingInputs.count == 1 else { return }
        while let next = pendingInputs.first {
            guard halted == nil else {
                pendingInputs = []
                return
            }
            let now = Self.nowMs
            do {
                try wal.append(.input(next, now: now))
            } catch {
                pendingInputs = []
                return halt("wal append: \(error)")
            }
            perform(machine.handle(next, now: now))
            pendingInputs.removeFirst()
        }
    }

    private func perform(_ actions: [Consensus.Machine.Action]) {
        for action in actions {
            guard halted == nil else { return }
            switch action {
            case .persistSignState(let state):
                do {
                    try signStore.save(state)
                } catch {
                    return halt("sign state: \(error)")
                }
            case .broadcastProposal(let message):
                do {
                    try wal.append(.input(.proposal(message), now: Self.nowMs))
                } catch {
                    return halt("wal append: \(error)")
                }
                let payload = Self.envelope(proposal: message)
                seenSignatures.insert(message.signed.signature)
                gossipProposals[message.signed.proposal.round, default: []].append(payload)
                host.broadcast(payload, on: .consensus)
                logger.debug(
                    "proposed",
                    metadata: [
                        "height": "\(message.signed.proposal.height)", "round": "\(message.signed.proposal.round)",
                        "block.bytes": "\(message.block.count)",
                    ])
            case .broadcastVote(let vote):
                do {
                    try wal.append(.input(.vote(vote), now: Self.nowMs))
                } catch {
                    return halt("wal append: \(error)")
                }
                let payload = Self.envelope(vote: vote)
                seenSignatures.insert(vote.signature)
                gossipVotes.append(payload)
                host.broadcast(payload, on: .consensus)
            case .schedule(let timeout):
                schedule(timeout)
            case .requestProposal(let height, let round):
                guard let signer, height == app.tip.height + 1 else { continue }
                let txs = app.prepareProposal(
                    txs: mempool.reap(
                        maxCount: configuration.limits.maxBlockTxs, maxBytes: configuration.limits.maxBlockBytes))
                let block = app.makeBlock(proposer: signer.address, txs: txs)
                input(.proposalBlock(height: height, round: round, block: block))
            case .validate(let height, let blockID, let block):
                guard height == app.tip.height + 1 else { continue }
                let verdict = app.check(block)
                if case .failure(let rejection) = verdict {
                    logger.warning(
                        "rejected a proposed block",
                        metadata: [
                            "height": "\(height)", "reason": "\(rejection)", "block": "\(blockID.hex.prefix(12))",
                        ])
                }
                input(.validated(blockID: blockID, valid: (try? verdict.get()) != nil))
            case .commit(let decision):
                commitDecision(decision)
            case .evidence(let evidence):
                // Gossiped so other nodes learn of it; committing evidence in blocks comes with slashing.
                logger.warning(
                    "duplicate vote evidence",
                    metadata: [
                        "validator": "\(evidence.key.validator)", "height": "\(evidence.key.height)",
                        "round": "\(evidence.key.round)",
                    ])
                let envelope = Wire.EvidenceEnvelope.with { $0.duplicateVote = evidence.wire }
                if let payload = try? envelope.serializedBytes() as [UInt8] {
                    host.broadcast(payload, on: .evidence)
                }
            case .refusedToSign(let height, let round, let step):
                // Expected while replaying the WAL: the sign-state is already past a step the replay
                // re-derives, and the vote that was sent then is replayed from the WAL right after.
                logger.log(
                    level: replaying ? .debug : .warning,
                    "refused to sign: the sign-state already holds a different message",
                    metadata: ["height": "\(height)", "round": "\(round)", "step": "\(step)"])
            }
        }
        publishStatus()
    }

    private func schedule(_ timeout: Consensus.Timeout) {
        timers[timeout]?.cancel()
        timers[timeout] = Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(timeout.duration))
            guard !Task.isCancelled else { return }
            await self?.fire(timeout)
        }
    }

    private func fire(_ timeout: Consensus.Timeout) {
        timers[timeout] = nil
        guard halted == nil, timeout.height == machine.height else { return }
        input(.timeout(timeout))
    }

    static func envelope(proposal: Consensus.ProposalMessage) -> [UInt8] {
        (try? Wire.ConsensusEnvelope.with { $0.proposal = proposal.wire }.serializedBytes()) ?? []
    }

    static func envelope(vote: Consensus.SignedVote) -> [UInt8] {
        (try? Wire.ConsensusEnvelope.with { $0.vote = vote.wire }.serializedBytes()) ?? []
    }

    // MARK: Commit and advance

    private func commitDecision(_ decision: Consensus.Machine.Decision) {
        guard decision.height == app.tip.height + 1 else { return }
        guard let block = try? Wire.Block(serializedBytes: decision.block) else {
            return halt("the decided block \(decision.height) does not decode")
        }
        apply(
            height: decision.height, blockID: decision.blockID, bytes: decision.block, block: block,
            commit: decision.commit, round: decision.round, synced: false)
    }

    /// Block store first (durable), then the ledger, then the mempool, events and status; then
    /// the next height (after the commit timeout, or at once for a synced block).
    private func apply(
        height: UInt64, blockID: Hash, bytes: [UInt8], block: Wire.Block, commit: Consensus.Commit, round: Int,
        synced: Bool
    ) {
        let applied: LedgerApplication.Applied
        do {
            applied = try app.execute(
                height: height, blockID: blockID, block: block, commit: commit, save: true, bytes: bytes)
        } catch {
            return halt("\(error)")
        }
        let dropped = mempool.update(committed: applied.results.map(\.hash)) { tx in app.checkTx(tx).isSuccess }
        let now = ContinuousClock.now
        let interval = lastBlockAt.map { now - $0 }
        lastBlockAt = now
        var out: [NodeEvent] = [
            .newBlock(
                NodeEvent.NewBlock(
                    height: height, hash: blockID, numTxs: applied.txs.count, appHash: applied.appHash,
                    timeMs: applied.header.timeMs))
        ]
        var failed = 0
        for (i, r) in applied.results.enumerated() {
            if !r.isSuccess { failed += 1 }
            out.append(
                .tx(
                    NodeEvent.TxCommitted(
                        hash: r.hash, height: height, index: i, code: r.isSuccess ? 0 : 1,
                        log: r.error.map { "\($0.shortDescription): \($0)" } ?? "")))
            for e in r.events {
                var attributes: [String: String] = [:]
                for (k, v) in e.attributes { attributes[k] = v }
                out.append(.ledger(NodeEvent.Ledger(height: height, type: e.kind, attributes: attributes)))
            }
        }
        // End-of-block events (epoch stages, weights, validator sets) after the txs'.
        for e in applied.events {
            out.append(
                .ledger(NodeEvent.Ledger(height: height, type: e.kind, attributes: Dictionary(e.attributes) { $1 })))
        }
        events.publish(out)
        let size = mempool.count
        let power = signer.flatMap { app.validators.validator($0.address)?.power }
        status.update {
            $0.validatorPower = power
            $0.height = height
            $0.blockHash = blockID
            $0.appHash = applied.appHash
            $0.blockTimeMs = applied.header.timeMs
            $0.mempoolSize = size
            $0.txsCommitted += UInt64(applied.txs.count)
            if let interval {
                $0.lastIntervalMs =
                    interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000
            }
        }
        logger.info(
            "committed block",
            metadata: [
                "height": "\(height)", "round": "\(round)", "block": "\(blockID.hex.prefix(12))",
                "txs": "\(applied.txs.count)", "txs.failed": "\(failed)",
                "app_hash": "\(applied.appHash.hex.prefix(12))",
                "synced": "\(synced)", "mempool.dropped": "\(dropped)",
            ])
        if synced {
            advance()
        } else {
            let elapsed = ContinuousClock.now - heightStartedAt
            let wait = max(.milliseconds(configuration.timeouts.commit), configuration.blockInterval - elapsed)
            advanceTask?.cancel()
            advanceTask = Task { [weak self] in
                try? await Task.sleep(for: wait)
                guard !Task.isCancelled else { return }
                await self?.advance()
            }
        }
    }

    /// Starts the height after the tip: carries the precommits gathered since the decision into
    /// the next `last_commit`, marks the WAL, and hands in messages buffered for the new height.
    private func advance() {
        guard halted == nil, machine.height <= app.tip.height else { return }
        if let gathered = machine.decidedCommit { app.extendTipCommit(gathered) }
        for task in timers.values { task.cancel() }
        timers = [:]
        // The WAL only ever matters for the current height: the committed one is in the block store.
        do {
            try walFile.truncate(to: 0)
            try wal.append(.endHeight(app.tip.height))
        } catch {
            return halt("wal: \(error)")
        }
        gossipVotes = []
        gossipProposals = [:]
        seenSignatures = []
        let actions = machine.advance(
            height: app.tip.height + 1, validators: app.consensusValidators(forHeight: app.tip.height + 1),
            lastBlockTime: app.tip.time)
        heightStartedAt = .now
        perform(actions)
        let height = machine.height
        let ready = future.filter { $0.height == height }
        future.removeAll { $0.height <= height }
        futureDigests = Set(future.map { Hash.sha256($0.payload) })
        for message in ready where machine.height == height {
            receiveConsensus(message.payload, from: message.peer)
        }
        maybeSync()
    }

    private func publishStatus() {
        let h = machine.height
        let r = machine.round
        let step =
            switch machine.step {
            case .propose: "propose"
            case .prevote: "prevote"
            case .precommit: "precommit"
            case .commit: "commit"
            }
        let size = mempool.count
        let best = peerHeights.values.max() ?? 0
        let catchingUp = best > app.tip.height + 1
        status.update {
            $0.consensusHeight = h
            $0.round = r
            $0.step = step
            $0.mempoolSize = size
            $0.catchingUp = catchingUp
        }
    }

    // MARK: Inbound

    func receive(_ message: InboundMessage) {
        switch message.channel {
        case .consensus: receiveConsensus(message.payload, from: message.peer)
        case .mempool: queueTxs(message.payload, from: message.peer)
        case .blockSync: receiveSync(message.payload, from: message.peer)
        case .evidence: receiveEvidence(message.payload, from: message.peer)
        }
    }

    private func punish(_ peer: PeerID, _ reason: String) {
        logger.warning("punishing peer", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        host.punish(peer, reason: reason)
    }

    private func receiveConsensus(_ payload: [UInt8], from peer: PeerID) {
        guard halted == nil else { return }
        guard let envelope = try? Wire.ConsensusEnvelope(serializedBytes: payload) else {
            return punish(peer, "undecodable consensus message")
        }
        switch envelope.sum {
        case .proposal(let wire):
            guard let message = try? Consensus.ProposalMessage(wire: wire) else {
                return punish(peer, "malformed proposal")
            }
            let p = message.signed.proposal
            guard admit(height: p.height, round: p.round, payload: payload, from: peer) else { return }
            guard seenSignatures.insert(message.signed.signature).inserted else { return }
            guard p.proposer == machine.proposer(round: p.round),
                // The set of the machine's height: after a commit the tip has moved on while the
                // machine still collects that height's votes.
                let validator = app.validatorSet(forHeight: machine.height).validator(p.proposer),
                message.signed.hasValidSignature(by: validator.publicKey, chainID: configuration.chainID),
                Consensus.blockID(of: message.block) == p.blockID
            else {
                seenSignatures.remove(message.signed.signature)
                return punish(peer, "invalid proposal at \(p.height)/\(p.round)")
            }
            gossipProposals[p.round, default: []].append(payload)
            input(.proposal(message))
        case .vote(let wire):
            guard let vote = try? Consensus.SignedVote(wire: wire) else { return punish(peer, "malformed vote") }
            let v = vote.vote
            guard admit(height: v.height, round: v.round, payload: payload, from: peer) else { return }
            guard !machine.contains(vote), seenSignatures.insert(vote.signature).inserted else { return }
            guard let validator = app.validatorSet(forHeight: machine.height).validator(v.validator),
                vote.hasValidSignature(by: validator.publicKey, chainID: configuration.chainID)
            else {
                seenSignatures.remove(vote.signature)
                return punish(peer, "invalid vote at \(v.height)/\(v.round)")
            }
            gossipVotes.append(payload)
            input(.vote(vote))
        case nil:
            punish(peer, "empty consensus message")
        }
    }

    /// Whether a message of (height, round) is for now: later heights are buffered (bounded),
    /// earlier ones dropped (a slower peer re-gossiping its height is not at fault), absurd rounds
    /// dropped (computing their proposer would cost time linear in the round).
    private func admit(height: UInt64, round: Int, payload: [UInt8], from peer: PeerID) -> Bool {
        if height > machine.height {
            if height <= machine.height + 2, future.count < configuration.maxFutureMessages,
                futureDigests.insert(Hash.sha256(payload)).inserted
            {
                future.append((height, peer, payload))
            }
            return false
        }
        guard height == machine.height, round <= machine.round + 100 else { return false }
        return true
    }

    /// Transactions checked per slice of the backlog (~10–30 ms of work under load).
    static let txCheckSlice = 32
    /// Gossiped transactions held for checking at most; more are dropped (gossip is best effort:
    /// the transactions reach this node in blocks anyway, and their senders' nodes keep them).
    static let txBacklogLimit = 20_000

    /// Queues a peer's gossiped transactions for ``checkQueuedTxs(limit:)``.
    private func queueTxs(_ payload: [UInt8], from peer: PeerID) {
        guard let batch = try? Wire.MempoolTxs(serializedBytes: payload) else {
            return punish(peer, "undecodable mempool message")
        }
        let room = Self.txBacklogLimit - (txBacklog.count - txBacklogHead)
        if batch.txs.count > room {
            logger.debug(
                "tx backlog full: dropping gossiped txs", metadata: ["dropped": "\(batch.txs.count - max(room, 0))"])
        }
        for tx in batch.txs.prefix(max(room, 0)) { txBacklog.append(Array(tx)) }
        txBacklogSignal.continuation.yield()
    }

    /// Checks up to `limit` queued transactions into the mempool; whether more are queued.
    private func checkQueuedTxs(limit: Int) -> Bool {
        let end = min(txBacklogHead + limit, txBacklog.count)
        for i in txBacklogHead..<end {
            let tx = txBacklog[i]
            if halted == nil, case .added = addTx(tx) { pendingTxGossip.append(tx) }
        }
        txBacklogHead = end
        if txBacklogHead == txBacklog.count {
            txBacklog.removeAll(keepingCapacity: true)
            txBacklogHead = 0
            let size = mempool.count
            status.update { $0.mempoolSize = size }
            return false
        }
        if txBacklogHead > 4_096 {
            txBacklog.removeFirst(txBacklogHead)
            txBacklogHead = 0
        }
        return true
    }

    private func receiveEvidence(_ payload: [UInt8], from peer: PeerID) {
        guard let envelope = try? Wire.EvidenceEnvelope(serializedBytes: payload),
            let evidence = try? Consensus.DuplicateVoteEvidence(wire: envelope.duplicateVote)
        else { return punish(peer, "undecodable evidence") }
        let signers = app.validatorSet(forHeight: evidence.key.height)
        guard (try? evidence.verify(validators: signers, chainID: configuration.chainID)) != nil else {
            return punish(peer, "invalid evidence")
        }
        logger.warning(
            "peer reported duplicate vote evidence",
            metadata: ["peer": "\(peer)", "validator": "\(evidence.key.validator)", "height": "\(evidence.key.height)"])
    }

    private func peerEvent(_ event: PeerEvent) {
        switch event {
        case .connected(let peer):
            logger.info("peer connected", metadata: ["peer": "\(peer)"])
            sendStatus(to: peer)
            // Whatever it missed of this height.
            for payload in regossip { host.send(payload, on: .consensus, to: peer) }
        case .disconnected(let peer, let reason):
            logger.info("peer disconnected", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
            peerHeights[peer] = nil
            for (h, r) in requested where r.peer == peer { requested[h] = nil }
        }
        publishStatus()
    }

    // MARK: Periodic work

    private func tick(full: Bool) {
        guard halted == nil else { return }
        flushTxGossip()
        guard full else { return }
        for payload in regossip { host.broadcast(payload, on: .consensus) }
        broadcastStatus()
        let now = ContinuousClock.now
        for (h, r) in requested where now - r.at > configuration.syncRequestTimeout { requested[h] = nil }
        maybeSync()
        publishStatus()
    }

    /// What is re-sent: every vote of this height, and the proposals of the current and previous
    /// round (a peer in an older round skips ahead on +1/3 of the votes of a newer one).
    private var regossip: [[UInt8]] {
        var out: [[UInt8]] = []
        for r in [machine.round - 1, machine.round] { out += gossipProposals[r] ?? [] }
        return out + gossipVotes
    }

    private func flushTxGossip() {
        guard !pendingTxGossip.isEmpty else { return }
        var batch = Wire.MempoolTxs()
        var bytes = 0
        for tx in pendingTxGossip {
            batch.txs.append(Data(tx))
            bytes += tx.count
            if bytes > 1 << 20 {
                if let payload = try? batch.serializedBytes() as [UInt8] { host.broadcast(payload, on: .mempool) }
                batch = Wire.MempoolTxs()
                bytes = 0
            }
        }
        if !batch.txs.isEmpty, let payload = try? batch.serializedBytes() as [UInt8] {
            host.broadcast(payload, on: .mempool)
        }
        pendingTxGossip = []
    }

    // MARK: Mempool

    private func addTx(_ tx: [UInt8]) -> Mempool.AddResult {
        let result = mempool.add(tx) { tx in
            let r = app.checkTx(tx)
            return r.error.map { ($0.shortDescription, $0.description) }
        }
        return result
    }

    /// A transaction from a client: checked, pooled and gossiped.
    public func submit(_ tx: [UInt8]) -> Mempool.AddResult {
        let result = addTx(tx)
        if case .added = result { pendingTxGossip.append(tx) }
        let size = mempool.count
        status.update { $0.mempoolSize = size }
        return result
    }

    /// Transactions from a client, checked in order in one turn of the driver (`POST /txs`): a
    /// TA's or executor's burst costs one hop instead of one per tx.
    public func submit(batch: [[UInt8]]) -> [Mempool.AddResult] {
        batch.map { submit($0) }
    }

    // MARK: Block sync

    private func statusPayload() -> [UInt8] {
        let height = app.tip.height
        return
            (try? Wire.BlockSyncEnvelope.with {
                $0.status = Wire.SyncStatus.with {
                    $0.height = height
                    $0.base = height > 0 ? 1 : 0
                }
            }.serializedBytes()) ?? []
    }

    private func broadcastStatus() { host.broadcast(statusPayload(), on: .blockSync) }
    private func sendStatus(to peer: PeerID) { host.send(statusPayload(), on: .blockSync, to: peer) }

    private func receiveSync(_ payload: [UInt8], from peer: PeerID) {
        guard let envelope = try? Wire.BlockSyncEnvelope(serializedBytes: payload) else {
            return punish(peer, "undecodable block-sync message")
        }
        switch envelope.sum {
        case .status(let s):
            peerHeights[peer] = s.height
            maybeSync()
            publishStatus()
        case .blockRequest(let r):
            serve(height: r.height, to: peer)
        case .blockResponse(let r):
            guard halted == nil else { return }
            guard let asked = requested[r.height], asked.peer == peer else { return }
            requested[r.height] = nil
            guard r.height > app.tip.height else { return }
            let id = Consensus.blockID(of: Array(r.block))
            guard let commit = try? Consensus.Commit(wire: r.commit), commit.blockID == id, commit.height == r.height
            else {
                return punish(peer, "malformed commit for block \(r.height)")
            }
            // Verified when it is next (``applyReceived``): block h's commit is checked against the
            // set that signed h, known from committed state once the tip is h − 1.
            received[r.height] = (peer, Array(r.block), commit)
            applyReceived()
        case .noBlock(let n):
            if requested[n.height]?.peer == peer { requested[n.height] = nil }
            // It announced more than it serves: believe the answer, so it is not asked again and
            // does not keep this node "catching up".
            if let announced = peerHeights[peer], n.height > 0, n.height <= announced {
                peerHeights[peer] = n.height - 1
                publishStatus()
            }
        case nil:
            punish(peer, "empty block-sync message")
        }
    }

    private func serve(height: UInt64, to peer: PeerID) {
        let stored = try? blocks.block(at: height)
        if let stored, let commit = try? Wire.Commit(serializedBytes: stored.commit) {
            let response = Wire.BlockSyncEnvelope.with {
                $0.blockResponse = Wire.BlockResponse.with {
                    $0.height = height
                    $0.block = Data(stored.block)
                    $0.commit = commit
                }
            }
            if let payload = try? response.serializedBytes() as [UInt8] {
                host.send(payload, on: .blockSync, to: peer)
                return
            }
        }
        let none = Wire.BlockSyncEnvelope.with { $0.noBlock = Wire.NoBlock.with { $0.height = height } }
        if let payload = try? none.serializedBytes() as [UInt8] { host.send(payload, on: .blockSync, to: peer) }
    }

    /// Applies verified blocks in order while the next one is at hand.
    private func applyReceived() {
        while halted == nil, let next = received.removeValue(forKey: app.tip.height + 1) {
            let height = app.tip.height + 1
            do {
                try Consensus.verifyCommit(
                    blockID: Consensus.blockID(of: next.block), commit: next.commit, validators: app.validators,
                    chainID: configuration.chainID, height: height)
            } catch {
                punish(next.peer, "block \(height) with a commit that does not verify: \(error)")
                continue
            }
            guard let block = try? Wire.Block(serializedBytes: next.block) else {
                return halt("block \(height), committed by +2/3, does not decode")
            }
            // Committed by +2/3 of the validators, so canonical: a block that does not extend our
            // chain or our state means this node diverged, and it must stop rather than go on.
            if let last = app.tip.blockID, block.header.lastBlockID.hash != Data(last.bytes) {
                return halt("synced block \(height) does not extend this node's block \(height - 1)")
            }
            if block.header.appHash != Data(app.appHash.bytes) {
                return halt("synced block \(height) carries an app hash this node's state does not have")
            }
            apply(
                height: height, blockID: next.commit.blockID, bytes: next.block, block: block, commit: next.commit,
                round: next.commit.round, synced: true)
        }
        received = received.filter { $0.key > app.tip.height }
        maybeSync()
    }

    /// Requests the blocks peers have and this node lacks. One block behind is normal (a peer
    /// committed first); fetching starts when that lasts longer than `stuckBeforeSync`.
    private func maybeSync() {
        guard halted == nil else { return }
        let tip = app.tip.height
        guard let best = peerHeights.values.max(), best > tip else { return }
        if best == tip + 1, ContinuousClock.now - heightStartedAt < configuration.stuckBeforeSync { return }
        let last = min(best, tip + UInt64(configuration.syncWindow))
        for h in (tip + 1)...last where requested[h] == nil && received[h] == nil {
            let candidates = peerHeights.filter { $0.value >= h }.keys.sorted { $0.description < $1.description }
            guard !candidates.isEmpty else { continue }
            requestRotation += 1
            let peer = candidates[requestRotation % candidates.count]
            let request = Wire.BlockSyncEnvelope.with { $0.blockRequest = Wire.BlockRequest.with { $0.height = h } }
            guard let payload = try? request.serializedBytes() as [UInt8] else { continue }
            if host.send(payload, on: .blockSync, to: peer) {
                requested[h] = (peer, .now)
            }
        }
    }

    // MARK: Queries

    /// A state query at `height` (nil: latest); see ``QueryPath``.
    func query(_ path: QueryPath, height: UInt64?) throws(QueryError) -> QueryResult {
        let result = try QueryEngine.run(path, height: height, state: app.state, latest: app.tip.height)
        // At the latest height an account also says which sequence its next transaction must carry
        // here: the committed one plus its transactions waiting in this node's mempool. A sender
        // with txs in flight resynchronises from it (the committed sequence is behind them).
        guard case .account(let address) = path, height == nil, case .object(var fields) = result.value,
            let next = try? app.ledger.nextSequence(of: address)
        else { return result }
        fields.append(("next_sequence", .uint(next)))
        return QueryResult(height: result.height, key: result.key, value: .object(fields), proof: result.proof)
    }

    /// The state root after block `height` (0: genesis), while that version is kept.
    public func stateRoot(at height: UInt64) -> Hash? {
        guard height <= app.tip.height else { return nil }
        return try? app.state.root(atVersion: height)
    }

    /// The last committed height.
    public var committedHeight: UInt64 { app.tip.height }

    /// The chain parameters in force.
    var params: ChainParams { app.params }

    /// Signs `messages` with `key` as one fee-free duty tx (PROTOCOL §3.4) carrying the account's
    /// next sequence as this node's mempool sees it, and submits it, in one turn of the driver so
    /// no other submission can take the sequence in between. `nil` (nothing submitted) when the
    /// next block is at or past `validBefore`.
    func submitDuty(_ messages: [Wire.Msg], key: SigningKey, validBefore: UInt64? = nil) -> Mempool.AddResult? {
        if let validBefore, app.tip.height + 1 >= validBefore { return nil }
        guard let sequence = try? app.ledger.nextSequence(of: key.publicKey.address) else { return nil }
        var body = Wire.TxBody()
        body.chainID = configuration.chainID
        body.signer = key.publicKey.address.description
        body.sequence = sequence
        body.messages = messages
        guard let tx = try? Wire.Tx.signed(body: body, by: key), let bytes = try? tx.serializedBytes() as [UInt8] else {
            return nil
        }
        return submit(bytes)
    }

    /// Reads the committed ledger (in-process services such as the PoC orchestrator).
    func readLedger<T: Sendable>(_ body: @Sendable (Ledger) throws(LedgerError) -> T) throws(LedgerError) -> T {
        try body(app.ledger)
    }
}
