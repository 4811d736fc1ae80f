import Consensus
import Foundation
import GonkaCore
import Ledger
import Logging
import P2P
import Storage

extension Node {
    /// What ``stateSyncIfNeeded(home:logger:options:)`` did.
    public enum StateSyncOutcome: Sendable, Equatable {
        /// `[state_sync] enable` is off, or the home already has a state.
        case notNeeded
        /// The state of `height` was restored; the block store starts at `height`.
        case restored(height: UInt64, appHash: Hash, chunks: Int)
    }

    /// State sync (PROTOCOL §3.1): with `[state_sync] enable` and no state in `home` yet, restores a
    /// peer's verified snapshot (``StateSyncClient``) before the node starts, so ``init(home:logger:tune:pocWorker:)``
    /// opens a ledger at the snapshot's height and block sync goes on from there.
    ///
    /// The state is restored into `state.sqlite.sync` and renamed to `state.sqlite` only after the
    /// base block is saved: a crash before leaves no state, and the next start syncs again (a
    /// leftover block store or temporary file is deleted first).
    public static func stateSyncIfNeeded(
        home: URL, logger: Logger, options: StateSyncClient.Options = .init()
    ) async throws(NodeError) -> StateSyncOutcome {
        let paths = NodePaths(home: home)
        let config = try NodeConfig(file: paths.config)
        let files = FileManager.default
        guard config.stateSyncEnabled, !files.fileExists(atPath: paths.state.path) else { return .notNeeded }
        let genesis: Genesis
        do {
            genesis = try Genesis.decode(json: Data(contentsOf: paths.genesis))
        } catch {
            throw .genesis("\(paths.genesis.path): \(error)")
        }
        var members: [(publicKey: PublicKey, power: UInt64)] = []
        for v in genesis.validators {
            guard let bytes = Hex.decode(v.consensusPubkey), let key = try? PublicKey(bytes: bytes) else {
                throw .genesis("validator \(v.name) has an invalid consensus key")
            }
            members.append((key, v.power))
        }
        let genesisSet: Consensus.ValidatorSet
        do { genesisSet = try Consensus.ValidatorSet(members) } catch { throw .genesis("validator set: \(error)") }
        let nodeKey: SigningKey
        do { nodeKey = try KeyStore(home: home).load(config.p2pKey) } catch { throw .keys("p2p key: \(error)") }
        var p2p = P2PConfiguration(nodeKey: nodeKey, chainID: config.chainID)
        p2p.listenHost = "127.0.0.1"
        p2p.listenPort = 0  // dials out only; the node listens once it runs
        do {
            p2p.persistentPeers = try config.persistentPeers.map { text throws(P2PError) in
                try PeerAddress(parsing: text)
            }
        } catch {
            throw .config("p2p.persistent_peers: \(error)")
        }
        guard !p2p.persistentPeers.isEmpty else { throw .config("state sync needs p2p.persistent_peers") }

        let temporary = paths.data.appendingPathComponent("state.sqlite.sync")
        for leftover in [paths.blocks, temporary] {
            for suffix in ["", "-wal", "-shm"] { try? files.removeItem(atPath: leftover.path + suffix) }
        }
        do {
            try files.createDirectory(at: paths.data, withIntermediateDirectories: true)
        } catch {
            throw .storage("cannot create \(paths.data.path): \(error.localizedDescription)")
        }
        var hostLogger = logger
        hostLogger[metadataKey: "component"] = "p2p"
        let host = P2PHost(configuration: p2p, logger: hostLogger)
        let network = HostStateSyncNetwork(host: host)
        var trust = StateSyncClient.Trust(genesisValidators: genesisSet)
        if config.trustHeight > 0, let hash = Hash(hex: config.trustHash) { trust.block = (config.trustHeight, hash) }
        var syncLogger = logger
        syncLogger[metadataKey: "component"] = "statesync"
        let client = StateSyncClient(
            chainID: config.chainID, trust: trust, network: network, options: options, logger: syncLogger)
        syncLogger.info("state sync: starting", metadata: ["peers": "\(p2p.persistentPeers.count)"])
        let result: Result<StateSyncClient.Restored, NodeError> = await withTaskGroup(
            of: Result<StateSyncClient.Restored, NodeError>?.self
        ) { group in
            group.addTask {
                try? await host.run()
                return nil
            }
            group.addTask {
                await network.route()
                return nil
            }
            group.addTask {
                do {
                    let store = try AuthenticatedStore(path: temporary.path)
                    let restored: StateSyncClient.Restored
                    do {
                        restored = try await client.run(into: store)
                    } catch {
                        try? store.close()
                        return .failure(.storage("\(error)"))
                    }
                    try store.close()
                    try BlockStore(path: paths.blocks.path).saveBase(restored.base)
                    return .success(restored)
                } catch {
                    return .failure(.storage("state sync: \(error)"))
                }
            }
            var outcome: Result<StateSyncClient.Restored, NodeError> = .failure(.storage("state sync stopped"))
            for await value in group {
                if let value {
                    outcome = value
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
        let restored: StateSyncClient.Restored
        switch result {
        case .success(let value): restored = value
        case .failure(let error):
            for suffix in ["", "-wal", "-shm"] { try? files.removeItem(atPath: temporary.path + suffix) }
            throw error
        }
        do {
            // Closing checkpointed the WAL; if one is left, it goes along with its database.
            if files.fileExists(atPath: temporary.path + "-wal") {
                try files.moveItem(atPath: temporary.path + "-wal", toPath: paths.state.path + "-wal")
            }
            try? files.removeItem(atPath: temporary.path + "-shm")
            try files.moveItem(at: temporary, to: paths.state)
        } catch {
            throw .storage("state sync: cannot move the restored state into place: \(error.localizedDescription)")
        }
        syncLogger.info(
            "state sync: done",
            metadata: ["height": "\(restored.manifest.height)", "app_hash": "\(restored.appHash)"])
        return .restored(
            height: restored.manifest.height, appHash: restored.appHash, chunks: restored.manifest.chunkHashes.count)
    }
}
