import AsyncHTTPClient
// The RPC's types are this client's vocabulary: whoever imports the client gets them.
@_exported import ChainRPCTypes
import Foundation
import GonkaCore
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A client of one chain node's RPC (docs/RPC.md): status, blocks, txs, state queries with
/// proofs, broadcasting and the event stream. Every call has a deadline; every failure is a
/// `ChainClientError`.
public struct ChainClient: Sendable {
    /// How tx bytes are submitted: `sync` returns after the node's checkTx, `commit` after the
    /// block holding the tx is committed (or the node's 30 s wait runs out).
    public enum BroadcastMode: String, Sendable, CaseIterable {
        case sync
        case commit
    }

    /// `http://host:port`, without a trailing slash.
    public let baseURL: String
    public let timeout: Duration
    let http: HTTPClient

    /// A client of the node at `baseURL` (`http://HOST:PORT`), by default over `sharedHTTPClient`
    /// (process-wide, needs no shutdown).
    public init(
        baseURL: String, timeout: Duration = .seconds(10), httpClient: HTTPClient = ChainClient.sharedHTTPClient
    ) throws(ChainClientError) {
        var url = baseURL.trimmingCharacters(in: .whitespaces)
        while url.hasSuffix("/") { url.removeLast() }
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https",
            let host = parsed.host, !host.isEmpty, parsed.path.isEmpty, parsed.query == nil
        else { throw .invalidURL(baseURL) }
        self.baseURL = url
        self.timeout = timeout
        self.http = httpClient
    }

    /// The HTTP client of every `ChainClient` not given another. Unlike `HTTPClient.shared` it does
    /// not retry a refused connection until the deadline: a node that is down is reported at once,
    /// and callers that wait for a node poll.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(3)
        // Load generators (`gonka bench chain`) keep many requests in flight to each node.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    // MARK: Reads

    public func status() async throws(ChainClientError) -> NodeStatus {
        try await get("/status", as: NodeStatus.self)
    }

    /// `GET /genesis`: the genesis JSON the node started from, as bytes (decode it with
    /// `Ledger.Genesis.decode(json:)`).
    public func genesis() async throws(ChainClientError) -> Data {
        let (status, body) = try await rawGET("/genesis")
        guard status == 200 else { throw Self.serverError(status: status, body: body) }
        return body
    }

    /// `GET /snapshots`: the state snapshots the node offers for state sync, newest first.
    public func snapshots() async throws(ChainClientError) -> [SnapshotInfo] {
        try await get("/snapshots", as: SnapshotList.self).snapshots
    }

    /// The block a state-syncing node can trust for this node's newest snapshot (PROTOCOL §3.1):
    /// `(height + 1, hash)` of the newest snapshot whose next block this node stores; `nil` when
    /// it offers none. Only as trustworthy as this node.
    public func snapshotTrust() async throws(ChainClientError) -> (height: UInt64, hash: String)? {
        for snapshot in try await snapshots() {
            if let block = try? await block(snapshot.height + 1) { return (block.height, block.hash) }
        }
        return nil
    }

    public func block(_ height: UInt64) async throws(ChainClientError) -> BlockInfo {
        try await get("/block/\(height)", as: BlockInfo.self)
    }

    public func tx(_ hash: String) async throws(ChainClientError) -> TxResult {
        let hex = hash.lowercased()
        guard hex.count == 64, Hex.decode(hex) != nil else {
            throw .invalidArgument("tx hash \"\(hash)\" must be 64 hex digits")
        }
        return try await get("/tx/\(hex)", as: TxResult.self)
    }

    /// The record at state path `path` (e.g. `balance/gonka1…`) at `height` (default: latest).
    public func query(_ path: String, height: UInt64? = nil) async throws(ChainClientError) -> QueryResult {
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        guard !trimmed.isEmpty,
            trimmed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/_-.".contains($0)) })
        else { throw .invalidArgument("query path \"\(path)\" must be letters, digits and / _ - .") }
        let suffix = height.map { "?height=\($0)" } ?? ""
        return try await get("/query/\(trimmed)\(suffix)", as: QueryResult.self)
    }

    /// The balance of `address` (zero when the state holds no record).
    public func balance(_ address: Address, height: UInt64? = nil) async throws(ChainClientError) -> Amount {
        let result = try await query("balance/\(address)", height: height)
        return try decode(result, BalanceRecord.self, path: "balance")?.amount ?? .zero
    }

    /// The account of `address`; an account never seen has sequence 0 and no key.
    public func account(_ address: Address, height: UInt64? = nil) async throws(ChainClientError) -> AccountRecord {
        let result = try await query("account/\(address)", height: height)
        return try decode(result, AccountRecord.self, path: "account")
            ?? AccountRecord(address: address, sequence: 0, pubKey: nil)
    }

    /// The minted, burned and circulating supply.
    public func supply(height: UInt64? = nil) async throws(ChainClientError) -> SupplyRecord {
        let result = try await query("supply", height: height)
        guard let supply = try decode(result, SupplyRecord.self, path: "supply") else {
            throw .invalidResponse(url: baseURL + "/query/supply", reason: "no supply in the answer")
        }
        return supply
    }

    /// The chain parameters in force (fees are `min_gas_price` × tx bytes).
    public func params() async throws(ChainClientError) -> ChainParams {
        let result = try await query("params")
        guard let params = try decode(result, ChainParams.self, path: "params") else {
            throw .invalidResponse(url: baseURL + "/query/params", reason: "no params in the answer")
        }
        return params
    }

