import Consensus
import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Logging
import P2P
import Storage

/// The consensus shell (issue 5 §2): an actor that owns the pure ``Consensus/Machine`` and does its
/// I/O. It writes every input to the WAL (fsync'd) before handing it in, persists the sign-state
/// before anything signed leaves the node, runs the machine's timers on the real clock, gossips
/// proposals and votes on the consensus channel (and re-gossips them every second so peers that
/// missed them converge), executes decided blocks through the ``LedgerApplication`` (block store
/// first, then the ledger, then the mempool and events), and syncs blocks from peers when behind.
///
/// Everything runs on this actor, never on NIO event loops: SQLite, signatures and the ledger.
/// The work is split by channel, as CometBFT's reactors split it, each in its own file with the
/// state it owns as a pure type: machine I/O (`+MachineIO`), the commit path (`+Commit`,
/// ``BlockPacing``), the consensus channel (`+Gossip`, ``ConsensusGossip``), transaction intake
/// (`+TxIntake`, ``TxIntake``, ``Mempool``), block sync (`+BlockSync`, ``BlockSync``) and queries
/// (`+Queries`). This file holds what they share, starts and stops the driver, and routes peers'
/// messages and the periodic tick to them.
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
        /// Snapshots kept when ``LedgerApplication/Limits/snapshotInterval`` takes them.
        public var snapshotKeepRecent = 2
        /// Messages for later heights kept until this node gets there.
        public var maxFutureMessages = 4_096
        public var mempoolMaxTxs = 10_000
        public var mempoolMaxBytes = 64 << 20
        /// Bytes of peers' gossiped transactions held for their check (`[memory] tx_backlog_mb`).
        public var txBacklogBytes = MemorySettings.bytes(MemorySettings().txBacklogMB)
        /// The state store's caches and WAL (`[memory] state_*_mb`).
        public var stateOptions = AuthenticatedStore.Options()
        public var limits = LedgerApplication.Limits()
        /// The software upgrades this node's ledger knows (PROTOCOL §10): the compiled-in ones,
        /// plus test-only handlers where a test adds them.
        public var upgrades: UpgradeRegistry = .compiledIn
        /// The block target (PROTOCOL §12: 1 s devnet, 5 s mainnet): the pause after a commit is
        /// stretched so consecutive heights start at least this far apart. Zero = only the commit timeout.
        public var blockInterval: Duration = .zero

        public init(chainID: String, timeouts: Consensus.Timeouts) {
            self.chainID = chainID
            self.timeouts = timeouts
        }
    }

    // The state below is shared by the extensions in the other `ConsensusDriver+*.swift` files,
    // hence internal rather than private; it is the actor's, so only they reach it.

    let configuration: Configuration
    let host: P2PHost
    let status: NodeStatusBox
    let events: EventHub
    public nonisolated let blocks: BlockStore
    var logger: Logger
    let app: LedgerApplication
    let signer: Consensus.Signer?
    /// The validator this node signs as (address, power), if it is one.
    public nonisolated let validator: (address: Address, power: UInt64)?
    /// The address of this node's consensus key, validator or not (`/status` pairs it with the
    /// current power from ``NodeStatusBox``).
    public nonisolated let signerAddress: Address?
    var machine: Consensus.Machine
    var wal: Consensus.WAL<ConsensusWALFile>
    let walFile: ConsensusWALFile
    var signStore: SignStateFile
    var mempool: Mempool

    private var started = false
    /// True while the WAL is replayed into the machine at start.
    var replaying = false
    /// Why consensus stopped, once it has: nothing is handed to the machine or committed after.
    var halted: String?
    /// Set when the chain reached a software upgrade this binary does not know (PROTOCOL §10):
    /// ``run()`` returns and the node exits with this message.
    public private(set) var upgradeHalt: String?
    let upgradeHaltSignal = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    /// Inputs waiting for the one being handled (an action can produce an input).
    var pendingInputs: [Consensus.Machine.Input] = []
    var timers: [Consensus.Timeout: Task<Void, Never>] = [:]
    /// The wait between a commit and the next height.
    var advanceTask: Task<Void, Never>?
    var pacing = BlockPacing(now: .now)
    var gossip: ConsensusGossip
    var intake: TxIntake
    /// Wakes the intake backlog's checker (one pending wake-up is enough).
    let txBacklogSignal = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    var sync = BlockSync()

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
        gossip = ConsensusGossip(maxFutureMessages: configuration.maxFutureMessages)
        intake = TxIntake(backlogLimitBytes: configuration.txBacklogBytes)
        let state: AuthenticatedStore
        let snapshots: SnapshotStore?
        do {
            state = try AuthenticatedStore(path: paths.state.path, options: configuration.stateOptions)
            blocks = try BlockStore(path: paths.blocks.path)
            if configuration.limits.snapshotInterval > 0 {
                snapshots = try SnapshotStore(directory: paths.snapshots, keepRecent: configuration.snapshotKeepRecent)
            } else {
                snapshots = nil
            }
        } catch {
            throw .storage("\(error)")
        }
        let app = try LedgerApplication(
            genesis: genesis, state: state, blocks: blocks, limits: configuration.limits,
            upgrades: configuration.upgrades, snapshots: snapshots)
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
                    while await self.checkQueuedTxs(limit: TxIntake.checkSlice) { await Task.yield() }
                }
            }
            group.addTask {
                for await event in host.events {
                    await self.peerEvent(event)
                }
            }
            let upgradeHalt = upgradeHaltSignal.stream
            group.addTask {
                // A software-upgrade halt ends the driver (and so the node) at once.
                for await _ in upgradeHalt { return }
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
        // A snapshot being written in the background finishes before the stores go.
        await app.snapshots?.waitForPending()
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
        pacing.heightStarted(at: .now)
        replaying = true
        perform(actions)
        replaying = false
        publishStatus()
    }

    /// Halts for a software upgrade (PROTOCOL §10): nothing more is committed, and ``run()``
    /// returns so the node exits with `message`, which names the upgrade and what to run.
    func haltForUpgrade(_ message: String) {
        halt(message)
        guard upgradeHalt == nil else { return }
        upgradeHalt = message
        upgradeHaltSignal.continuation.yield()
    }

    func halt(_ why: String) {
        guard halted == nil else { return }
        halted = why
        logger.critical("consensus halted", metadata: ["reason": "\(why)"])
        for task in timers.values { task.cancel() }
        timers = [:]
        status.update { $0.halted = why }
    }

    func publishStatus() {
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
        let catchingUp = sync.catchingUp(tip: app.tip.height)
        status.update {
            $0.consensusHeight = h
            $0.round = r
            $0.step = step
            $0.mempoolSize = size
            $0.catchingUp = catchingUp
        }
    }

    // MARK: Routing

    /// A peer's message, to the handler of its channel.
    func receive(_ message: InboundMessage) {
        switch message.channel {
        case .consensus: receiveConsensus(message.payload, from: message.peer)
        case .mempool: queueTxs(message.payload, from: message.peer)
        case .blockSync: receiveSync(message.payload, from: message.peer)
        case .evidence: receiveEvidence(message.payload, from: message.peer)
        case .stateSync: receiveStateSync(message.payload, from: message.peer)
        }
    }

    func punish(_ peer: PeerID, _ reason: String) {
        logger.warning("punishing peer", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        host.punish(peer, reason: reason)
    }

    private func peerEvent(_ event: PeerEvent) {
        switch event {
        case .connected(let peer):
            logger.info("peer connected", metadata: ["peer": "\(peer)"])
            sendStatus(to: peer)
            // Whatever it missed of this height.
            for payload in gossip.regossip(round: machine.round) { host.send(payload, on: .consensus, to: peer) }
        case .disconnected(let peer, let reason):
            logger.info("peer disconnected", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
            sync.disconnected(peer)
        }
        publishStatus()
    }

    /// Every 100 ms: gossip the pooled transactions; every second (`full`) also re-gossip this
    /// height's consensus messages, announce the tip, and retry or start block sync.
    private func tick(full: Bool) {
        guard halted == nil else { return }
        flushTxGossip()
        guard full else { return }
        for payload in gossip.regossip(round: machine.round) { host.broadcast(payload, on: .consensus) }
        broadcastStatus()
        sync.expireRequests(now: .now, timeout: configuration.syncRequestTimeout)
        maybeSync()
        publishStatus()
    }

    static var nowMs: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
