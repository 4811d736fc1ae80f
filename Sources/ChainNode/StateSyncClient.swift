import Consensus
import Foundation
import GonkaCore
import GonkaWire
import Logging
import P2P
import Storage
import SwiftProtobuf

/// Joins a chain from a peer's snapshot of the state instead of replaying every block (PROTOCOL
/// §3.1 *State sync*): lists the peers' snapshots, picks the newest, verifies the header that
/// carries its app hash (a light-client check), fetches its chunks from the peers that offer it
/// (another peer after a failure), verifies every chunk's hash, restores the state into an empty
/// store and checks its root against the verified app hash.
///
/// **Trust.** A snapshot at height H is taken only if block H + 1 — whose header carries the app
/// hash after H — is trusted: its hash equals the operator's `trust_hash` (with `trust_height` =
/// H + 1), or, without one, its commit is signed by +2/3 of the **genesis** validator set and its
/// `validators_hash` is that set's. The second form holds only while the genesis set still signs;
/// once the set has changed the node says so and needs a trusted hash. Block H (the tip the node
/// continues from) is trusted through H + 1's `last_block_id`, its commit through
/// `last_commit_hash`.
///
/// **Bad peers.** A chunk that is not the one asked, for another height, or whose hash is not the
/// manifest's (corrupt, truncated, another chain's) gets its peer punished and the chunk asked of
/// another; a manifest whose root is not the verified app hash, or whose chunks (each matching its
/// hash) do not restore to that root, gets every peer that offered it punished; a block that does
/// not verify gets its peer punished.
public struct StateSyncClient: Sendable {
    /// Knobs (tests shorten them).
    public struct Options: Sendable {
        /// How long a request may wait for its answer.
        public var requestTimeout: Duration = .seconds(5)
        /// Give up after this long without a restored state.
        public var deadline: Duration = .seconds(300)
        /// Pause between rounds of asking peers for snapshots.
        public var retryInterval: Duration = .milliseconds(500)
        /// Chunks fetched at once (spread over the peers that offer the snapshot).
        public var parallelChunks = 4

        public init() {}
    }

    /// What the client trusts (see the type's comment).
    public struct Trust: Sendable {
        public var genesisValidators: Consensus.ValidatorSet
        /// A block the operator trusts: only the snapshot of `height − 1` is taken.
        public var block: (height: UInt64, hash: Hash)?

        public init(genesisValidators: Consensus.ValidatorSet, block: (height: UInt64, hash: Hash)? = nil) {
            self.genesisValidators = genesisValidators
            self.block = block
        }
    }

    /// A verified snapshot's state, with the block the node continues from.
    public struct Restored: Sendable {
        public var manifest: StateSnapshot.Manifest
        /// Block H with its commit (from block H + 1's `last_commit`).
        public var base: BlockStore.StoredBlock
        public var appHash: Hash
    }

    /// Why state sync gave up.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public let chainID: String
    public let trust: Trust
    public let network: any StateSyncNetwork
    public var options: Options
    public var logger: Logger

    public init(
        chainID: String, trust: Trust, network: any StateSyncNetwork, options: Options = Options(), logger: Logger
    ) {
        self.chainID = chainID
        self.trust = trust
        self.network = network
        self.options = options
        self.logger = logger
    }

    /// An offer: one manifest and the peers that offered exactly it.
    struct Offer {
        var manifest: StateSnapshot.Manifest
        var peers: [PeerID]
    }

    /// Runs until a snapshot is restored into `store` (which must be empty) or the deadline passes.
    public func run(into store: AuthenticatedStore) async throws(Failure) -> Restored {
        let deadline = ContinuousClock.now + options.deadline
        var bad: Set<PeerID> = []
        var lastProblem = "no peer connected"
        while ContinuousClock.now < deadline, !Task.isCancelled {
            let peers = await network.peers().filter { !bad.contains($0) }
            if peers.isEmpty {
                lastProblem = "no peer connected"
            } else {
                let offers = await discover(peers, bad: &bad)
                if offers.isEmpty {
                    lastProblem = "no peer offers a usable snapshot (\(peers.count) asked)"
                    logger.info("state sync: no snapshot on offer yet", metadata: ["peers": "\(peers.count)"])
                }
                for offer in offers {
                    switch await attempt(offer, into: store, bad: &bad) {
                    case .success(let restored): return restored
                    case .failure(let problem):
                        lastProblem = problem.description
                        logger.warning(
                            "state sync: snapshot refused",
                            metadata: ["snapshot.height": "\(offer.manifest.height)", "reason": "\(problem)"])
                    }
                }
            }
            try? await Task.sleep(for: options.retryInterval)
        }
        throw Failure(description: "state sync gave up: \(lastProblem)")
    }

