import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The HTTP side of a ``RemoteBackend``: JSON requests to the upstream engine and its
/// server-sent-event streams, every failure turned into an ``MLNodeError``: unreachable or an
/// error status → 502, no answer within the deadline → 504, a body that is not the JSON expected → 502
/// with an excerpt. Nothing the upstream sends can crash the node.
struct Upstream: Sendable {
    /// Scheme, host and port, without a trailing slash.
    let baseURL: String
    /// The most one request (a whole stream included) may take.
    let timeout: Duration

    /// Largest non-streamed answer read (a full-vocabulary logprob list of a large model fits).
    static let maxBodyBytes = 64 << 20

    /// One client for every remote backend of the process: no retry of a refused connection (a
    /// dead upstream is reported at once), many streams per host.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        // Close idle connections before an upstream does (llama-server drops idle keep-alives), so a
        // request rarely meets a connection closed under it.
        configuration.connectionPool.idleTimeout = .seconds(1)
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    init(baseURL: String, timeout: Duration) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.timeout = timeout
    }

    /// `GET path`: the status and the body (any status; the caller decides).
    func get(_ path: String, timeout: Duration? = nil) async throws(MLNodeError) -> (status: Int, body: [UInt8]) {
        try await send(HTTPClientRequest(url: baseURL + path), path: path, timeout: timeout ?? self.timeout)
    }

    /// `POST path` with `body` as JSON; an answer other than 200 is a 502 with its message.
    func post(_ path: String, json body: some Encodable) async throws(MLNodeError) -> [UInt8] {
        let answer = try await send(try request(path, json: body), path: path, timeout: timeout)
        guard answer.status == 200 else { throw Self.refusal(path: path, status: answer.status, body: answer.body) }
        return answer.body
    }

    /// `POST path` with `body` as JSON, the answer read as server-sent events: `onEvent` sees each
    /// `data:` payload (`[DONE]` ends the stream) and returns false to stop reading, which closes
    /// the connection (the upstream stops generating).
    func stream(
        _ path: String, json body: some Encodable, onEvent: ([UInt8]) async throws(MLNodeError) -> Bool
    ) async throws(MLNodeError) {
        let request = try request(path, json: body)
        // As in `send`: one retry when a pooled connection turns out closed, but only before the
        // first event (the upstream never saw the request, so nothing was generated twice).
        var delivered = false
        for attempt in 0..<2 {
            do {
                let response = try await Self.client.execute(request, timeout: TimeAmount(timeout))
                guard response.status == .ok else {
                    let body = try await response.body.collect(upTo: 1 << 20)
                    throw Self.refusal(path: path, status: Int(response.status.code), body: Array(buffer: body))
                }
                var lines = SSELines()
                for try await buffer in response.body {
                    for payload in lines.push(buffer.readableBytesView) {
                        if payload == Array("[DONE]".utf8) { return }
                        delivered = true
                        guard try await onEvent(payload) else { return }
                    }
                }
                return
            } catch {
                if attempt == 0, !delivered, Self.isStaleConnection(error) { continue }
                throw Self.failure(error, path: path)
            }
        }
    }

    private func request(_ path: String, json body: some Encodable) throws(MLNodeError) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        do {
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        } catch {
            throw .internalError("The upstream request could not be encoded: \(error)")
        }
        return request
    }

    private func send(
        _ request: HTTPClientRequest, path: String, timeout: Duration
    ) async throws(MLNodeError) -> (status: Int, body: [UInt8]) {
        // One retry when a pooled keep-alive connection turns out closed by the upstream (llama-server
        // drops idle ones): these requests change nothing upstream, so sending again is safe.
        for attempt in 0..<2 {
            do {
                let response = try await Self.client.execute(request, timeout: TimeAmount(timeout))
                let body = try await response.body.collect(upTo: Self.maxBodyBytes)
                return (Int(response.status.code), Array(buffer: body))
            } catch {
                if attempt == 0, Self.isStaleConnection(error) { continue }
                throw Self.failure(error, path: path)
            }
        }
        throw .internalError("unreachable")
    }

    /// The upstream closed a reused connection under the request.
    static func isStaleConnection(_ error: any Error) -> Bool {
        if let error = error as? ChannelError, error == .ioOnClosedChannel { return true }
        if let error = error as? HTTPClientError, error == .remoteConnectionClosed { return true }
        return false
    }

    /// The node's error for a failed exchange: ours passes through; a deadline → 504; anything
    /// else (refused, reset, too large) → 502.
    private static func failure(_ error: any Error, path: String) -> MLNodeError {
        if let error = error as? MLNodeError { return error }
        if let error = error as? HTTPClientError,
            error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            return .gatewayTimeout("The upstream engine did not answer \(path) in time (\(error)).")
        }
        if error is CancellationError { return .unavailable("The request was cancelled.") }
        return .badGateway("The upstream engine could not be reached for \(path): \(error).")
    }

    /// A non-200 answer: 502 with the upstream's own message (shortened).
    static func refusal(path: String, status: Int, body: [UInt8]) -> MLNodeError {
        .badGateway("The upstream engine answered \(path) with HTTP \(status): \(excerpt(body))")
    }

    /// The start of a body as printable text, for error messages.
    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.isEmpty ? "(empty body)" : text
    }

    /// `body` decoded as `T`, or a 502 naming what was wrong.
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8], what: String) throws(MLNodeError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw .badGateway("The upstream engine's \(what) is not the JSON expected (\(error)): \(excerpt(body))")
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Server-sent events cut into `data:` payloads as bytes arrive (lines may span buffers).
struct SSELines {
    private var pending: [UInt8] = []

    /// The payloads of the complete `data:` lines in `bytes` (other fields and blank lines ignored).
    mutating func push(_ bytes: some Sequence<UInt8>) -> [[UInt8]] {
        pending.append(contentsOf: bytes)
        var payloads: [[UInt8]] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            let prefix = Array("data:".utf8)
            guard line.starts(with: prefix) else { continue }
            var payload = line.dropFirst(prefix.count)
            if payload.first == UInt8(ascii: " ") { payload = payload.dropFirst() }
            payloads.append(Array(payload))
        }
        return payloads
    }
}
