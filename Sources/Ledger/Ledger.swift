import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

/// The deterministic application of the chain (PROTOCOL §3.2): it checks transactions for the
/// mempool, executes blocks, and commits state whose root is the `app_hash`.
///
/// Pure: no clock, sockets, files or randomness; everything it knows arrives as arguments or
/// through its `StateStore`. Not thread-safe: one owner (the consensus shell) drives it.
public final class Ledger {
    let store: any StateStore
    /// State as blocks see it: committed store plus the block in progress.
    private let deliverState: StateContext
    /// The mempool's view: committed store plus every transaction accepted by `checkTx` since the
    /// last commit, so a second transaction from one account needs the next sequence.
    let checkState: StateContext

    public private(set) var chainID: String
    /// Signatures verified once are not verified again (mempool check, re-check, block). Optional:
    /// results are the same without it, only slower.
    public var signatureCache: SignatureCache?
    /// The parameters in force: genesis's, as passed governance proposals changed them (read from
    /// state when the ledger opens and after every block that rewrote them, PROTOCOL §10).
    public private(set) var params: ChainParams
    /// The software upgrades this binary knows (PROTOCOL §10 `SoftwareUpgrade`).
    public let upgrades: UpgradeRegistry

    /// Opens a ledger over `store`. A store with committed state must carry a chain id and
    /// parameters; an empty store waits for `initChain`. Throws `upgrade_required` when the next
    /// block is a scheduled software upgrade that `upgrades` does not know: such a node must not
    /// start (PROTOCOL §10).
    public init(store: any StateStore, upgrades: UpgradeRegistry = .compiledIn) throws(LedgerError) {
        self.store = store
        self.upgrades = upgrades
        deliverState = StateContext(store: store)
        checkState = StateContext(store: store)
        chainID = ""
        params = .devnet
        if let height = store.latestVersion {
            guard let id = try deliverState.get(StateKey.chainID) else {
                throw .storage(StateCorruption(what: "chain id missing from committed state"))
            }
            chainID = String(decoding: id, as: UTF8.self)
            params = try ParamsRecord.read(in: deliverState)
            if let plan = try Governance.upgradePlan(in: deliverState), plan.height <= height + 1,
                upgrades.handler(plan.name) == nil
            {
                throw .upgradeRequired(name: plan.name, height: plan.height, binarySHA256: plan.binarySha256)
            }
        }
    }

    /// The last committed height (genesis commits as 0, block H as H), or `nil` before genesis.
    public var height: UInt64? { store.latestVersion }

    /// The root of the last committed state.
    public var appHash: Hash { store.root }

    /// The store, for read-only module queries of committed state.
    var committedStore: any StateStore { store }

    // MARK: Genesis

    /// Writes the genesis state and commits it as version 0. Returns the genesis validator set.
    public func initChain(_ genesis: Genesis) throws(LedgerError) -> GenesisResult {
        guard store.latestVersion == nil else { throw .genesis("the state store already holds a chain") }
        try genesis.validate()
        var events: [LedgerEvent] = []
        try deliverState.transaction { () throws(LedgerError) in
            deliverState.set(StateKey.chainID, Array(genesis.chainID.utf8))
            try ParamsRecord.write(genesis.params, in: deliverState)
            for account in genesis.accounts where account.balance > .zero {
                try Bank.mint(account.balance, to: account.address, in: deliverState)
                events.append(.minted(to: account.address, amount: account.balance))
            }
            for module in genesis.moduleAccounts where module.balance > .zero {
                guard let account = Bank.ModuleAccount(rawValue: module.name) else { continue }
                try Bank.mint(module.balance, to: account.address, in: deliverState)
                events.append(.minted(to: account.address, amount: module.balance))
            }
            for validator in genesis.validators {
                var record = Wire.Participant()
                record.address = validator.address.description
                record.url = validator.url
                record.consensusPubkey = Data(Hex.decode(validator.consensusPubkey) ?? [])
                record.p2PPubkey = Data(Hex.decode(validator.p2pPubkey) ?? [])
                record.registeredHeight = 0
                try Participants.save(record, address: validator.address, in: deliverState)
                events.append(.participantRegistered(address: validator.address, url: validator.url))
            }
            try Epochs.initGenesis(genesis.validators, in: deliverState)
            try Inference.initGenesis(genesis, state: deliverState)
            try Rewards.initGenesis(state: deliverState)
        }
        let appHash = try commitBlock(version: 0)
        chainID = genesis.chainID
        params = genesis.params
        let validators = genesis.validators.compactMap { v in
            (Hex.decode(v.consensusPubkey)).flatMap { try? PublicKey(bytes: $0) }.map {
                ValidatorUpdate(address: v.address, consensusKey: $0, power: v.power)
            }
        }
        return GenesisResult(appHash: appHash, validators: validators, events: events)
    }

