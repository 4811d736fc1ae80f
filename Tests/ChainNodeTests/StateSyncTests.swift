import Consensus
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Logging
import P2P
import Storage
import SwiftProtobuf
import Synchronization
import Testing

@testable import ChainNode

/// State sync's client against peers that misbehave (issue 23 *Bad input*), without sockets: a
/// real one-validator chain is run to height 17, then peers are faked from its block store and
/// its state at height 15. Each bad peer is punished and the snapshot is still restored from an
/// honest one, to the verified app hash.
@Suite(.serialized, .hangGuard) struct StateSyncTests {
    /// What a fake peer does.
    enum Behaviour: Sendable {
        case honest
        /// Answers every listing with "none".
        case noSnapshots
        /// Flips a byte of every chunk.
        case corruptChunk
        /// Sends every chunk cut short.
        case truncatedChunk
        /// Sends, for every chunk asked, a chunk labelled with another height.
        case otherHeight
        /// Sends chunks of another chain's (another height's) snapshot under this one's name.
        case otherContent
        /// Offers the snapshot under another root.
        case wrongRoot
        /// Offers a manifest with the true root whose chunks (matching their hashes) are another state's.
        case forgedChunks
        /// Offers the snapshot claiming an absurd number of entries.
        case wrongEntryCount
        /// Sends the block that carries the app hash with its commit's signatures damaged.
        case badCommit
        /// Never answers.
        case silent
    }

    /// The source chain: blocks and a snapshot (small chunks) of its state at `height`.
    struct Source: Sendable {
        var blocks: [UInt64: (block: [UInt8], commit: Wire.Commit)]
        var manifest: StateSnapshot.Manifest
        var chunks: [[UInt8]]
        /// A snapshot of another version of the state (its chunks are "another chain's" content).
        var other: (manifest: StateSnapshot.Manifest, chunks: [[UInt8]])
        var genesisValidators: Consensus.ValidatorSet
        var appHash: Hash
    }

    final class FakeNetwork: StateSyncNetwork {
        let source: Source
        let behaviours: [PeerID: Behaviour]
        let punished = Mutex<[PeerID: String]>([:])
        let asked = Mutex<[PeerID: Int]>([:])

        init(source: Source, behaviours: [PeerID: Behaviour]) {
            self.source = source
            self.behaviours = behaviours
        }

        func peers() async -> [PeerID] { behaviours.keys.sorted { $0.description < $1.description } }

        func punish(_ peer: PeerID, reason: String) async { punished.withLock { $0[peer] = reason } }

        func ask(_ request: StateSyncRequest, of peer: PeerID, timeout: Duration) async -> StateSyncReply? {
            asked.withLock { $0[peer, default: 0] += 1 }
            guard let behaviour = behaviours[peer] else { return nil }
            if case .silent = behaviour { return nil }
            switch request {
            case .snapshots:
                var manifest = source.manifest
                switch behaviour {
                case .noSnapshots: return .snapshots([])
                case .wrongRoot: manifest.root = Hash.sha256("another root")
                case .forgedChunks: manifest.chunkHashes = source.other.manifest.chunkHashes
                case .wrongEntryCount: manifest.entries = .max
                default: break
                }
                return .snapshots([StateSyncMessages.wire(manifest)])
            case .block(let height):
                guard let stored = source.blocks[height] else { return .noBlock }
                var commit = stored.commit
                if case .badCommit = behaviour {
                    for i in commit.precommits.indices { commit.precommits[i].signature[0] ^= 0x01 }
                }
                return .block(
                    Wire.BlockResponse.with {
                        $0.height = height
                        $0.block = Data(stored.block)
                        $0.commit = commit
                    })
            case .chunk(let height, let index):
                guard height == source.manifest.height else { return .noChunk }
                let i = Int(index)
                var chunk: [UInt8]
                var label = height
                switch behaviour {
                case .forgedChunks, .otherContent:
                    guard i < source.other.chunks.count else { return .noChunk }
                    chunk = source.other.chunks[i]
                default:
                    guard i < source.chunks.count else { return .noChunk }
                    chunk = source.chunks[i]
                }
                switch behaviour {
                case .corruptChunk: chunk[chunk.count / 2] ^= 0x5A
                case .truncatedChunk: chunk.removeLast(chunk.count / 3)
                case .otherHeight: label = height - 5
                default: break
                }
                return .chunk(
                    Wire.ChunkResponse.with {
                        $0.height = label
                        $0.index = index
                        $0.chunk = Data(chunk)
                    })
            }
        }
    }

