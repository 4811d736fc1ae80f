import AsyncHTTPClient
import Foundation
import GonkaCore
import HTTPTypes
import Hummingbird
import Logging
import MLNode
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import ServerLifecycle
import ServiceLifecycle
import Synchronization
import Telemetry

/// `gonka proxy` (PROTOCOL §6.1, DESIGN §1): a local keyless OpenAI-compatible endpoint. It signs
/// each request with the developer's key for the API node it forwards to (a random healthy one
/// from the list) and relays the answer, streamed or not.
public final class SigningProxy: Sendable {
    struct NodeInfo: Sendable {
        var address: Address
        var chainID: String
    }

    let key: SigningKey
    let nodes: [String]
    let logger: Logger
    private let info = Mutex<[String: NodeInfo]>([:])
    private let downUntil = Mutex<[String: ContinuousClock.Instant]>([:])
    let maxBodyBytes: Int
    /// `GET /metrics`: `gonka_proxy_requests_total{route,status}`, `gonka_proxy_upstream_failures_total`
    /// (an API node that did not answer, skipped), `gonka_proxy_refusals_total{code}` (an API node
    /// that refused before starting anything, skipped: ``refusedBeforeStart(_:)``) and `gonka_proxy_upstream_latency_seconds` (request
    /// sent to the API node's response head).
    public let metrics = MetricsRegistry()

    /// No bytes from the API node for this long (before its head, or between two pieces of a
    /// stream) and the request ends with a 502: a node that died or was cut off by a partition
    /// without a reset. Streams carry the executors' 5-second keepalives; a non-streamed answer
    /// sends nothing before it is whole, so this also bounds its generation time.
    public let upstreamIdleTimeout: Duration