    // MARK: Mempool

    /// Runs the whole pipeline against the mempool's check state (PROTOCOL §3.2 `checkTx`). An
    /// accepted transaction's effects stay in the check state so the same account's next
    /// transaction must carry the next sequence; nothing reaches the committed state.
    public func checkTx(_ bytes: [UInt8]) -> TxResult {
        let context = BlockContext(chainID: chainID, height: (height ?? 0) + 1, time: 0, proposer: nil)
        return run(bytes, context: context, in: checkState)
    }

    // MARK: Blocks

    /// Executes a block's transactions in order, commits the state as version `context.height`, and
    /// checks the supply invariant. Rejected transactions change nothing and say why in their
    /// result. Throws only when the node must stop: the invariant is broken or storage failed.
    /// `beforeCommit` gets the block's tx results after execution and before the state commits; if
    /// it throws, nothing of the block is committed. The node writes its tx index there, so a crash
    /// can never leave a committed state whose txs are not indexed: until the state commits, a
    /// restart replays the block and indexes it again.
    public func finalize(
        block txs: [[UInt8]], context: BlockContext, beforeCommit: ([TxResult]) throws -> Void = { _ in }
    ) throws(LedgerError) -> BlockResult {
        let expected = (height ?? 0) + 1
        guard height != nil, context.height == expected else {
            throw .invalidField("height", "block height \(context.height) but the ledger expects \(expected)")
        }
        guard context.chainID == chainID else { throw .wrongChain(expected: chainID, got: context.chainID) }
        // A scheduled software upgrade (PROTOCOL §10) runs before the block's transactions, or
        // halts the node before anything of the block is applied.
        let upgradeEvents: [LedgerEvent]
        do {
            upgradeEvents = try applyUpgrade(at: context.height)
        } catch {
            deliverState.reset()
            throw error
        }
        let results = txs.map { run($0, context: context, in: deliverState) }
        // End-block hooks of the modules, after the block's transactions: Inference (expiries,
        // prices) and Validation (vote deadlines) for the block's own epoch, Slashing (the block's
        // evidence, the liveness window) before Epochs so a jail counts at a set update in the same
        // block, Collateral (releases at an epoch start), then Epochs (stages, weights, validator
        // sets, the next epoch's executor pool), then Rewards (settlements and expired claims, which
        // read the pool Epochs may just have switched), then Governance last (deposit periods,
        // tallies, parameter changes: in force from the next block).
        let endBlock: (events: [LedgerEvent], validatorUpdates: [ValidatorUpdate], paramsChanged: Bool)
        do {
            let params = params
            endBlock = try deliverState.transaction { () throws(LedgerError) in
                let inference = try Inference.endBlock(context: context, params: params, state: deliverState)
                let validation = try Validation.endBlock(context: context, params: params, state: deliverState)
                let evidence = try Slashing.applyEvidence(context: context, params: params, state: deliverState)
                let liveness = try Slashing.countLiveness(context: context, params: params, state: deliverState)
                let released = try Collateral.endBlock(context: context, params: params, state: deliverState)
                let epochs = try Epochs.endBlock(context: context, params: params, in: deliverState)
                // A jail or unjail in this block changes the set from height + 2 (PROTOCOL §9).
                let jailChanged = (results.flatMap(\.events) + evidence + liveness).contains {
                    switch $0 {
                    case .unjailed: true
                    case .slashed(_, _, _, let jailed, _): jailed
                    default: false
                    }
                }
                let refreshed =
                    jailChanged
                    ? try Epochs.refreshValidatorSet(context: context, params: params, in: deliverState) : .init()
                let rewards = try Rewards.endBlock(context: context, params: params, state: deliverState)
                let governance = try Governance.endBlock(context: context, params: params, state: deliverState)
                return (
                    upgradeEvents + inference + validation + evidence + liveness + released + epochs.events
                        + refreshed.events + rewards + governance.events,
                    epochs.validatorUpdates.isEmpty ? refreshed.validatorUpdates : epochs.validatorUpdates,
                    governance.paramsChanged || !upgradeEvents.isEmpty
                )
            }
            try Result { try beforeCommit(results) }.mapError { LedgerError.storage($0) }.get()
        } catch {
            store.discardStaged()
            deliverState.reset()
            throw error
        }
        let appHash = try commitBlock(version: context.height)
        checkState.reset()
        signatureCache?.advance(toHeight: context.height)
        if endBlock.paramsChanged { params = try ParamsRecord.read(in: deliverState) }
        return BlockResult(
            height: context.height, txResults: results, appHash: appHash, events: endBlock.events,
            validatorUpdates: endBlock.validatorUpdates)
    }

