import Foundation
import GonkaWire
import Logging
import P2P
import SwiftProtobuf
import Synchronization

/// What the state-sync client asks of peers, one request and its answer at a time per call.
public protocol StateSyncNetwork: Sendable {
    /// The peers connected now.
    func peers() async -> [PeerID]
    /// Sends `request` to `peer` and waits up to `timeout` for its answer (`nil`: none in time, or
    /// the peer is gone).
    func ask(_ request: StateSyncRequest, of peer: PeerID, timeout: Duration) async -> StateSyncReply?
    /// The peer sent invalid data: disconnect it and refuse it for a while (P2P's ban).
    func punish(_ peer: PeerID, reason: String) async
}

/// A state-sync client's request.
public enum StateSyncRequest: Sendable, Hashable {
    case snapshots
    case chunk(height: UInt64, index: UInt32)
    /// A block with its commit, over the block-sync channel.
    case block(height: UInt64)
}

/// A peer's answer.
public enum StateSyncReply: Sendable {
    case snapshots([Wire.SnapshotManifest])
    case chunk(Wire.ChunkResponse)
    case noChunk
    case block(Wire.BlockResponse)
    case noBlock
}

/// ``StateSyncNetwork`` over a running ``P2PHost`` (the host of a node that is not running its
/// driver yet): answers are matched to the request they answer by peer, kind and height/index;
/// anything else the peers send meanwhile (gossip, status) is dropped.
public final class HostStateSyncNetwork: StateSyncNetwork {
    private struct Key: Hashable {
        var peer: PeerID
        var request: StateSyncRequest
    }

    private let host: P2PHost
    private let waiting = Mutex<[Key: CheckedContinuation<StateSyncReply?, Never>]>([:])

    public init(host: P2PHost) { self.host = host }

    public func peers() async -> [PeerID] { host.connectedPeers().map(\.id) }

    public func punish(_ peer: PeerID, reason: String) async { host.punish(peer, reason: reason) }

    /// Routes the host's inbound messages to the waiting requests until the stream ends or the
    /// task is cancelled. Run it in a child task while the client runs.
    public func route() async {
        for await message in host.inbound {
            switch message.channel {
            case .stateSync:
                guard let envelope = try? Wire.StateSyncEnvelope(serializedBytes: message.payload) else {
                    host.punish(message.peer, reason: "undecodable state-sync message")
                    continue
                }
                switch envelope.sum {
                case .snapshotsResponse(let r): resolve(message.peer, .snapshots, .snapshots(r.snapshots))
                case .chunkResponse(let r):
                    // An answer for another chunk than asked goes to the peer's pending chunk
                    // request: the client judges it (and punishes the peer).
                    if !resolve(message.peer, .chunk(height: r.height, index: r.index), .chunk(r)) {
                        resolveAnyChunk(message.peer, .chunk(r))
                    }
                case .noChunk(let r): resolve(message.peer, .chunk(height: r.height, index: r.index), .noChunk)
                default: continue
                }
            case .blockSync:
                guard let envelope = try? Wire.BlockSyncEnvelope(serializedBytes: message.payload) else { continue }
                switch envelope.sum {
                case .blockResponse(let r): resolve(message.peer, .block(height: r.height), .block(r))
                case .noBlock(let r): resolve(message.peer, .block(height: r.height), .noBlock)
                default: continue
                }
            default: continue
            }
        }
    }

    @discardableResult
    private func resolve(_ peer: PeerID, _ request: StateSyncRequest, _ reply: StateSyncReply) -> Bool {
        let continuation = waiting.withLock { $0.removeValue(forKey: Key(peer: peer, request: request)) }
        continuation?.resume(returning: reply)
        return continuation != nil
    }

    /// A chunk answer that matched no request goes to this peer's pending chunk request, if any.
    private func resolveAnyChunk(_ peer: PeerID, _ reply: StateSyncReply) {
        let continuation = waiting.withLock { waiting -> CheckedContinuation<StateSyncReply?, Never>? in
            guard
                let key = waiting.keys.first(where: {
                    if $0.peer == peer, case .chunk = $0.request { return true }
                    return false
                })
            else { return nil }
            return waiting.removeValue(forKey: key)
        }
        continuation?.resume(returning: reply)
    }

    public func ask(_ request: StateSyncRequest, of peer: PeerID, timeout: Duration) async -> StateSyncReply? {
        let payload: [UInt8]?
        let channel: P2PChannel
        switch request {
        case .snapshots:
            payload = StateSyncMessages.snapshotsRequest()
            channel = .stateSync
        case .chunk(let height, let index):
            payload = StateSyncMessages.chunkRequest(height: height, index: index)
            channel = .stateSync
        case .block(let height):
            payload = BlockSync.requestPayload(height: height)
            channel = .blockSync
        }
        guard let payload else { return nil }
        let key = Key(peer: peer, request: request)
        return await withTaskGroup(of: StateSyncReply?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let previous = self.waiting.withLock { $0.updateValue(continuation, forKey: key) }
                    previous?.resume(returning: nil)
                    if !self.host.send(payload, on: channel, to: peer) { self.resolveNil(key) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.resolveNil(key)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func resolveNil(_ key: Key) {
        let continuation = waiting.withLock { $0.removeValue(forKey: key) }
        continuation?.resume(returning: nil)
    }
}
