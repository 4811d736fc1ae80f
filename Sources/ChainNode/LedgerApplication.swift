import Consensus
import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf

/// The ledger as consensus sees it (PROTOCOL §3.2): builds this node's proposals, checks others'
/// against everything this node knows, executes decided blocks, and keeps the chain's tip (last
/// block id, commit, time) that the next header links to.
///
/// The validator set of each height comes from the ledger (module Epochs): the genesis set from
/// height 1, then each sprint's weights from its switch height. The ledger hands a new set over two
/// heights before it signs (PROTOCOL §3.1), so the sets of `tip + 1` and `tip + 2` — a header's
/// `validators_hash` and `next_validators_hash` — are always known from committed state, after a
/// restart and during block sync alike.
///
/// Not `Sendable`: owned by the ``ConsensusDriver`` actor, like the ledger inside it.
public final class LedgerApplication {
    /// Limits on what a block may carry.
    public struct Limits: Sendable, Hashable {
        public var maxBlockTxs: Int
        public var maxBlockBytes: Int
        /// State versions kept for queries and proofs (`[state] keep_recent`); 0 keeps all.
        public var keepRecent: UInt64
        /// Blocks kept in the block store (`[storage] keep_blocks`); 0 keeps all.
        public var keepBlocks: UInt64
        /// Pruning runs every this many blocks.
        public var pruneInterval: UInt64
        /// A state snapshot is taken after every block whose height is a multiple of this
        /// (`[state_sync] snapshot_interval`, PROTOCOL §3.1 *State sync*); 0: none.
        public var snapshotInterval: UInt64 = 0
        /// Bytes of verified signatures remembered (`[memory] signature_cache_mb`); 0: none.
        public var signatureCacheBytes = MemorySettings.bytes(MemorySettings().signatureCacheMB)

        public init(
            maxBlockTxs: Int = 5_000, maxBlockBytes: Int = 4 << 20, keepRecent: UInt64 = 1_000,
            keepBlocks: UInt64 = 0, pruneInterval: UInt64 = 100
        ) {
            self.maxBlockTxs = maxBlockTxs
            self.maxBlockBytes = maxBlockBytes
            self.keepRecent = keepRecent
            self.keepBlocks = keepBlocks
            self.pruneInterval = max(pruneInterval, 1)
        }
    }

    /// The last committed block, as the next header refers to it.
    public struct Tip: Sendable, Hashable {
        public var height: UInt64
        public var blockID: Hash?
        /// Milliseconds since the epoch; the genesis time before the first block.
        public var time: Int64
        /// The commit that will be carried as the next block's `last_commit`.
        public var commit: Consensus.Commit?
    }

    /// What executing a block produced.
    public struct Applied: Sendable {
        public let height: UInt64
        public let blockID: Hash
        public let header: Wire.Header
        public let txs: [[UInt8]]
        public let results: [TxResult]
        public let appHash: Hash
        /// The ledger's end-of-block events and validator updates (``BlockResult``).
        public let events: [LedgerEvent]
        public let validatorUpdates: [ValidatorUpdate]
    }

    public let chainID: String
    /// The genesis validator set (epoch 0).
    public let genesisValidators: Consensus.ValidatorSet
    /// The ledger's validator-set history, by first height (ascending), as consensus sets with
    /// fresh proposer priorities; reloaded when a block hands over a new set.
    private var history: [(from: UInt64, set: Consensus.ValidatorSet)] = []
    /// A set with the proposer priorities of some height, advanced as heights go by.
    private var rotation: (from: UInt64, height: UInt64, set: Consensus.ValidatorSet)?
    public let genesisTime: Int64
    public let limits: Limits
    let ledger: Ledger
    let state: AuthenticatedStore
    let blocks: BlockStore
    /// The snapshots this node offers its peers (`nil`: it takes none).
    let snapshots: SnapshotStore?
    public private(set) var tip: Tip
    /// Verified double signs not yet in a block (PROTOCOL §3.1, §9): detected by this node's
    /// machine or received from peers; the proposer puts them in its next block.
    public private(set) var evidencePool: [Consensus.DuplicateVoteEvidence] = []
    /// Most evidence one block may carry.
    public static let maxBlockEvidence = 64