    // MARK: Discovery

    /// Every peer's snapshots, grouped by manifest, newest first (then the most offered).
    func discover(_ peers: [PeerID], bad: inout Set<PeerID>) async -> [Offer] {
        let timeout = options.requestTimeout
        let network = network
        let answers = await withTaskGroup(of: (PeerID, StateSyncReply?).self) { group in
            for peer in peers {
                group.addTask { (peer, await network.ask(.snapshots, of: peer, timeout: timeout)) }
            }
            var out: [(PeerID, StateSyncReply?)] = []
            for await answer in group { out.append(answer) }
            return out
        }
        var offers: [StateSnapshot.Manifest: [PeerID]] = [:]
        for (peer, reply) in answers {
            guard case .snapshots(let list) = reply else { continue }
            if list.isEmpty { logger.debug("state sync: peer has no snapshot", metadata: ["peer": "\(peer)"]) }
            for wire in list.prefix(16) {
                guard let manifest = StateSyncMessages.manifest(wire) else {
                    await punish(peer, "a snapshot manifest with a malformed hash", bad: &bad)
                    break
                }
                guard usable(manifest) else { continue }
                offers[manifest, default: []].append(peer)
            }
        }
        return offers.map { Offer(manifest: $0.key, peers: $0.value.sorted { $0.description < $1.description }) }
            .sorted {
                ($0.manifest.height, $0.peers.count, $0.manifest.root.hex)
                    > ($1.manifest.height, $1.peers.count, $1.manifest.root.hex)
            }
    }

    /// A manifest this client can use: its chain and format, at least one chunk, and the trusted
    /// height when one is set.
    func usable(_ manifest: StateSnapshot.Manifest) -> Bool {
        guard manifest.chainID == chainID, manifest.format == StateSnapshot.format, manifest.height >= 1,
            !manifest.chunkHashes.isEmpty, manifest.chunkHashes.count <= 1 << 20
        else { return false }
        if let block = trust.block { return manifest.height + 1 == block.height }
        return true
    }

    // MARK: One snapshot

    func attempt(
        _ offer: Offer, into store: AuthenticatedStore, bad: inout Set<PeerID>
    ) async -> Result<
        Restored, Failure
    > {
        let manifest = offer.manifest
        let height = manifest.height
        // 1. The header that carries the app hash, and the block the node continues from.
        let trusted: (appHash: Hash, base: BlockStore.StoredBlock)
        switch await trustedHeader(after: height, peers: offer.peers, bad: &bad) {
        case .success(let found): trusted = found
        case .failure(let failure): return .failure(failure)
        }
        guard manifest.root == trusted.appHash else {
            for peer in offer.peers {
                await punish(peer, "snapshot \(height)'s root is not the app hash of block \(height + 1)", bad: &bad)
            }
            return .failure(Failure(description: "the snapshot's root does not match the verified app hash"))
        }
        // 2. The chunks, each checked against its hash.
        let chunks: [[UInt8]]
        switch await fetchChunks(manifest, peers: offer.peers, bad: &bad) {
        case .success(let fetched): chunks = fetched
        case .failure(let failure): return .failure(failure)
        }
        // 3. The entries, in order, restored; the root must be the verified app hash.
        var entries: [AuthenticatedStore.Entry] = []
        entries.reserveCapacity(Int(min(manifest.entries, 1 << 20)))  // a claim, not trusted
        for (i, chunk) in chunks.enumerated() {
            switch StateSnapshot.decode(chunk, after: entries.last?.key) {
            case .success(let decoded): entries += decoded
            case .failure(let problem):
                for peer in offer.peers { await punish(peer, "snapshot \(height) chunk \(i): \(problem)", bad: &bad) }
                return .failure(Failure(description: "chunk \(i) of snapshot \(height): \(problem)"))
            }
        }
        guard UInt64(entries.count) == manifest.entries else {
            for peer in offer.peers {
                await punish(
                    peer, "snapshot \(height) claims \(manifest.entries) entries, its chunks hold \(entries.count)",
                    bad: &bad)
            }
            return .failure(Failure(description: "snapshot \(height)'s entry count does not match its chunks"))
        }
        do {
            try store.restore(entries: entries, version: height, expectedRoot: trusted.appHash)
        } catch let error as StorageError where error.shortDescription == "root_mismatch" {
            for peer in offer.peers {
                await punish(peer, "snapshot \(height)'s chunks do not restore to its root", bad: &bad)
            }
            return .failure(Failure(description: "the restored state's root does not match the verified app hash"))
        } catch {
            return .failure(Failure(description: "restoring snapshot \(height): \(error)"))
        }
        let root = store.root
        logger.info(
            "state sync: snapshot restored",
            metadata: [
                "snapshot.height": "\(height)", "snapshot.chunks": "\(chunks.count)",
                "snapshot.entries": "\(entries.count)", "app_hash": "\(root)",
            ])
        return .success(Restored(manifest: manifest, base: trusted.base, appHash: root))
    }