    public init(
        key: SigningKey, nodes: [String], maxBodyBytes: Int = 1 << 20, upstreamIdleTimeout: Duration = .seconds(300),
        logger: Logger
    ) {
        self.key = key
        self.upstreamIdleTimeout = upstreamIdleTimeout
        self.nodes = nodes.map { url in
            var url = url
            while url.hasSuffix("/") { url.removeLast() }
            return url
        }
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: NotFoundMiddleware())
        router.get("/health") { _, _ in
            APINode.json(["status": "ok", "address": .string(self.key.publicKey.address.description)])
        }
        router.get("/v1/models") { _, _ in await self.passGET("/v1/models") }
        for path in ["/v1/chat/completions", "/v1/completions"] {
            router.post(RouterPath(path)) { request, _ in
                let response = await self.forward(request, path: path)
                self.metrics.increment(
                    "gonka_proxy_requests_total", [("route", path), ("status", String(response.status.code))])
                return response
            }
        }
        router.post("/v1/messages") { request, _ in
            let response = await self.anthropicMessages(request)
            self.metrics.increment(
                "gonka_proxy_requests_total", [("route", "/v1/messages"), ("status", String(response.status.code))])
            return response
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: self.metrics.exposition)))
        }
        return router
    }

    /// The nodes in a random order, the ones that recently failed last.
    func candidates() -> [String] {
        let now = ContinuousClock.now
        let down = downUntil.withLock { $0 }
        let shuffled = nodes.shuffled()
        return shuffled.filter { (down[$0] ?? now) <= now } + shuffled.filter { (down[$0] ?? now) > now }
    }

    func markDown(_ node: String) { downUntil.withLock { $0[node] = .now + .seconds(10) } }

    func nodeInfo(_ node: String) async throws -> NodeInfo {
        if let known = info.withLock({ $0[node] }) { return known }
        let response = try await APINode.sharedHTTPClient.execute(
            HTTPClientRequest(url: node + "/v1/node"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
            let object = try? JSONValue(parsing: body.readableBytesView), let text = object["address"]?.stringValue,
            let address = try? Address(text), let chainID = object["chain_id"]?.stringValue
        else { throw APIError.upstream("\(node) is not a gonka API node.") }
        let found = NodeInfo(address: address, chainID: chainID)
        info.withLock { $0[node] = found }
        return found
    }

    func passGET(_ path: String) async -> Response {
        for node in candidates() {
            do {
                let response = try await APINode.sharedHTTPClient.execute(
                    HTTPClientRequest(url: node + path), timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 16 << 20)
                return Response(
                    status: .init(code: Int(response.status.code)), headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: body))
            } catch {
                markDown(node)
            }
        }
        return APINode.error(.upstream("No API node answered."))
    }

    func forward(_ request: Request, path: String) async -> Response {
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: maxBodyBytes).readableBytesView)
        } catch {
            return APINode.error(.bodyTooLarge(limit: maxBodyBytes))
        }
        return await forward(body: body, path: path, traceHeaders: Self.traceHeaders(request.headers))
    }

    /// The W3C trace context a client sent (`traceparent`, `tracestate`): passed on to the API
    /// node, so a developer's trace continues through the TA and the executor.
    static func traceHeaders(_ headers: HTTPFields) -> [(String, String)] {
        ["traceparent", "tracestate"].compactMap { name in
            HTTPField.Name(name).flatMap { headers[$0] }.map { (name, $0) }
        }
    }

    /// `POST /v1/messages` (Anthropic's Messages API): translated to a chat request
    /// (``Anthropic/chatRequest(_:)``), signed and forwarded as one, the answer translated back.
    func anthropicMessages(_ request: Request) async -> Response {
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: maxBodyBytes).readableBytesView)
        } catch {
            return Anthropic.error("The request body exceeds \(maxBodyBytes) bytes.", status: 413)
        }
        let chat: [UInt8]
        do {
            chat = try Anthropic.chatRequest(body)
        } catch {
            return Anthropic.error(error.message, status: 400)
        }
        return await Anthropic.response(
            await forward(body: chat, path: "/v1/chat/completions", traceHeaders: Self.traceHeaders(request.headers)))
    }

    func forward(body: [UInt8], path: String, traceHeaders: [(String, String)] = []) async -> Response {
        var lastError = APIError.upstream("No API node is configured.")
        for node in candidates() {
            let target: NodeInfo
            do {
                target = try await nodeInfo(node)
            } catch {
                markDown(node)
                lastError = .upstream("\(node) did not answer: \(error)")
                continue
            }
            var forwarded = HTTPClientRequest(url: node + path)
            forwarded.method = .POST
            forwarded.headers.add(name: "Content-Type", value: "application/json")
            let timestamp = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
            let signed = SignedRequest.headers(
                body: body, key: key, transferAgent: target.address, chainID: target.chainID, timestamp: timestamp)
            for (name, value) in signed { forwarded.headers.add(name: name, value: value) }
            for (name, value) in traceHeaders { forwarded.headers.add(name: name, value: value) }
            forwarded.body = .bytes(ByteBuffer(bytes: body))
            let response: HTTPClientResponse
            let sent = ContinuousClock.now
            do {
                response = try await APINode.forwardingClient(idle: upstreamIdleTimeout).execute(
                    forwarded, timeout: .hours(1))
            } catch {
                markDown(node)
                metrics.increment("gonka_proxy_upstream_failures_total")
                if Self.neverReached(error) {
                    lastError = .upstream("\(node) did not answer: \(error)")
                    continue
                }
                // The node may have received the request before it failed: its inference can still
                // be executed and charged. Signing it again for another node would be a second
                // inference, run and paid for twice; the client gets the id to look it up instead.
                let id = Self.inferenceID(signed)
                logger.warning(
                    "API node failed after the request was sent; not retried",
                    metadata: ["node": "\(node)", "inference.id": "\(id ?? "-")", "error": "\(error)"])
                var failed = APINode.error(
                    .upstream(
                        "\(node) failed after the request was sent (\(error)). The inference \(id ?? "?") may still "
                            + "complete and be charged; it was not sent again. Look it up at /v1/inferences/{id}."))
                if let id { failed.headers[HTTPField.Name(GonkaHeader.inferenceID)!] = id }
                return failed
            }
            metrics.observe("gonka_proxy_upstream_latency_seconds", [], .now - sent)
            if response.status == .unauthorized || response.status == .serviceUnavailable {
                // A Transfer Agent that cannot take the request refuses it before starting
                // anything (``refusedBeforeStart(_:)``): no inference exists, so another node may
                // take it (found by the soak, docs/SOAK.md).
                let body = (try? await response.body.collect(upTo: 1 << 16)) ?? ByteBuffer()
                if let reason = Self.refusedBeforeStart(body) {
                    markDown(node)
                    metrics.increment("gonka_proxy_refusals_total", [("code", reason)])
                    lastError = .upstream("\(node) refused the request before starting it (\(reason))")
                    continue
                }
                return Response(
                    status: .init(code: Int(response.status.code)),
                    headers: [.contentType: response.headers.first(name: "Content-Type") ?? "application/json"],
                    body: .init(byteBuffer: body))
            }
            var headers: HTTPFields = [
                .contentType: response.headers.first(name: "Content-Type") ?? "application/json",
                .cacheControl: "no-cache",
            ]
            for name in [GonkaHeader.inferenceID, GonkaHeader.executor, GonkaHeader.attempt, "Server-Timing"] {
                if let value = response.headers.first(name: name) { headers[HTTPField.Name(name)!] = value }
            }
            let upstream = response.body
            return Response(
                status: .init(code: Int(response.status.code)), headers: headers,
                body: ResponseBody { writer in
                    do {
                        for try await buffer in upstream { try await writer.write(buffer) }
                    } catch {
                        var out = ByteBuffer(string: "data: ")
                        out.writeBytes(APIError.upstream("The API node stopped mid-answer.").body)
                        out.writeString("\n\n")
                        try await writer.write(out)
                    }
                    try await writer.finish(nil)
                })
        }
        return APINode.error(lastError)
    }

    /// The error code of an answer that is one of ``APIError/refusedBeforeStartCodes``; nil for
    /// any other answer.
    static func refusedBeforeStart(_ body: ByteBuffer) -> String? {
        guard let object = try? JSONValue(parsing: body.readableBytesView),
            let code = object["error"]?["code"]?.stringValue
        else { return nil }
        return APIError.refusedBeforeStartCodes.contains(code) ? code : nil
    }

    /// Whether a failed forward provably never reached the node (no connection was made), so
    /// that sending the request to another node cannot make a second inference of it.
    static func neverReached(_ error: any Error) -> Bool {
        // No connection came from the pool in time: the request was never written.
        if let error = error as? HTTPClientError, error == .connectTimeout || error == .getConnectionFromPoolTimeout {
            return true
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return true }
        if error is NIOConnectionError { return true }
        if let error = error as? IOError {
            return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode)
        }
        return false
    }

    /// The inference id of a request signed with these headers: hex(SHA-256(developer signature)).
    static func inferenceID(_ headers: [(String, String)]) -> String? {
        guard let authorization = headers.first(where: { $0.0 == "Authorization" })?.1,
            authorization.hasPrefix("Gonka "), let signature = Data(base64Encoded: String(authorization.dropFirst(6)))
        else { return nil }
        return InferenceRequestSigning.inferenceID(developerSignature: Array(signature))
    }

    /// The proxy's listener as a lifecycle service; `onRunning` gets the bound port. Cancelled, it
    /// stops gracefully first (``GracefulService``).
    public func application(
        host: String = "127.0.0.1", port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        Application(
            router: router(), configuration: .init(address: .hostname(host, port: port), serverName: "gonka-proxy"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger
        ).stoppingGracefully(logger: logger)
    }
}