    /// Runs a one-validator chain to height 17 and reads what the fake peers serve.
    static func makeSource() async throws -> Source {
        let net = try TestNetwork(validators: 1, seed: 41)
        defer { net.cleanup() }
        try net.writeConfig(0, peers: [])
        let node = try await RunningNode(home: net.homes[0], name: "source")
        let reached = await eventually(.seconds(60)) { node.height >= 17 }
        await node.stop()
        #expect(reached, "the source chain reaches height 17")
        let paths = NodePaths(home: net.homes[0])
        let store = try AuthenticatedStore(path: paths.state.path)
        defer { try? store.close() }
        let blockStore = try BlockStore(path: paths.blocks.path)
        var blocks: [UInt64: (block: [UInt8], commit: Wire.Commit)] = [:]
        for h in UInt64(1)...17 {
            let stored = try #require(try blockStore.block(at: h))
            blocks[h] = (stored.block, try Wire.Commit(serializedBytes: stored.commit))
        }
        func snapshot(_ version: UInt64) throws -> (manifest: StateSnapshot.Manifest, chunks: [[UInt8]]) {
            let entries = try store.entries(withPrefix: [], atVersion: version)
            let chunks = StateSnapshot.chunks(entries, chunkBytes: 256)
            let manifest = StateSnapshot.Manifest(
                chainID: TestChain.chainID, height: 15, format: StateSnapshot.format,
                root: try store.root(atVersion: version), chunkHashes: chunks.map { Hash.sha256($0) },
                entries: UInt64(entries.count))
            return (manifest, chunks)
        }
        let main = try snapshot(15)
        #expect(main.chunks.count > 3, "several chunks")
        let header = try Wire.Block(serializedBytes: try #require(blocks[16]).block).header
        let appHash = try #require(Hash(bytes: header.appHash))
        #expect(main.manifest.root == appHash)
        var other = try snapshot(9)
        other.manifest.root = main.manifest.root
        let genesisSet = try Consensus.ValidatorSet([(net.consensusKeys[0].publicKey, 10)])
        return Source(
            blocks: blocks, manifest: main.manifest, chunks: main.chunks, other: other, genesisValidators: genesisSet,
            appHash: appHash)
    }

    static func client(_ network: FakeNetwork, source: Source, deadline: Duration = .seconds(20)) -> StateSyncClient {
        var options = StateSyncClient.Options()
        options.requestTimeout = .milliseconds(200)
        options.retryInterval = .milliseconds(50)
        options.deadline = deadline
        return StateSyncClient(
            chainID: TestChain.chainID, trust: .init(genesisValidators: source.genesisValidators), network: network,
            options: options, logger: TestNetwork.logger("statesync"))
    }

    static func peer(_ n: UInt8) -> PeerID { PeerID(TestChain.key(seed: 99, index: Int(n)).publicKey) }

    @Test(.timeLimit(.minutes(3))) func everyBadPeerIsPunishedAndTheSnapshotComesFromAnHonestOne() async throws {
        let source = try await Self.makeSource()
        let bad: [Behaviour] = [
            .corruptChunk, .truncatedChunk, .otherHeight, .otherContent, .wrongRoot, .forgedChunks, .wrongEntryCount,
            .noSnapshots, .silent,
        ]
        for (i, behaviour) in bad.enumerated() {
            // Two bad peers and one honest one: a bad manifest offered by two is tried before the
            // honest one (the most offered first), and chunks are asked of the peers in turn.
            let badPeers = [Self.peer(UInt8(3 * i)), Self.peer(UInt8(3 * i + 1))]
            let honest = Self.peer(UInt8(3 * i + 2))
            let network = FakeNetwork(
                source: source, behaviours: [badPeers[0]: behaviour, badPeers[1]: behaviour, honest: .honest])
            let store = try AuthenticatedStore(inMemory: "restored-\(i)")
            let restored = try await Self.client(network, source: source).run(into: store)
            #expect(restored.appHash == source.appHash, "\(behaviour)")
            #expect(store.root == source.appHash, "\(behaviour)")
            #expect(store.latestVersion == 15)
            #expect(restored.base.height == 15)
            #expect(restored.base.block == source.blocks[15]?.block)
            let punished = network.punished.withLock { $0 }
            #expect(punished[honest] == nil, "the honest peer is never punished (\(behaviour))")
            switch behaviour {
            case .noSnapshots, .silent:
                #expect(punished.isEmpty, "a peer without snapshots, or slow, is not punished")
            case .wrongRoot, .forgedChunks, .wrongEntryCount:
                #expect(badPeers.allSatisfy { punished[$0] != nil }, "every peer offering \(behaviour) is punished")
            default:
                #expect(badPeers.contains { punished[$0] != nil }, "\(behaviour) is punished")
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func withoutAnHonestPeerNothingIsRestored() async throws {
        let source = try await Self.makeSource()
        // Only peers without snapshots: a clear "none", and the client gives up at its deadline.
        let none = FakeNetwork(source: source, behaviours: [Self.peer(1): .noSnapshots, Self.peer(2): .noSnapshots])
        let empty = try AuthenticatedStore(inMemory: "none")
        await #expect(throws: StateSyncClient.Failure.self) {
            _ = try await Self.client(none, source: source, deadline: .milliseconds(500)).run(into: empty)
        }
        #expect(empty.latestVersion == nil)
        // Only a corrupt peer: punished, nothing restored.
        let corrupt = FakeNetwork(source: source, behaviours: [Self.peer(3): .corruptChunk])
        let store = try AuthenticatedStore(inMemory: "corrupt")
        do {
            _ = try await Self.client(corrupt, source: source, deadline: .milliseconds(800)).run(into: store)
            Issue.record("a corrupt snapshot was restored")
        } catch {
            #expect(error.description.contains("gave up"))
        }
        #expect(store.latestVersion == nil, "nothing written")
        #expect(corrupt.punished.withLock { $0[Self.peer(3)] } != nil)
        // The header's commit with damaged signatures (it does not carry +2/3 of the genesis set):
        // refused, the peer punished, nothing restored.
        let unsigned = FakeNetwork(source: source, behaviours: [Self.peer(5): .badCommit])
        let third = try AuthenticatedStore(inMemory: "bad-commit")
        do {
            _ = try await Self.client(unsigned, source: source, deadline: .milliseconds(800)).run(into: third)
            Issue.record("a snapshot was restored under a header whose commit does not verify")
        } catch {
            #expect(error.description.contains("gave up"))
        }
        #expect(third.latestVersion == nil)
        #expect(unsigned.punished.withLock { $0[Self.peer(5)] }?.contains("does not verify") == true)
        // A header signed by another set than the trusted one: refused.
        var forged = source
        forged.genesisValidators = try Consensus.ValidatorSet([(SigningKey().publicKey, 10)])
        let lying = FakeNetwork(source: source, behaviours: [Self.peer(4): .honest])
        let other = try AuthenticatedStore(inMemory: "untrusted")
        await #expect(throws: StateSyncClient.Failure.self) {
            _ = try await Self.client(lying, source: forged, deadline: .milliseconds(500)).run(into: other)
        }
        #expect(other.latestVersion == nil)
    }

    @Test func aNodeWithoutSnapshotsAnswersNone() throws {
        let payload = try #require(StateSyncMessages.snapshots([]))
        let envelope = try Wire.StateSyncEnvelope(serializedBytes: payload)
        guard case .snapshotsResponse(let response) = envelope.sum else {
            Issue.record("not a listing")
            return
        }
        #expect(response.snapshots.isEmpty)
        let none = try Wire.StateSyncEnvelope(
            serializedBytes: try #require(StateSyncMessages.chunk(height: 5, index: 2, nil)))
        guard case .noChunk(let n) = none.sum else {
            Issue.record("not NoChunk")
            return
        }
        #expect(n.height == 5 && n.index == 2)
    }
}

/// `[state_sync]` in config.toml: defaults, round trip, bad values refused by name.
@Suite struct StateSyncConfigTests {
    @Test func keysRoundTripAndBadValuesAreRefused() throws {
        let defaults = try NodeConfig(toml: NodeConfig(moniker: "n", chainID: "c").toml)
        #expect(defaults.snapshotInterval == 1000)
        #expect(defaults.snapshotKeepRecent == 2)
        #expect(!defaults.stateSyncEnabled)
        #expect(defaults.trustHeight == 0 && defaults.trustHash.isEmpty)
        var config = NodeConfig(moniker: "n", chainID: "c")
        config.snapshotInterval = 0
        config.stateSyncEnabled = true
        config.trustHeight = 41
        config.trustHash = Hash.sha256("block 41").hex
        #expect(try NodeConfig(toml: config.toml) == config)
        for bad in [
            "[state_sync]\nsnapshot_keep_recent = 0", "[state_sync]\nsnapshot_interval = -1",
            "[state_sync]\ntrust_height = 5", "[state_sync]\ntrust_hash = \"zz\"",
            "[state_sync]\ntrust_height = 1\ntrust_hash = \"\(Hash.sha256("x").hex)\"", "[state_sync]\nenable = 1",
        ] {
            #expect(throws: NodeError.self, "\(bad)") {
                try NodeConfig(toml: "moniker = \"n\"\nchain_id = \"c\"\n" + bad)
            }
        }
    }
}