    /// Opens the application over its stores: runs `initChain` on an empty state store, then
    /// re-executes the blocks the block store holds and the state store lacks (a crash between the
    /// two writes), so the ledger is at the block store's height.
    /// `upgrades`: the software upgrades the ledger knows (PROTOCOL §10); a store whose next block
    /// is an upgrade it does not know is refused with `upgrade_required`.
    public init(
        genesis: Genesis, state: AuthenticatedStore, blocks: BlockStore, limits: Limits = Limits(),
        upgrades: UpgradeRegistry = .compiledIn, snapshots: SnapshotStore? = nil
    ) throws(NodeError) {
        chainID = genesis.chainID
        self.state = state
        self.blocks = blocks
        self.snapshots = snapshots
        self.limits = limits
        genesisTime = try Self.parseTime(genesis.genesisTime)
        var members: [(publicKey: PublicKey, power: UInt64)] = []
        for v in genesis.validators {
            guard let bytes = Hex.decode(v.consensusPubkey), let key = try? PublicKey(bytes: bytes) else {
                throw .genesis("validator \(v.name) has an invalid consensus key")
            }
            members.append((key, v.power))
        }
        do {
            genesisValidators = try Consensus.ValidatorSet(members)
        } catch {
            throw .genesis("validator set: \(error)")
        }
        do {
            ledger = try Ledger(store: state, upgrades: upgrades)
            if limits.signatureCacheBytes > 0 {
                ledger.signatureCache = SignatureCache(bytes: limits.signatureCacheBytes)
            }
            if ledger.height == nil { _ = try ledger.initChain(genesis) }
        } catch {
            if error.isUpgradeRequired { throw .upgradeRequired(error.description) }
            throw .genesis("\(error)")
        }
        guard ledger.chainID == genesis.chainID else {
            throw .genesis("the state store holds chain \(ledger.chainID), genesis.json says \(genesis.chainID)")
        }
        tip = Tip(height: 0, blockID: nil, time: genesisTime, commit: nil)
        try reloadValidatorSets()
        let stored: UInt64
        do { stored = try blocks.latestHeight() } catch { throw .storage("\(error)") }
        let executed = ledger.height ?? 0
        guard executed <= stored else {
            throw .storage("the state store is at height \(executed) but the block store only at \(stored)")
        }
        // The tip of what the ledger already executed, then replay the rest.
        if executed > 0 { tip = try tipFromStore(height: executed) }
        if stored > executed {
            for h in (executed + 1)...stored {
                guard let block = try? blocks.block(at: h), let decoded = try? Wire.Block(serializedBytes: block.block),
                    let wireCommit = try? Wire.Commit(serializedBytes: block.commit),
                    let commit = try? Consensus.Commit(wire: wireCommit)
                else { throw .storage("stored block \(h) does not decode") }
                _ = try execute(height: h, blockID: block.hash, block: decoded, commit: commit)
            }
        }
    }

    /// Reads the validator-set history from the ledger.
    private func reloadValidatorSets() throws(NodeError) {
        let records: [Wire.ValidatorSetRecord]
        do { records = try ledger.validatorSets() } catch { throw .storage("validator sets: \(error)") }
        var loaded: [(from: UInt64, set: Consensus.ValidatorSet)] = []
        for record in records {
            let members = record.validators.compactMap { v -> (publicKey: PublicKey, power: UInt64)? in
                (try? PublicKey(bytes: Array(v.consensusPubkey))).map { ($0, v.weight) }
            }
            do {
                loaded.append((record.fromHeight, try Consensus.ValidatorSet(members)))
            } catch {
                throw .diverged("the validator set from height \(record.fromHeight) is unusable: \(error)")
            }
        }
        if loaded.isEmpty { loaded = [(1, genesisValidators)] }
        history = loaded
        rotation = nil
    }

    /// The validator set that signs `height` (without proposer rotation).
    public func validatorSet(forHeight height: UInt64) -> Consensus.ValidatorSet {
        entry(forHeight: height).set
    }

    private func entry(forHeight height: UInt64) -> (from: UInt64, set: Consensus.ValidatorSet) {
        history.last { $0.from <= max(height, 1) } ?? (1, genesisValidators)
    }

    /// The set that signs the next height (`tip + 1`): who may propose and vote now.
    public var validators: Consensus.ValidatorSet { validatorSet(forHeight: tip.height + 1) }

    private func tipFromStore(height: UInt64) throws(NodeError) -> Tip {
        guard let block = try? blocks.block(at: height), let decoded = try? Wire.Block(serializedBytes: block.block),
            let wireCommit = try? Wire.Commit(serializedBytes: block.commit),
            let commit = try? Consensus.Commit(wire: wireCommit)
        else { throw .storage("stored block \(height) does not decode") }
        return Tip(height: height, blockID: block.hash, time: decoded.header.timeMs, commit: commit)
    }