    /// Block `height + 1`, trusted (see the type's comment), and block `height` through it: the
    /// app hash after `height` and the base block with its commit. Peers that send blocks that do
    /// not verify are punished; others are asked next.
    func trustedHeader(
        after height: UInt64, peers: [PeerID], bad: inout Set<PeerID>
    ) async -> Result<
        (appHash: Hash, base: BlockStore.StoredBlock), Failure
    > {
        var problem = "no peer sent block \(height + 1)"
        // The offerers first, then any other connected peer.
        let others = await network.peers().filter { !peers.contains($0) }
        for peer in peers + others where !bad.contains(peer) {
            guard
                case .block(let next) = await network.ask(
                    .block(height: height + 1), of: peer, timeout: options.requestTimeout)
            else { continue }
            let nextBytes = Array(next.block)
            let nextID = Consensus.blockID(of: nextBytes)
            guard next.height == height + 1, let block = try? Wire.Block(serializedBytes: nextBytes),
                block.header.chainID == chainID, block.header.height == height + 1,
                let commit = try? Consensus.Commit(wire: next.commit), commit.blockID == nextID
            else {
                await punish(peer, "block \(height + 1) does not decode or is not that block", bad: &bad)
                continue
            }
            if let trustedBlock = trust.block {
                guard trustedBlock.height == height + 1, trustedBlock.hash == nextID else {
                    problem = "block \(height + 1) is not the trusted block \(trustedBlock.height)"
                    await punish(peer, problem, bad: &bad)
                    continue
                }
            } else {
                guard block.header.validatorsHash == Data(trust.genesisValidators.hash.bytes) else {
                    // Not the peer's fault: the chain's validators changed since genesis.
                    return .failure(
                        Failure(
                            description:
                                "block \(height + 1) is signed by another validator set than genesis: set "
                                + "[state_sync] trust_height and trust_hash (a block hash from a node you trust)"))
                }
                do {
                    try Consensus.verifyCommit(
                        blockID: nextID, commit: commit, validators: trust.genesisValidators, chainID: chainID,
                        height: height + 1)
                } catch {
                    problem = "block \(height + 1)'s commit does not verify: \(error)"
                    await punish(peer, problem, bad: &bad)
                    continue
                }
            }
            guard let appHash = Hash(bytes: block.header.appHash), block.hasLastCommit,
                let lastCommit = try? Consensus.Commit(wire: block.lastCommit), lastCommit.height == height,
                block.header.lastCommitHash == Data(lastCommit.hash.bytes),
                let lastID = Hash(bytes: block.header.lastBlockID.hash), lastCommit.blockID == lastID
            else {
                problem = "block \(height + 1) lacks its app hash or last commit"
                await punish(peer, problem, bad: &bad)
                continue
            }
            // Block `height`, named by the trusted header.
            for source in [peer] + (peers + others).filter({ $0 != peer }) where !bad.contains(source) {
                guard
                    case .block(let base) = await network.ask(
                        .block(height: height), of: source, timeout: options.requestTimeout)
                else { continue }
                guard Consensus.blockID(of: Array(base.block)) == lastID else {
                    await punish(source, "block \(height) is not the one block \(height + 1) names", bad: &bad)
                    continue
                }
                let commitBytes: [UInt8] = (try? lastCommit.wire.serializedBytes()) ?? []
                return .success(
                    (
                        appHash,
                        BlockStore.StoredBlock(
                            height: height, hash: lastID, block: Array(base.block), commit: commitBytes)
                    ))
            }
            return .failure(Failure(description: "no peer sent block \(height)"))
        }
        return .failure(Failure(description: problem))
    }