    // MARK: Writes

    /// Submits signed tx bytes. A tx the node rejects is a `ChainClientError` with HTTP 400 and the
    /// ledger's short code; in commit mode a tx that was included but failed returns `code != 0`.
    public func broadcast(
        _ txBytes: [UInt8], mode: BroadcastMode = .sync
    ) async throws(ChainClientError)
        -> BroadcastResult
    {
        var request = HTTPClientRequest(url: baseURL + "/tx?mode=\(mode.rawValue)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(bytes: txBytes))
        // Commit mode waits up to 30 s on the node; leave it room to answer with its own 504.
        let deadline = mode == .commit ? max(timeout, .seconds(35)) : timeout
        return try await send(request, path: "/tx", deadline: deadline, as: BroadcastResult.self)
    }

    /// Submits several signed txs in one request (`POST /txs`, sync mode): the node checks them in
    /// order and answers one result per tx; a refused tx does not stop the ones after it (a later
    /// tx of the same account then fails with `bad_sequence`).
    public func broadcast(batch: [[UInt8]]) async throws(ChainClientError) -> [BatchBroadcastResult] {
        var request = HTTPClientRequest(url: baseURL + "/txs")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let submission = TxBatchSubmission(txs: batch.map { Data($0).base64EncodedString() })
        let body = (try? JSONEncoder().encode(submission)) ?? Data()
        request.body = .bytes(ByteBuffer(bytes: body))
        let answer = try await send(request, path: "/txs", deadline: timeout, as: BatchBroadcastAnswer.self)
        guard answer.results.count == batch.count else {
            throw .invalidResponse(
                url: baseURL + "/txs", reason: "\(answer.results.count) results for \(batch.count) txs")
        }
        return answer.results
    }

    /// Test hook (`[debug] test_hooks = true` only): cut the node's P2P traffic both ways, or heal it.
    /// Returns the node's new state.
    @discardableResult
    public func setIsolated(_ isolated: Bool) async throws(ChainClientError) -> Bool {
        var request = HTTPClientRequest(url: baseURL + "/debug/isolate")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(
            ByteBuffer(bytes: (try? JSONEncoder().encode(IsolateState(isolated: isolated))) ?? Data()))
        return try await send(request, path: "/debug/isolate", deadline: timeout, as: IsolateState.self).isolated
    }

    /// `GET path` as is (`/block/abc`): the HTTP status and body, whatever they are. For tools and
    /// tests that look at the node's answer to requests the typed calls would never send.
    public func rawGET(_ path: String) async throws(ChainClientError) -> (status: Int, body: Data) {
        try await perform(HTTPClientRequest(url: baseURL + path), path: path, deadline: timeout)
    }

    // MARK: Plumbing

    func get<T: Decodable>(_ path: String, as type: T.Type) async throws(ChainClientError) -> T {
        try await send(HTTPClientRequest(url: baseURL + path), path: path, deadline: timeout, as: type)
    }

    private func send<T: Decodable>(
        _ request: HTTPClientRequest, path: String, deadline: Duration, as type: T.Type
    ) async throws(ChainClientError) -> T {
        let (status, body) = try await perform(request, path: path, deadline: deadline)
        guard (200..<300).contains(status) else { throw Self.serverError(status: status, body: body) }
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw .invalidResponse(url: baseURL + path, reason: "\(error)")
        }
    }

    /// Runs a request and collects its body (at most 64 MiB: a block with many txs is large).
    func perform(
        _ request: HTTPClientRequest, path: String, deadline: Duration
    ) async throws(ChainClientError)
        -> (Int, Data)
    {
        do {
            let response = try await http.execute(request, timeout: TimeAmount(deadline))
            let buffer = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), Data(buffer: buffer))
        } catch {
            throw classify(error, url: baseURL + path)
        }
    }

    func classify(_ error: any Error, url: String) -> ChainClientError {
        if let error = error as? ChainClientError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout: return .timeout(url: url)
            case .connectTimeout: return .connectionRefused(url: url, reason: "connect timed out")
            default: break
            }
        }
        let text = String(describing: error)
        if text.contains("refused") || text.contains("errno: 111") || text.contains("ECONNREFUSED") {
            return .connectionRefused(url: url, reason: "connection refused")
        }
        if text.contains("ConnectTimeout") || text.contains("connectTimeout") {
            return .connectionRefused(url: url, reason: "connect timed out")
        }
        return .connectionRefused(url: url, reason: text)
    }

    /// The error a node's non-2xx answer becomes: the contract's `{"error":{"code","message"}}`,
    /// or for any other body (a proxy's page, say) its first 300 bytes under code `http_STATUS`.
    public static func serverError(status: Int, body: Data) -> ChainClientError {
        if let envelope = try? JSONDecoder().decode(RPCErrorBody.self, from: body) {
            return .http(status: status, code: envelope.error.code, message: envelope.error.message)
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return .http(status: status, code: "http_\(status)", message: text.isEmpty ? "(empty body)" : text)
    }

    private func decode<T: Decodable>(
        _ result: QueryResult, _ type: T.Type, path: String
    ) throws(ChainClientError)
        -> T?
    {
        do {
            return try result.decodeValue(type)
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