    static func parseTime(_ text: String) throws(NodeError) -> Int64 {
        let formatter = ISO8601DateFormatter()
        var date = formatter.date(from: text)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            date = formatter.date(from: text)
        }
        guard let date else { throw .genesis("genesis_time \"\(text)\" is not RFC 3339") }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// The root of the state after the last committed block.
    public var appHash: Hash { ledger.appHash }
    public var params: ChainParams { ledger.params }

    // MARK: Proposals

    /// The time a block at `tip.height + 1` must carry: the genesis time for height 1, else the
    /// weighted median of the last commit's precommit times (PROTOCOL §3.1).
    func blockTime(lastCommit: Consensus.Commit?) -> Int64 {
        guard let lastCommit, tip.height > 0 else { return genesisTime }
        return Consensus.blockTime(
            commit: lastCommit, validators: validatorSet(forHeight: tip.height), previous: tip.time)
    }

    /// Builds the block this node proposes at `tip.height + 1` with `txs` (already bounded by
    /// ``prepareProposal(txs:height:)``).
    public func makeBlock(proposer: Address, txs: [[UInt8]]) -> [UInt8] {
        let evidence = Array(evidencePool.prefix(Self.maxBlockEvidence))
        var header = Wire.Header()
        header.chainID = chainID
        header.height = tip.height + 1
        header.timeMs = blockTime(lastCommit: tip.commit)
        var block = Wire.Block()
        if let id = tip.blockID, let commit = tip.commit {
            header.lastBlockID = Wire.BlockID.with { $0.hash = Data(id.bytes) }
            header.lastCommitHash = Data(commit.hash.bytes)
            block.lastCommit = commit.wire
        }
        header.dataHash = Data(Self.dataHash(txs).bytes)
        header.validatorsHash = Data(validatorSet(forHeight: header.height).hash.bytes)
        header.nextValidatorsHash = Data(validatorSet(forHeight: header.height + 1).hash.bytes)
        header.appHash = Data(ledger.appHash.bytes)
        header.proposer = Data(proposer.bytes)
        header.evidenceHash = Data(Self.evidenceHash(evidence.map(\.wire)))
        block.header = header
        block.txs = txs.map { Data($0) }
        block.evidence = evidence.map(\.wire)
        return (try? block.serializedBytes()) ?? []
    }

    /// SHA-256 over the transactions in order.
    static func dataHash(_ txs: [[UInt8]]) -> Hash { Hash.sha256(parts: txs) }

    /// The header's `evidence_hash`: empty without evidence, else SHA-256 over each evidence's
    /// encoded bytes in order.
    static func evidenceHash(_ evidence: [Wire.DuplicateVoteEvidence]) -> [UInt8] {
        guard !evidence.isEmpty else { return [] }
        return Hash.sha256(parts: evidence.map { (try? $0.serializedBytes() as [UInt8]) ?? [] }).bytes
    }

    // MARK: Evidence (PROTOCOL §3.1, §9)

    /// The ledger's view of a double sign.
    static func ledgerEvidence(_ evidence: Consensus.DuplicateVoteEvidence) -> DoubleSignEvidence {
        DoubleSignEvidence(
            validator: evidence.key.validator, height: evidence.key.height, round: UInt32(clamping: evidence.key.round),
            voteType: UInt32(evidence.key.type.rawValue))
    }

    /// Why `evidence` may not go into the block at `tip.height + 1`, or `nil`: the offence must not
    /// be later than that block; both signatures must verify with the validator's key in the set of
    /// the offence's height under this chain id (a forged signature and one made for another chain
    /// fail alike: the chain id is in the signed bytes); then the ledger's half (too old, unknown
    /// validator, already punished: ``Ledger/evidenceProblem(_:atHeight:)``).
    public func evidenceProblem(_ evidence: Consensus.DuplicateVoteEvidence) -> String? {
        let height = tip.height + 1
        let offence = evidence.key.height
        guard offence >= 1, offence <= height else { return "offence at height \(offence) is after block \(height)" }
        do {
            try evidence.verify(validators: validatorSet(forHeight: offence), chainID: chainID)
        } catch {
            if error == .unknownValidator {
                return "unknown validator: \(evidence.key.validator) is not in the set of height \(offence)"
            }
            return "signatures do not verify for chain \(chainID) (forged, or signed for another chain): \(error)"
        }
        if let problem = ledger.evidenceProblem(Self.ledgerEvidence(evidence), atHeight: height) {
            return "\(problem)"
        }
        return nil
    }