    /// Runs the handler of the upgrade scheduled for `height`, if any, in the block's state; throws
    /// `upgrade_required` (changing nothing) when this binary does not know it.
    private func applyUpgrade(at height: UInt64) throws(LedgerError) -> [LedgerEvent] {
        guard let plan = try Governance.upgradePlan(in: deliverState), plan.height == height else { return [] }
        guard let handler = upgrades.handler(plan.name) else {
            throw .upgradeRequired(name: plan.name, height: plan.height, binarySHA256: plan.binarySha256)
        }
        try deliverState.transaction { () throws(LedgerError) in
            try handler.migrate(UpgradeMigration(state: deliverState, name: plan.name, height: plan.height))
            deliverState.delete(StateKey.upgradePlan)
            deliverState.set(StateKey.upgradeDone(plan.name), BigEndian.encode(plan.height))
        }
        return [.upgradeApplied(name: plan.name, height: plan.height)]
    }

    private func run(_ bytes: [UInt8], context: BlockContext, in state: StateContext) -> TxResult {
        let hash = Hash.sha256(bytes)
        do {
            let events = try state.transaction { () throws(LedgerError) in
                try TxPipeline(params: params, context: context, state: state, signatures: signatureCache)
                    .execute(bytes)
            }
            return TxResult(hash: hash, error: nil, events: events)
        } catch {
            return TxResult(hash: hash, error: error, events: [])
        }
    }

    /// Flushes the block's writes, verifies the invariants (supply, §8.1; the inference, rewards and
    /// training-fund accounts, §8.3) on exactly what is about to be committed, and commits. A violation discards the block and throws.
    private func commitBlock(version: UInt64) throws(LedgerError) -> Hash {
        do {
            try deliverState.flush()
            if let violation = try Bank.checkSupplyInvariant(in: deliverState) {
                throw LedgerError.invariantViolated("supply at height \(version): \(violation)")
            }
            if let violation = try Rewards.checkInvariants(in: deliverState) {
                throw LedgerError.invariantViolated("at height \(version): \(violation)")
            }
            if let violation = try Collateral.checkInvariant(in: deliverState) {
                throw LedgerError.invariantViolated("collateral at height \(version): \(violation)")
            }
            return try store.commit(version: version)
        } catch {
            // Nothing of this block may reach the next commit.
            store.discardStaged()
            throw error as? LedgerError ?? .storage(error)
        }
    }

    // MARK: Queries (committed state)

    public func balance(of address: Address) throws(LedgerError) -> Amount {
        try Bank.balance(of: address, in: StateContext(store: store))
    }

    /// The account record (sequence, public key once known) of `address`.
    public func account(_ address: Address) throws(LedgerError) -> Wire.Account {
        try Accounts.account(address, in: StateContext(store: store))
    }

    public func participant(_ address: Address) throws(LedgerError) -> Wire.Participant? {
        try Participants.participant(address, in: StateContext(store: store))
    }

    /// Every registered participant, in address order.
    public func participants() throws(LedgerError) -> [Wire.Participant] {
        try Participants.all(in: StateContext(store: store))
    }

    /// The operator grants `granter` has made, in grantee order.
    public func grants(by granter: Address) throws(LedgerError) -> [Wire.OperatorGrant] {
        try Participants.grants(by: granter, in: StateContext(store: store))
    }

    /// Minted and burned totals; circulating = minted − burned.
    public func supply() throws(LedgerError) -> (minted: Amount, burned: Amount) {
        let state = StateContext(store: store)
        return (try Bank.minted(in: state), try Bank.burned(in: state))
    }

    /// Checks the supply invariant on the committed state (for `gonka` diagnostics and tests).
    public func supplyInvariantViolation() throws(LedgerError) -> String? {
        try Bank.checkSupplyInvariant(in: StateContext(store: store))
    }

    /// A participant's collateral: the deposit backing weight and the withdrawals unbonding (§9).
    public func collateral(_ address: Address) throws(LedgerError) -> Wire.CollateralRecord {
        try Collateral.record(address, in: StateContext(store: store))
    }

    /// Every slash (of `address` only, when given), oldest first (§9).
    public func slashes(of address: Address? = nil) throws(LedgerError) -> [Wire.SlashRecord] {
        try SlashLog.all(of: address, in: StateContext(store: store))
    }