    /// Every chunk of `manifest`, each from one of `peers` and matching its hash; up to
    /// ``Options/parallelChunks`` at once.
    func fetchChunks(
        _ manifest: StateSnapshot.Manifest, peers: [PeerID], bad: inout Set<PeerID>
    ) async -> Result<
        [[UInt8]], Failure
    > {
        var chunks = [[UInt8]?](repeating: nil, count: manifest.chunkHashes.count)
        var next = 0
        let badBox = BadPeers(bad)
        let failure: Failure? = await withTaskGroup(of: (Int, Result<[UInt8], Failure>).self) { group in
            func start(_ index: Int) {
                group.addTask { (index, await fetchChunk(index, of: manifest, peers: peers, bad: badBox)) }
            }
            while next < chunks.count, next < options.parallelChunks {
                start(next)
                next += 1
            }
            for await (index, result) in group {
                switch result {
                case .success(let chunk): chunks[index] = chunk
                case .failure(let failure):
                    group.cancelAll()
                    return failure
                }
                if next < chunks.count {
                    start(next)
                    next += 1
                }
            }
            return nil
        }
        bad = await badBox.peers
        if let failure { return .failure(failure) }
        return .success(chunks.map { $0 ?? [] })
    }

    /// Chunk `index`, asked of the peers in turn (starting at a different one per chunk) until one
    /// sends the chunk whose hash the manifest names.
    func fetchChunk(
        _ index: Int, of manifest: StateSnapshot.Manifest, peers: [PeerID], bad: BadPeers
    ) async -> Result<
        [UInt8], Failure
    > {
        let height = manifest.height
        let expected = manifest.chunkHashes[index]
        for turn in 0..<peers.count {
            let peer = peers[(index + turn) % peers.count]
            guard await !bad.contains(peer) else { continue }
            let reply = await network.ask(
                .chunk(height: height, index: UInt32(index)), of: peer, timeout: options.requestTimeout)
            switch reply {
            case .chunk(let response):
                guard response.height == height, response.index == UInt32(index) else {
                    await bad.punish(
                        peer,
                        "sent chunk \(response.index) of height \(response.height) for chunk \(index) of \(height)",
                        network: network, logger: logger)
                    continue
                }
                guard response.chunk.count <= StateSnapshot.maxChunkBytes, Hash.sha256(response.chunk) == expected
                else {
                    await bad.punish(
                        peer, "chunk \(index) of snapshot \(height) does not match its hash (corrupt or truncated)",
                        network: network, logger: logger)
                    continue
                }
                return .success(Array(response.chunk))
            case .noChunk, .none:
                continue
            case .snapshots, .block, .noBlock:
                continue
            }
        }
        return .failure(Failure(description: "no peer sent a valid chunk \(index) of snapshot \(height)"))
    }

    private func punish(_ peer: PeerID, _ reason: String, bad: inout Set<PeerID>) async {
        guard bad.insert(peer).inserted else { return }
        logger.warning("state sync: punishing peer", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        await network.punish(peer, reason: reason)
    }
}

/// The peers found bad while chunks are fetched in parallel.
actor BadPeers {
    private(set) var peers: Set<PeerID>

    init(_ peers: Set<PeerID>) { self.peers = peers }

    func contains(_ peer: PeerID) -> Bool { peers.contains(peer) }

    func punish(_ peer: PeerID, _ reason: String, network: any StateSyncNetwork, logger: Logger) async {
        guard peers.insert(peer).inserted else { return }
        logger.warning("state sync: punishing peer", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        await network.punish(peer, reason: reason)
    }
}