    /// Adds verified evidence to the pool (once per offence); returns why it was dropped otherwise.
    @discardableResult
    public func addEvidence(_ evidence: Consensus.DuplicateVoteEvidence) -> String? {
        guard !evidencePool.contains(where: { $0.key == evidence.key }) else { return nil }
        if let problem = evidenceProblem(evidence) { return problem }
        evidencePool.append(evidence)
        return nil
    }

    /// After a block: drops the evidence it carried and any that is no longer valid (its validator
    /// now tombstoned, or too old).
    private func pruneEvidence(committed: [Wire.DuplicateVoteEvidence]) {
        guard !evidencePool.isEmpty else { return }
        let done = Set(committed.compactMap { try? Consensus.DuplicateVoteEvidence(wire: $0).key })
        evidencePool.removeAll { done.contains($0.key) || evidenceProblem($0) != nil }
    }

    /// Why a proposed block was rejected.
    public struct Rejection: Error, Sendable, Hashable, CustomStringConvertible {
        /// The header field or part at fault (`time`, `app_hash`, `last_commit`, `txs`, …).
        public let field: String
        public let reason: String
        public var description: String { "\(field): \(reason)" }
    }

    /// Checks a proposed block for height `tip.height + 1` field by field.
    public func check(_ bytes: [UInt8]) -> Result<Wire.Block, Rejection> {
        func reject(_ field: String, _ reason: String) -> Result<Wire.Block, Rejection> {
            .failure(Rejection(field: field, reason: reason))
        }
        guard bytes.count <= limits.maxBlockBytes + 1 << 20 else { return reject("block", "too large") }
        guard let block = try? Wire.Block(serializedBytes: bytes) else { return reject("block", "does not decode") }
        let header = block.header
        let height = tip.height + 1
        guard header.chainID == chainID else { return reject("chain_id", "expected \(chainID)") }
        guard header.height == height else { return reject("height", "expected \(height), got \(header.height)") }
        var lastCommit: Consensus.Commit?
        if let lastID = tip.blockID {
            guard header.lastBlockID.hash == Data(lastID.bytes) else {
                return reject("last_block_id", "does not name block \(tip.height)")
            }
            guard block.hasLastCommit, let commit = try? Consensus.Commit(wire: block.lastCommit) else {
                return reject("last_commit", "missing or malformed")
            }
            do {
                try Consensus.verifyCommit(
                    blockID: lastID, commit: commit, validators: validatorSet(forHeight: tip.height), chainID: chainID,
                    height: tip.height)
            } catch {
                return reject("last_commit", "\(error)")
            }
            guard header.lastCommitHash == Data(commit.hash.bytes) else {
                return reject("last_commit_hash", "does not match last_commit")
            }
            lastCommit = commit
        } else {
            guard !header.hasLastBlockID || header.lastBlockID.hash.isEmpty, !block.hasLastCommit,
                header.lastCommitHash.isEmpty
            else { return reject("last_block_id", "the first block has no previous block") }
        }
        let time = blockTime(lastCommit: lastCommit)
        guard header.timeMs == time else { return reject("time", "expected \(time), got \(header.timeMs)") }
        guard block.txs.count <= limits.maxBlockTxs else { return reject("txs", "more than \(limits.maxBlockTxs)") }
        var total = 0
        let maxTx = Int(clamping: ledger.params.maxTxBytes)
        for (i, tx) in block.txs.enumerated() {
            total += tx.count
            guard tx.count <= maxTx else { return reject("txs", "tx \(i) is larger than \(maxTx) bytes") }
            guard (try? Wire.Tx(serializedBytes: tx)) != nil else { return reject("txs", "tx \(i) does not decode") }
        }
        guard total <= limits.maxBlockBytes else { return reject("txs", "more than \(limits.maxBlockBytes) bytes") }
        guard header.dataHash == Data(Self.dataHash(block.txs.map { Array($0) }).bytes) else {
            return reject("data_hash", "does not match the txs")
        }
        guard header.validatorsHash == Data(validatorSet(forHeight: height).hash.bytes) else {
            return reject("validators_hash", "not this height's validator set")
        }
        guard header.nextValidatorsHash == Data(validatorSet(forHeight: height + 1).hash.bytes) else {
            return reject("next_validators_hash", "not the next height's validator set")
        }
        guard header.appHash == Data(ledger.appHash.bytes) else {
            return reject("app_hash", "not the state after block \(tip.height)")
        }
        guard let proposer = Address(bytes: header.proposer), validatorSet(forHeight: height).validator(proposer) != nil
        else {
            return reject("proposer", "not a validator")
        }
        guard block.evidence.count <= Self.maxBlockEvidence else {
            return reject("evidence", "more than \(Self.maxBlockEvidence) pieces")
        }
        var punished = Set<Address>()
        for (i, wire) in block.evidence.enumerated() {
            guard let evidence = try? Consensus.DuplicateVoteEvidence(wire: wire) else {
                return reject("evidence", "evidence \(i) is not two conflicting votes of one validator")
            }
            if let problem = evidenceProblem(evidence) { return reject("evidence", "evidence \(i): \(problem)") }
            guard punished.insert(evidence.key.validator).inserted else {
                return reject(
                    "evidence", "evidence \(i): already punished: \(evidence.key.validator) twice in one block")
            }
        }
        guard header.evidenceHash == Data(Self.evidenceHash(block.evidence)) else {
            return reject("evidence_hash", "does not match the evidence")
        }
        return .success(block)
    }