    /// A participant's liveness window, jail and tombstone (§9).
    public func signingInfo(_ address: Address) throws(LedgerError) -> Wire.SigningInfo {
        try Slashing.info(address, in: StateContext(store: store))
    }

    /// Why `evidence` could not go into the block at `height` (after the committed state), or
    /// `nil` when it can: the ledger's half of the evidence check (age, the validator set of its
    /// height, not already tombstoned); the node checks the signatures.
    public func evidenceProblem(_ evidence: DoubleSignEvidence, atHeight height: UInt64) -> LedgerError? {
        do {
            _ = try Slashing.check(evidence, atHeight: height, params: params, state: StateContext(store: store))
            return nil
        } catch {
            return error
        }
    }

    /// Checks the collateral invariant on the committed state (diagnostics and tests).
    public func collateralInvariantViolation() throws(LedgerError) -> String? {
        try Collateral.checkInvariant(in: StateContext(store: store))
    }

    /// The address of a module account by name (`fee_collector`, `community_pool`, …).
    public static func moduleAddress(_ name: String) -> Address? {
        Bank.ModuleAccount(rawValue: name)?.address
    }
}

/// What the consensus layer tells the ledger about the block being executed.
public struct BlockContext: Sendable, Hashable {
    public var chainID: String
    public var height: UInt64
    /// Block time in Unix nanoseconds (the weighted median of precommit times; PROTOCOL §3.1).
    public var time: Int64
    public var proposer: Address?
    /// Hash of the previous block (the header's `last_block_id`); `nil` at height 1 and in checkTx.
    /// Seeds that the protocol takes from a block hash (the PoC model of §5.1, the epoch seed of
    /// §6.2) read it here: block P's hash is known from block P+1 on.
    public var lastBlockHash: Hash?
    /// The consensus-key addresses whose precommits for block `height − 1` this block carries
    /// (its `last_commit`), for the liveness window of PROTOCOL §9. `nil` when unknown (height 1,
    /// `checkTx`, tools and tests that run the ledger without consensus): no block is counted.
    public var lastCommitSigners: [Address]?
    /// The double signs this block carries (PROTOCOL §3.1, §9), signatures already verified by the
    /// node against the validator set of the offence's height and this chain id.
    public var evidence: [DoubleSignEvidence]

    public init(
        chainID: String, height: UInt64, time: Int64, proposer: Address?, lastBlockHash: Hash? = nil,
        lastCommitSigners: [Address]? = nil, evidence: [DoubleSignEvidence] = []
    ) {
        self.chainID = chainID
        self.height = height
        self.time = time
        self.proposer = proposer
        self.lastBlockHash = lastBlockHash
        self.lastCommitSigners = lastCommitSigners
        self.evidence = evidence
    }
}

/// The outcome of one transaction.
public struct TxResult: Sendable, Hashable {
    /// SHA-256 of the transaction bytes as received.
    public let hash: Hash
    /// Why it was rejected, or `nil` when it was applied.
    public let error: LedgerError?
    public let events: [LedgerEvent]

    public var isSuccess: Bool { error == nil }
}

/// The outcome of a block.
public struct BlockResult: Sendable, Hashable {
    public let height: UInt64
    public let txResults: [TxResult]
    /// The state root after this block, carried in the next header.
    public let appHash: Hash
    /// Events of the end-of-block work (expired inferences and misses, epoch stages, weights,
    /// validator sets), after the txs'.
    public var events: [LedgerEvent] = []
    /// Non-empty exactly at the block that hands consensus a new validator set: block
    /// P + switch_offset − 2 of a sprint, for heights from P + switch_offset on (PROTOCOL §3.1:
    /// a set returned at H signs from H+2). The whole new set, not a diff.
    public var validatorUpdates: [ValidatorUpdate] = []

    public init(
        height: UInt64, txResults: [TxResult], appHash: Hash, events: [LedgerEvent] = [],
        validatorUpdates: [ValidatorUpdate] = []
    ) {
        self.height = height
        self.txResults = txResults
        self.appHash = appHash
        self.events = events
        self.validatorUpdates = validatorUpdates
    }
}

/// A validator's consensus key and voting power, as handed to consensus.
public struct ValidatorUpdate: Sendable, Hashable {
    public let address: Address
    public let consensusKey: PublicKey
    public let power: UInt64
}

/// What `initChain` produced.
public struct GenesisResult: Sendable, Hashable {
    public let appHash: Hash
    public let validators: [ValidatorUpdate]
    public let events: [LedgerEvent]
}
