import ChainRPCTypes
import Foundation
import GonkaCore
import GonkaWire
import Hummingbird
import Logging
import NIOCore
import P2P
import Storage
import SwiftProtobuf

/// What the chain RPC reads and drives. Protocol-typed parts keep the router testable.
public struct RPCDependencies: Sendable {
    public let chainID: String
    public let moniker: String
    public let nodeID: String
    public let testHooks: Bool
    public let driver: ConsensusDriver
    public let host: P2PHost
    public let status: NodeStatusBox
    public let events: EventHub
    public let blocks: BlockStore
    /// Largest request body accepted (a tx is far smaller).
    public var maxBodyBytes = 1 << 20
    /// How long `POST /tx?mode=commit` waits for the block.
    public var commitWait: Duration = .seconds(30)
    /// The genesis file the node started from, served as is by `GET /genesis` (a joining node
    /// takes it from there); empty: 404.
    public var genesisJSON: Data = Data()
    /// The host of `[p2p] listen`; `/status` reports it with the bound port as `p2p_listen`.
    public var p2pListenHost: String = ""
}

/// The chain RPC of `docs/RPC.md`: status, tx submission, blocks, txs, state queries with proofs,
/// server-sent events, Prometheus metrics and the fault-test isolate hook.
public enum ChainRPC {
    /// The router with every route; errors are `{"error":{"code","message"}}` with a 4xx/5xx status.
    public static func router(_ deps: RPCDependencies) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: JSONErrorMiddleware())
        router.get("/status") { _, _ in status(deps) }
        router.get("/genesis") { _, _ in genesis(deps) }
        router.post("/tx") { request, _ in try await submit(request, deps) }
        router.post("/txs") { request, _ in try await submitBatch(request, deps) }
        router.get("/block/{height}") { _, context in try block(context.parameters.get("height") ?? "", deps) }
        router.get("/tx/{hash}") { _, context in try tx(context.parameters.get("hash") ?? "", deps) }
        router.get("/snapshots") { _, _ in await snapshots(deps) }
        router.get("/query/**") { request, context in
            try await query(context.parameters.getCatchAll().map(String.init), request, deps)
        }
        router.get("/events") { _, _ in events(deps) }
        router.get("/metrics") { _, _ in metrics(deps) }
        router.post("/debug/isolate") { request, _ in try await isolate(request, deps) }
        return router
    }

    /// Every answer is one of the `ChainRPCTypes` types, which `GonkaClient` decodes.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: encoded(value))))
    }

    /// The JSON text of an answer: compact, keys sorted (a stable text for one value).
    static func encoded(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { Array($0) } ?? Array("null".utf8)
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> Response {
        json(RPCErrorBody(code: code, message: message), status: HTTPResponse.Status(code: status))
    }

    static func error(_ e: QueryError) -> Response { error(e.status, e.code, e.message) }

    // MARK: Routes

    static func status(_ deps: RPCDependencies) -> Response {
        let s = deps.status.snapshot
        let peers = deps.host.connectedPeers().sorted { $0.id.description < $1.id.description }.map { p in
            NodeStatus.Peer(id: p.id.description, address: p.remoteAddress, outbound: p.outbound)
        }
        // The set that signs the next height, not the one at start: a joined participant shows
        // up here from its epoch's switch on.
        var validator: NodeStatus.ValidatorInfo?
        if let address = deps.driver.signerAddress, let power = s.validatorPower {
            validator = NodeStatus.ValidatorInfo(address: address.description, power: power)
        }
        return json(
            NodeStatus(
                chainID: deps.chainID, moniker: deps.moniker, nodeID: deps.nodeID, height: s.height,
                blockHash: s.blockHash?.hex ?? "", appHash: s.appHash.hex, blockTimeMs: s.blockTimeMs,
                catchingUp: s.catchingUp, peers: peers, mempoolSize: s.mempoolSize, validator: validator,
                consensus: NodeStatus.ConsensusState(height: s.consensusHeight, round: s.round, step: s.step),
                p2pListen: deps.host.boundPort.map { "\(deps.p2pListenHost):\($0)" }))
    }

    /// `GET /genesis`: the genesis JSON this node started from, byte for byte.
    static func genesis(_ deps: RPCDependencies) -> Response {
        guard !deps.genesisJSON.isEmpty else { return error(404, "not_found", "this node serves no genesis") }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: deps.genesisJSON)))
    }

    /// `GET /snapshots`: the state snapshots this node offers (PROTOCOL §3.1 *State sync*).
    static func snapshots(_ deps: RPCDependencies) async -> Response {
        let list = await deps.driver.snapshotList().map {
            SnapshotInfo(
                height: $0.height, format: $0.format, root: $0.root.hex, chunks: $0.chunkHashes.count,
                entries: $0.entries)
        }
        return json(SnapshotList(snapshots: list))
    }

    static func submit(_ request: Request, _ deps: RPCDependencies) async throws -> Response {
        let modeText = request.uri.queryParameters.get("mode") ?? "sync"
        guard modeText == "sync" || modeText == "commit" else {
            return error(400, "invalid_mode", "mode must be sync or commit, got \(modeText)")
        }
        var request = request
        let body = try await request.collectBody(upTo: deps.maxBodyBytes)
        var bytes = Array(body.readableBytesView)
        let contentType = request.headers[.contentType] ?? ""
        if contentType.hasPrefix("application/json") {
            guard let decoded = try? JSONDecoder().decode(TxSubmission.self, from: Data(bytes)) else {
                return error(400, "malformed_body", "expected {\"tx\": \"<base64>\"}")
            }
            guard let raw = Data(base64Encoded: decoded.tx) else {
                return error(400, "malformed_body", "tx is not valid base64")
            }
            bytes = Array(raw)
        }
        guard !bytes.isEmpty else { return error(400, "malformed_body", "empty transaction") }
        // Subscribe before submitting so the commit cannot slip past unseen.
        let stream = modeText == "commit" ? deps.events.waitForTx(Hash.sha256(bytes)) : nil
        let result = await deps.driver.submit(bytes)
        let hash: Hash
        switch result {
        case .added(let h), .duplicate(let h):
            hash = h
        case .committed(let h):
            if let record = try? deps.blocks.tx(hash: h) {
                return json(committedAnswer(record.hash, record.height, record.index, record.code, record.log))
            }
            return json(BroadcastResult(hash: h.hex, code: 0, log: "already committed"))
        case .full:
            return error(503, "mempool_full", "the mempool is full; retry later")
        case .rejected(_, let code, let reason):
            return error(400, code, reason)
        }
        guard let stream else {
            return json(BroadcastResult(hash: hash.hex, code: 0, log: ""))
        }
        let wait = deps.commitWait
        let committed = await withTaskGroup(of: NodeEvent.TxCommitted?.self) { group in
            group.addTask {
                for await committed in stream { return committed }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: wait)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let committed else {
            return error(504, "timeout", "tx \(hash.hex) was not committed within \(wait)")
        }
        return json(
            committedAnswer(committed.hash, committed.height, committed.index, committed.code, committed.log))
    }

    /// At most this many transactions per `POST /txs`.
    static let maxBatch = 1_000

    /// `POST /txs` `{"txs": ["<base64>", …]}`: each checked and pooled in order, in one turn of the
    /// driver (sync mode only). 200 `{"results": [{"hash", "code": 0|1, "error", "log"}]}`, one per
    /// tx in order (code 1: refused, `error` the ledger's short code or `mempool_full`); a
    /// malformed body is 400 and submits nothing.
    static func submitBatch(_ request: Request, _ deps: RPCDependencies) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: deps.maxBodyBytes)
        guard let decoded = try? JSONDecoder().decode(TxBatchSubmission.self, from: Data(body.readableBytesView))
        else {
            return error(400, "malformed_body", "expected {\"txs\": [\"<base64>\", …]}")
        }
        guard !decoded.txs.isEmpty, decoded.txs.count <= maxBatch else {
            return error(400, "malformed_body", "txs must hold 1 to \(maxBatch) transactions")
        }
        var txs: [[UInt8]] = []
        for (i, text) in decoded.txs.enumerated() {
            guard let raw = Data(base64Encoded: text), !raw.isEmpty else {
                return error(400, "malformed_body", "txs[\(i)] is not a non-empty base64 transaction")
            }
            txs.append(Array(raw))
        }
        let results = await deps.driver.submit(batch: txs)
        let items = results.map { result in
            switch result {
            case .added(let h), .duplicate(let h), .committed(let h):
                BatchBroadcastResult(hash: h.hex, code: 0, error: nil, log: "")
            case .full:
                BatchBroadcastResult(hash: nil, code: 1, error: "mempool_full", log: "the mempool is full; retry later")
            case .rejected(let h, let code, let reason):
                BatchBroadcastResult(hash: h.hex, code: 1, error: code, log: reason)
            }
        }
        return json(BatchBroadcastAnswer(results: items))
    }

    /// A committed tx's result: the commit-mode answer of `POST /tx` and the `tx` event's data.
    static func committedAnswer(
        _ hash: Hash, _ height: UInt64, _ index: Int, _ code: UInt32, _ log: String
    ) -> ChainEvent.TxCommitted {
        ChainEvent.TxCommitted(hash: hash.hex, height: height, index: index, code: Int(code), log: log)
    }

    static func block(_ text: String, _ deps: RPCDependencies) throws -> Response {
        guard let height = UInt64(text) else { return error(400, "invalid_height", "\"\(text)\" is not a height") }
        guard let stored = try deps.blocks.block(at: height) else {
            let oldest = try deps.blocks.oldestHeight()
            if height > 0, oldest > height {
                return error(
                    404, "pruned",
                    "block \(height) was pruned: this node keeps the latest blocks only ([storage] keep_blocks); "
                        + "the oldest it holds is \(oldest)")
            }
            return error(404, "not_found", "no block at height \(height)")
        }
        guard let block = try? Wire.Block(serializedBytes: stored.block) else {
            return error(500, "internal", "stored block \(height) does not decode")
        }
        let commit = (try? Wire.Commit(serializedBytes: stored.commit)).flatMap { try? ConsensusCommitView($0) }
        let h = block.header
        return json(
            BlockInfo(
                height: height, hash: stored.hash.hex, timeMs: h.timeMs, proposer: Hex.encode(h.proposer),
                appHash: Hex.encode(h.appHash), lastBlockHash: Hex.encode(h.lastBlockID.hash), numTxs: block.txs.count,
                txs: block.txs.map { BlockInfo.BlockTx(hash: Hash.sha256($0).hex, tx: $0.base64EncodedString()) },
                commit: BlockInfo.CommitInfo(round: commit?.round ?? 0, signers: commit?.signers ?? [])))
    }

    /// The round and signer addresses of a stored commit.
    struct ConsensusCommitView {
        let round: Int
        let signers: [String]

        init(_ wire: Wire.Commit) throws {
            round = Int(wire.round)
            var out: [String] = []
            for precommit in wire.precommits {
                let vote = try Wire.Vote(serializedBytes: precommit.vote)
                out.append(Hex.encode(vote.validator))
            }
            signers = out
        }
    }

    static func tx(_ text: String, _ deps: RPCDependencies) throws -> Response {
        guard let hash = Hash(hex: text.lowercased()) else {
            return error(400, "invalid_hash", "\"\(text)\" is not a 64-character hex hash")
        }
        guard let record = try deps.blocks.tx(hash: hash) else {
            return error(404, "not_found", "no committed tx \(hash.hex)")
        }
        return json(
            TxResult(
                hash: record.hash.hex, height: record.height, index: record.index, code: Int(record.code),
                log: record.log,
                events: record.events.map { TxResult.TxEvent(type: $0.type, attributes: $0.attributes) }
            ))
    }

    static func query(_ segments: [String], _ request: Request, _ deps: RPCDependencies) async throws -> Response {
        var height: UInt64?
        if let text = request.uri.queryParameters.get("height") {
            guard let h = UInt64(text) else { return error(400, "invalid_height", "\"\(text)\" is not a height") }
            height = h
        }
        do {
            let path = try QueryPath(
                parsing: segments, model: request.uri.queryParameters.get("model"),
                status: request.uri.queryParameters.get("status"))
            return json(try await deps.driver.query(path, height: height))
        } catch let failure {
            return error(failure)
        }
    }

    static func events(_ deps: RPCDependencies) -> Response {
        let stream = deps.events.subscribe(buffer: 10_000)
        let body = ResponseBody { writer in
            try await serveEvents(stream, heartbeat: eventsHeartbeat) { text in
                try await writer.write(ByteBuffer(string: text))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// A comment line (`: heartbeat`) goes to an `/events` subscriber this often, so a quiet chain
    /// (a stalled round, a network partition) does not look like a dead connection to a client's
    /// read timeout or an idle-cutting proxy; a client that reconnected would miss the blocks
    /// committed meanwhile.
    static let eventsHeartbeat = Duration.seconds(5)

    /// Writes `: connected`, then each event of `events` as SSE text and a heartbeat comment every
    /// `heartbeat`, until `events` ends or `write` throws (the client has gone).
    static func serveEvents(
        _ events: AsyncStream<NodeEvent>, heartbeat: Duration, write: (String) async throws -> Void
    ) async throws {
        try await write(": connected\n\n")
        let (chunks, sink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(10_001))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events { sink.yield(sse(event)) }
                sink.finish()
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: heartbeat)
                    sink.yield(": heartbeat\n\n")
                }
            }
            for await chunk in chunks { try await write(chunk) }
            group.cancelAll()
        }
    }

    static func sse(_ event: NodeEvent) -> String {
        let name: String
        let data: [UInt8]
        switch event {
        case .newBlock(let b):
            name = "new_block"
            data = encoded(
                ChainEvent.NewBlock(
                    height: b.height, hash: b.hash.hex, numTxs: b.numTxs, appHash: b.appHash.hex, timeMs: b.timeMs))
        case .tx(let t):
            name = "tx"
            data = encoded(committedAnswer(t.hash, t.height, t.index, t.code, t.log))
        case .ledger(let l):
            // A ledger event's fields depend on its type: height and type, then its attributes.
            name = "ledger"
            var fields: [(String, JSONValue)] = [("height", JSONValue(l.height)), ("type", .string(l.type))]
            for (k, v) in l.attributes.sorted(by: { $0.key < $1.key }) where k != "height" && k != "type" {
                fields.append((k, .string(v)))
            }
            data = JSONValue.object(fields).bytes()
        }
        return "event: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
    }

    static func metrics(_ deps: RPCDependencies) -> Response {
        let text = deps.status.metrics.exposition(deps.status.snapshot, peers: deps.host.connectedPeers().count)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func isolate(_ request: Request, _ deps: RPCDependencies) async throws -> Response {
        guard deps.testHooks else { return error(404, "not_found", "test hooks are disabled ([debug] test_hooks)") }
        var request = request
        let body = try await request.collectBody(upTo: 4096)
        guard let decoded = try? JSONDecoder().decode(IsolateState.self, from: Data(body.readableBytesView)) else {
            return error(400, "malformed_body", "expected {\"isolated\": true|false}")
        }
        deps.host.setIsolated(decoded.isolated)
        return json(IsolateState(isolated: decoded.isolated))
    }
}

/// Turns Hummingbird's own errors (no route, body too large, …) and unexpected failures into the
/// contract's JSON error body.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError {
            let code: String =
                switch e.status.code {
                case 404: "not_found"
                case 405: "method_not_allowed"
                case 413: "body_too_large"
                default: "http_\(e.status.code)"
                }
            let message = e.body ?? (e.status.code == 404 ? "no route \(request.uri.path)" : e.status.reasonPhrase)
            return ChainRPC.error(e.status.code, code, message)
        } catch is NIOTooManyBytesError {
            return ChainRPC.error(413, "body_too_large", "the request body is too large")
        } catch {
            return ChainRPC.error(500, "internal", "\(error)")
        }
    }
}