    // MARK: Execution

    /// The tx index's rows for a block's results.
    static func txRecords(_ results: [TxResult], height: UInt64) -> [BlockStore.TxRecord] {
        results.enumerated().map { i, r in
            BlockStore.TxRecord(
                hash: r.hash, height: height, index: i, code: r.isSuccess ? 0 : 1,
                log: r.error.map { "\($0.shortDescription): \($0)" } ?? "",
                events: r.events.map { Self.flat($0) })
        }
    }

    /// Saves the block with its commit (durably, first), executes it, and indexes its results
    /// before its state commits.
    func execute(
        height: UInt64, blockID: Hash, block: Wire.Block, commit: Consensus.Commit, save: Bool = false,
        bytes: [UInt8] = []
    ) throws(NodeError) -> Applied {
        guard height == tip.height + 1 else {
            throw .consensus("block \(height) does not follow the tip \(tip.height)")
        }
        if save {
            do {
                try blocks.save(
                    BlockStore.StoredBlock(
                        height: height, hash: blockID, block: bytes, commit: (try? commit.wire.serializedBytes()) ?? []
                    ))
            } catch {
                throw .storage("\(error)")
            }
        }
        let txs = block.txs.map { Array($0) }
        let context = BlockContext(
            chainID: chainID, height: height, time: block.header.timeMs &* 1_000_000,
            proposer: Address(bytes: block.header.proposer),
            lastBlockHash: block.header.hasLastBlockID ? Hash(bytes: block.header.lastBlockID.hash) : nil,
            lastCommitSigners: block.hasLastCommit
                ? (try? Consensus.Commit(wire: block.lastCommit))?.precommits.map(\.vote.validator) : nil,
            evidence: block.evidence.compactMap { try? Consensus.DuplicateVoteEvidence(wire: $0) }.map(
                Self.ledgerEvidence))
        let result: BlockResult
        var indexFailure: (any Error)?
        do {
            // The tx index is written before the state commits (see `Ledger.finalize`): a crash
            // in between leaves the block to be replayed and indexed again, never a gap.
            result = try ledger.finalize(block: txs, context: context) { results in
                do {
                    try blocks.index(Self.txRecords(results, height: height))
                } catch {
                    indexFailure = error
                    throw error
                }
            }
        } catch {
            if let indexFailure { throw .storage("indexing block \(height): \(indexFailure)") }
            if error.isUpgradeRequired { throw .upgradeRequired(error.description) }
            throw .diverged("executing block \(height): \(error)")
        }
        if !result.validatorUpdates.isEmpty { try reloadValidatorSets() }
        if limits.keepRecent > 0, height % limits.pruneInterval == 0, height > limits.keepRecent {
            // Old versions only serve queries; a failed prune leaves them and is retried later.
            try? state.prune(keepingRecent: limits.keepRecent + 1)
        }
        if limits.keepBlocks > 0, height % limits.pruneInterval == 0, height > limits.keepBlocks {
            // Blocks only serve RPC readers and peers catching up; a failed prune is retried later.
            _ = try? blocks.prune(keepingRecent: max(limits.keepBlocks, NodeConfig.minimumKeepBlocks))
        }
        if let snapshots, limits.snapshotInterval > 0, height % limits.snapshotInterval == 0 {
            takeSnapshot(snapshots, height: height, appHash: result.appHash)
        }
        tip = Tip(height: height, blockID: blockID, time: block.header.timeMs, commit: commit)
        pruneEvidence(committed: block.evidence)
        return Applied(
            height: height, blockID: blockID, header: block.header, txs: txs, results: result.txResults,
            appHash: result.appHash, events: result.events, validatorUpdates: result.validatorUpdates)
    }

