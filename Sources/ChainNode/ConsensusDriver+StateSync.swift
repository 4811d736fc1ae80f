import Foundation
import GonkaCore
import GonkaWire
import P2P
import Storage
import SwiftProtobuf

/// The state-sync channel, serving side (PROTOCOL §3.1 *State sync*): the snapshots this node took
/// are listed to peers that ask, and their chunks served. A node without snapshots answers an empty
/// list; a chunk it lacks, `NoChunk`. Answers to requests it never made (a listing or a chunk sent
/// to a node that is not syncing) are dropped.
extension ConsensusDriver {
    /// The snapshots this node offers, newest first (`GET /snapshots`).
    public func snapshotList() -> [StateSnapshot.Manifest] { app.snapshots?.list ?? [] }

    func receiveStateSync(_ payload: [UInt8], from peer: PeerID) {
        guard let envelope = try? Wire.StateSyncEnvelope(serializedBytes: payload) else {
            return punish(peer, "undecodable state-sync message")
        }
        switch envelope.sum {
        case .snapshotsRequest:
            let list = app.snapshots?.list ?? []
            if let reply = StateSyncMessages.snapshots(list) { host.send(reply, on: .stateSync, to: peer) }
        case .chunkRequest(let request):
            let chunk = app.snapshots?.chunk(height: request.height, index: Int(request.index))
            if let reply = StateSyncMessages.chunk(height: request.height, index: request.index, chunk) {
                host.send(reply, on: .stateSync, to: peer)
            }
        case .snapshotsResponse, .chunkResponse, .noChunk:
            return
        case nil:
            punish(peer, "empty state-sync message")
        }
    }
}

/// The state-sync channel's messages (`StateSyncEnvelope` in `Protos/gonka/v1/node.proto`).
enum StateSyncMessages {
    static func snapshotsRequest() -> [UInt8]? {
        try? Wire.StateSyncEnvelope.with { $0.snapshotsRequest = Wire.SnapshotsRequest() }.serializedBytes()
    }

    static func chunkRequest(height: UInt64, index: UInt32) -> [UInt8]? {
        try? Wire.StateSyncEnvelope.with {
            $0.chunkRequest = Wire.ChunkRequest.with {
                $0.height = height
                $0.index = index
            }
        }.serializedBytes()
    }

    /// The listing of `manifests` (empty: "none").
    static func snapshots(_ manifests: [StateSnapshot.Manifest]) -> [UInt8]? {
        try? Wire.StateSyncEnvelope.with {
            $0.snapshotsResponse = Wire.SnapshotsResponse.with { $0.snapshots = manifests.map(wire) }
        }.serializedBytes()
    }

    /// Chunk `index` of the snapshot at `height`, or `NoChunk` when `chunk` is nil.
    static func chunk(height: UInt64, index: UInt32, _ chunk: [UInt8]?) -> [UInt8]? {
        try? Wire.StateSyncEnvelope.with {
            if let chunk {
                $0.chunkResponse = Wire.ChunkResponse.with {
                    $0.height = height
                    $0.index = index
                    $0.chunk = Data(chunk)
                }
            } else {
                $0.noChunk = Wire.NoChunk.with {
                    $0.height = height
                    $0.index = index
                }
            }
        }.serializedBytes()
    }

    static func wire(_ manifest: StateSnapshot.Manifest) -> Wire.SnapshotManifest {
        Wire.SnapshotManifest.with {
            $0.chainID = manifest.chainID
            $0.height = manifest.height
            $0.format = manifest.format
            $0.root = Data(manifest.root.bytes)
            $0.chunkHashes = manifest.chunkHashes.map { Data($0.bytes) }
            $0.entries = manifest.entries
        }
    }

    /// A peer's manifest, or `nil` when a hash is not 32 bytes.
    static func manifest(_ wire: Wire.SnapshotManifest) -> StateSnapshot.Manifest? {
        guard let root = Hash(bytes: wire.root) else { return nil }
        var hashes: [Hash] = []
        hashes.reserveCapacity(wire.chunkHashes.count)
        for bytes in wire.chunkHashes {
            guard let hash = Hash(bytes: bytes) else { return nil }
            hashes.append(hash)
        }
        return StateSnapshot.Manifest(
            chainID: wire.chainID, height: wire.height, format: wire.format, root: root, chunkHashes: hashes,
            entries: wire.entries)
    }
}