    /// Starts the snapshot of the state just committed at `height` (PROTOCOL §3.1 *State sync*),
    /// offered to joining peers. Only the read transaction that fixes the version is opened here;
    /// the entries are read, chunked and written to disk in the background, so the next block does
    /// not wait for them. A failed or skipped snapshot (one still being written) only means one
    /// fewer on offer. An in-memory state (tests) cannot be read on a second connection: its
    /// entries are read here and written at once.
    private func takeSnapshot(_ snapshots: SnapshotStore, height: UInt64, appHash: Hash) {
        guard snapshots.isDue(height: height) else { return }
        if let reader = try? state.versionReader() {
            snapshots.takeInBackground(chainID: chainID, reader: reader)
        } else if let entries = try? state.entries(withPrefix: []) {
            _ = try? snapshots.take(chainID: chainID, height: height, root: appHash, entries: entries)
        }
    }

    /// Carries a larger set of precommits for the tip block into the next `last_commit` (and the store).
    func extendTipCommit(_ commit: Consensus.Commit) {
        guard commit.height == tip.height, commit.blockID == tip.blockID,
            commit.precommits.count > (tip.commit?.precommits.count ?? 0)
        else { return }
        tip.commit = commit
        if let bytes = try? commit.wire.serializedBytes() as [UInt8] {
            try? blocks.replaceCommit(height: commit.height, commit: bytes)
        }
    }

    static func flat(_ event: LedgerEvent) -> BlockStore.TxEvent {
        var attributes: [String: String] = [:]
        for (k, v) in event.attributes { attributes[k] = v }
        return BlockStore.TxEvent(type: event.kind, attributes: attributes)
    }

    // MARK: The ABCI-like boundary (PROTOCOL §3.2)
    //
    // `Consensus.ConsensusApplication` is not adopted as such: executing a block here also saves it
    // with the commit that decided it and moves the tip, which its `finalizeBlock(block)` cannot
    // express, so the driver calls ``execute(height:blockID:block:commit:save:bytes:)``.

    /// The ledger's check on a transaction for the mempool, with its reason.
    func checkTx(_ tx: [UInt8]) -> TxResult { ledger.checkTx(tx) }

    /// Takes transactions in order while they fit the block limits.
    /// The validator set consensus runs `height` with: the set of that height (``validatorSet(forHeight:)``)
    /// whose proposer priorities have advanced once per height since the set took over
    /// (CometBFT's weighted round-robin, PROTOCOL §3.1), so round 0 of consecutive heights rotates
    /// through the validators by power. A new set starts from fresh priorities at its first
    /// height. Deterministic in `height` and the committed history, so a restarted or synced node
    /// computes the same proposers.
    public func consensusValidators(forHeight height: UInt64) -> Consensus.ValidatorSet {
        let target = max(height, 1)
        let base = entry(forHeight: target)
        var current =
            rotation.flatMap { $0.from == base.from && $0.height <= target ? $0 : nil }
            ?? (from: base.from, height: base.from, set: base.set)
        if target > current.height {
            current.set.incrementProposerPriority(times: Int(target - current.height))
            current.height = target
        }
        rotation = current
        return current.set
    }

    public func prepareProposal(txs: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var bytes = 0
        let maxTx = Int(clamping: ledger.params.maxTxBytes)
        for tx in txs where tx.count <= maxTx {
            guard out.count < limits.maxBlockTxs, bytes + tx.count <= limits.maxBlockBytes else { break }
            out.append(tx)
            bytes += tx.count
        }
        return out
    }

    /// Accepts or rejects a proposed block (``check(_:)`` without the reason).
    public func processProposal(_ bytes: [UInt8]) -> Bool {
        if case .success = check(bytes) { return true }
        return false
    }
}
