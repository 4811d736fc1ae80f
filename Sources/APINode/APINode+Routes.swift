import AsyncHTTPClient
import Explorer
import Foundation
import GonkaClient
import GonkaCore
import HTTPTypes
import Hummingbird
import Logging
import MLNode
import NIOCore
import NIOFoundationCompat
import ServerLifecycle
import ServiceLifecycle
import Telemetry

extension APINode {
    /// The public routes (PROTOCOL §11, API node public).
    public func publicRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestCountMiddleware(metrics: metrics))
        router.add(middleware: NotFoundMiddleware())
        for kind in [RequestKind.chat, .completion] {
            router.post(RouterPath("/v1/\(kind.rawValue)")) { request, _ in
                await self.transferAgent(request, kind: kind)
            }
            router.post(RouterPath("/v1/executor/\(kind.rawValue)")) { request, _ in
                await self.executor(request, kind: kind)
            }
        }
        router.post("/v1/messages") { request, _ in await self.anthropicMessages(request) }
        router.get("/health") { _, _ in Self.json(["status": "ok"]) }
        router.get("/v1/node") { _, _ in
            Self.json([
                "address": .string(self.address.description), "chain_id": .string(self.configuration.chainID),
                "models": .array(self.registry.models.map { .string($0) }),
            ])
        }
        router.get("/v1/models") { _, _ in await self.modelsResponse() }
        router.get("/v1/pricing") { _, _ in await self.pricingResponse() }
        router.get("/v1/participants") { _, _ in
            do {
                let list = try await self.chain.participants()
                return Self.json([
                    "data": .array(list.map { ["address": .string($0.address), "url": .string($0.url)] })
                ])
            } catch let error as APIError {
                return Self.error(error)
            } catch {
                return Self.error(.internalError("\(error)"))
            }
        }
        router.get("/v1/epochs/current") { _, _ in await self.epochResponse() }
        router.get("/v1/inferences/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard PayloadStore.isID(id) else {
                return Self.error(.invalidRequest("An inference id is 64 lowercase hex digits.", param: "id"))
            }
            do {
                let record = try await self.chain.servedOrNil("/query/inference") {
                    () async throws(ChainClientError) in try await self.chain.client.inference(id)
                }
                guard let record = record ?? nil else { return Self.error(.notFound("The inference \(id)")) }
                return Self.wire(record)
            } catch let error as APIError {
                return Self.error(error)
            } catch {
                return Self.error(.internalError("\(error)"))
            }
        }
        router.get("/v1/inferences/:id/payload") { request, context in
            await self.payloadResponse(context.parameters.get("id") ?? "") { name in
                HTTPField.Name(name).flatMap { request.headers[$0] }
            }
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: self.metricsExposition())))
        }
        explorer.addRoutes(to: router)
        return router
    }

    /// The admin routes: bind them to loopback only (`[api] admin_listen`).
    public func adminRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: NotFoundMiddleware())
        router.get("/admin/mlnodes") { _, _ in Self.encodable(self.registry.list()) }
        router.post("/admin/mlnodes") { request, _ in
            let body = (try? await request.body.collect(upTo: 64 << 10)).map { Array($0.readableBytesView) } ?? []
            guard let object = try? JSONValue(parsing: body), let url = object["url"]?.stringValue,
                url.hasPrefix("http://") || url.hasPrefix("https://"), let model = object["model"]?.stringValue,
                !model.isEmpty
            else { return Self.error(.invalidRequest("Expected {\"url\": \"http://…\", \"model\": \"ID\"}.")) }
            return Self.encodable(self.registry.add(url: url, model: model))
        }
        for (verb, enabled) in [("enable", true), ("disable", false)] {
            router.post(RouterPath("/admin/mlnodes/:id/\(verb)")) { _, context in
                let id = context.parameters.get("id") ?? ""
                guard self.registry.setEnabled(id, enabled) else { return Self.error(.notFound("ML node \(id)")) }
                return Self.json(["id": .string(id), "enabled": .bool(enabled)])
            }
        }
        router.delete("/admin/mlnodes/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard self.registry.remove(id) else { return Self.error(.notFound("ML node \(id)")) }
            return Self.json(["id": .string(id), "removed": true])
        }
        router.get("/admin/apikeys") { _, _ in
            guard let keys = self.apiKeys, let list = try? keys.list() else {
                return Self.encodable([APIKeyStore.Entry]())
            }
            return Self.encodable(list)
        }
        router.post("/admin/apikeys") { request, _ in
            let body = (try? await request.body.collect(upTo: 64 << 10)).map { Array($0.readableBytesView) } ?? []
            guard let keys = self.apiKeys, let loader = self.configuration.keyLoader else {
                return Self.error(.forbidden("Gateway mode is off on this node."))
            }
            guard let object = try? JSONValue(parsing: body), let account = object["account"]?.stringValue else {
                return Self.error(.invalidRequest("Expected {\"account\": \"KEY NAME\", \"limit\": ngonka}."))
            }
            let limit = ChainView.uint(object["limit"]) ?? 0
            do {
                let key = try loader(account)
                let (entry, secret) = try keys.create(account: account, address: key.publicKey.address, limit: limit)
                return Self.json([
                    "id": .string(entry.id), "key": .string(secret), "address": .string(entry.address),
                    "limit": JSONValue(limit),
                ])
            } catch {
                return Self.error(.invalidRequest("Cannot create the key: \(error)"))
            }
        }
        router.delete("/admin/apikeys/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let keys = self.apiKeys, (try? keys.revoke(id: id)) == true else {
                return Self.error(.notFound("API key \(id)"))
            }
            return Self.json(["id": .string(id), "revoked": true])
        }
        return router
    }

    // MARK: handlers

    func readBody(_ request: Request) async throws(APIError) -> [UInt8] {
        do {
            return Array(try await request.body.collect(upTo: configuration.maxBodyBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw .bodyTooLarge(limit: configuration.maxBodyBytes)
        } catch {
            throw .invalidRequest("The request body could not be read.")
        }
    }

    /// `POST /v1/messages` (Anthropic's Messages API): the body translated to a chat request
    /// (``Anthropic/chatRequest(_:)``), which the TA serves as any chat request, and the answer
    /// translated back. The developer signs what the TA receives, so this route is for gateway mode:
    /// `Authorization: Bearer` or Anthropic's `x-api-key` header with an API key.
    func anthropicMessages(_ request: Request) async -> Response {
        let body: [UInt8]
        do {
            body = try await readBody(request)
        } catch {
            return Anthropic.error(error.message, status: error.status)
        }
        let chat: [UInt8]
        do {
            chat = try Anthropic.chatRequest(body)
        } catch {
            return Anthropic.error(error.message, status: 400)
        }
        var head = request.head
        if head.headerFields[.authorization] == nil, let key = head.headerFields[HTTPField.Name("x-api-key")!] {
            head.headerFields[.authorization] = "Bearer " + key
        }
        head.path = "/v1/chat/completions"
        let answer = await transferAgent(
            Request(head: head, body: RequestBody(buffer: ByteBuffer(bytes: chat))), kind: .chat)
        return await Anthropic.response(answer)
    }

    func transferAgent(_ request: Request, kind: RequestKind) async -> Response {
        metrics.increment("gonka_api_requests_total")
        var trace = startTrace(.taReceived, operation: "POST " + request.uri.path, headers: request.headers)
        var admittedID: String?
        do {
            let body = try await readBody(request)
            trace.mark(.taReceived, replacing: true)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            var apiKey: APIKeyStore.Entry?
            if let auth = headers["authorization"], auth.hasPrefix("Bearer ") {
                guard let keys = apiKeys, let loader = configuration.keyLoader,
                    let entry = keys.lookup(secret: String(auth.dropFirst(7)))
                else { throw APIError.unauthorized("Unknown API key (or gateway mode is off on this node).") }
                let key = try loader(entry.account)
                for (name, value) in SignedRequest.headers(
                    body: body, key: key, transferAgent: address, chainID: configuration.chainID,
                    timestamp: unixNanoseconds())
                {
                    headers[name.lowercased()] = value
                }
                apiKey = entry
            }
            let admitted = try await admit(kind: kind, body: body, trace: &trace) { headers[$0.lowercased()] }
            if apiKey != nil, let keys = apiKeys, let auth = request.headers[.authorization] {
                _ = try keys.charge(secret: String(auth.dropFirst(7)), escrow: admitted.escrow)
            }
            admittedID = admitted.inferenceID
            let relay = try await forward(admitted, trace: &trace)
            if !admitted.summary.stream, relay.status == 200 {
                return await completeAnswer(relay, admitted: admitted, trace: trace)
            }
            let headTrace = trace
            return Response(
                status: .init(code: relay.status),
                headers: Self.relayHeaders(relay, admitted: admitted, trace: trace, contentType: relay.contentType),
                body: ResponseBody { writer in
                    var trace = headTrace
                    var scan = FirstTokenScan()
                    var outcome =
                        relay.status == 200 ? RequestOutcome.completed : RequestOutcome(relayedStatus: relay.status)
                    defer {
                        trace.mark(.taEnd)
                        self.ended(trace, inferenceID: admitted.inferenceID, outcome: outcome)
                    }
                    do {
                        for try await buffer in relay.body {
                            do {
                                try await writer.write(buffer)
                            } catch {
                                outcome = .failed("client_gone")
                                throw error
                            }
                            trace.mark(.taFirstByte)
                            if scan.push(buffer.readableBytesView) { trace.mark(.taFirstToken) }
                        }
                    } catch {
                        if outcome == .failed("client_gone") { throw error }
                        // The executor went away mid-answer: tell the client now rather than hang.
                        outcome = .failed("mid_answer")
                        let failure = APIError.upstream("The executor stopped mid-answer.")
                        var out = ByteBuffer(string: "data: ")
                        out.writeBytes(failure.body)
                        out.writeString("\n\ndata: [DONE]\n\n")
                        try await writer.write(out)
                    }
                    try await writer.finish(nil)
                })
        } catch let error as APIError {
            metrics.increment("gonka_api_refused_total", [("code", error.shortDescription)])
            ended(trace, inferenceID: admittedID, outcome: RequestOutcome(error))
            return Self.error(error)
        } catch {
            let failure = APIError.internalError("\(error)")
            ended(trace, inferenceID: admittedID, outcome: RequestOutcome(failure))
            return Self.error(failure)
        }
    }

    /// The head of a relayed answer: the inference id, executor and attempt, the path's timings.
    static func relayHeaders(
        _ relay: Relay, admitted: Admitted, trace: PathTrace, contentType: String
    ) -> HTTPFields {
        [
            .contentType: contentType, .cacheControl: "no-cache",
            HTTPField.Name(GonkaHeader.inferenceID)!: admitted.inferenceID,
            HTTPField.Name(GonkaHeader.executor)!: relay.executor.description,
            HTTPField.Name(GonkaHeader.attempt)!: "\(relay.attempt)",
            PathTrace.serverTimingHeader: trace.serverTiming(after: relay.serverTiming),
        ]
    }

    /// A non-streamed answer is read whole before the client gets a head: the executor sent its
    /// 200 before generating (so that the first-byte timeout does not cover generation), and an
    /// ML node failing mid-answer can then only end the body with an error object. The client gets
    /// that as a 502, never a 200 without `choices` (``RelayedAnswer``).
    func completeAnswer(_ relay: Relay, admitted: Admitted, trace headTrace: PathTrace) async -> Response {
        var trace = headTrace
        var outcome = RequestOutcome.completed
        defer {
            trace.mark(.taEnd)
            ended(trace, inferenceID: admitted.inferenceID, outcome: outcome)
        }
        let headers = Self.relayHeaders(relay, admitted: admitted, trace: trace, contentType: "application/json")
        let bytes: [UInt8]?
        do {
            bytes = AnswerHeartbeat.trimmed(
                Array(try await relay.body.collect(upTo: RelayedAnswer.maxBytes).readableBytesView))
        } catch {
            bytes = nil
        }
        trace.mark(.taFirstByte)
        trace.mark(.taFirstToken)
        switch RelayedAnswer.check(bytes) {
        case .complete:
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes ?? [])))
        case .failed(let why):
            outcome = .failed("mid_answer")
            metrics.increment("gonka_api_failed_total")
            logger.warning(
                "executor failed mid-answer",
                metadata: [
                    "inference.id": "\(admitted.inferenceID)", "executor": "\(relay.executor)",
                    "attempt": "\(relay.attempt)", "reason": "\(why)",
                ])
            let error = APIError.upstream("The executor \(relay.executor) failed mid-answer: \(why)")
            return Response(
                status: .init(code: error.status), headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: error.body)))
        }
    }

    func executor(_ request: Request, kind: RequestKind) async -> Response {
        var trace = startTrace(.execReceived, operation: "POST " + request.uri.path, headers: request.headers)
        var inferenceID: String?
        do {
            let body = try await readBody(request)
            trace.mark(.execReceived, replacing: true)
            let assignment = try await verifyAssignment(kind: kind, body: body) { request.headers[HTTPField.Name($0)!] }
            inferenceID = assignment.signed.inferenceID
            trace.mark(.execVerified)
            return try await execute(assignment, trace: trace)
        } catch {
            metrics.increment("gonka_api_executor_refused_total", [("code", error.shortDescription)])
            ended(trace, inferenceID: inferenceID, outcome: RequestOutcome(error))
            return Self.error(error)
        }
    }

    func modelsResponse() async -> Response {
        let now = Int(Date().timeIntervalSince1970)
        var ids = registry.models
        if let registered = try? await chain.models() { ids = registered.map(\.id) }
        return Self.json([
            "object": "list",
            "data": .array(
                ids.map { ["id": .string($0), "object": "model", "created": JSONValue(now), "owned_by": "gonka"] }),
        ])
    }

    func pricingResponse() async -> Response {
        do {
            let models = try await chain.models()
            let list: [JSONValue] =
                models?.map { ["model": .string($0.id), "price_per_token_ngonka": JSONValue($0.price)] }
                ?? registry.models.map {
                    ["model": .string($0), "price_per_token_ngonka": JSONValue(configuration.fallbackPrice)]
                }
            return Self.json(["data": .array(list)])
        } catch {
            return Self.error(error)
        }
    }

    /// The chain's `GET /query/epoch` answer (its own field names: epoch, stage, heights, seed,
    /// validators). It asked for `/query/epochs/current` before, a route the node never had, so it
    /// always fell back to the bare height.
    func epochResponse() async -> Response {
        do {
            return Self.wire(try await chain.client.epoch())
        } catch {
            return Self.error(.chainUnavailable("\(error)"))
        }
    }

    /// A JSON answer, keys sorted.
    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.bytes(sortedKeys: true))))
    }

    /// A chain record as the chain RPC spells it (its own field names), keys sorted.
    static func wire(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    static func encodable(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}

/// Unmatched routes answer with an OpenAI-style 404 body.
struct NotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            return APINode.error(.notFound("\(request.method) \(request.uri.path)"))
        }
    }
}

/// The API node's long-running parts as lifecycle services: the public listener, the admin
/// listener, an embedded ML node (if any) and the payload pruner.
public final class APINodeServices: Sendable {
    public let node: APINode
    private let publicListener = ListenerState()
    private let adminListener = ListenerState()

    public init(node: APINode) { self.node = node }

    /// The public listener's port, once it listens (waits for it). Throws what the listener
    /// failed with (a port in use) if it stops first: waiting on would never end.
    public func publicPort() async throws -> Int { try await publicListener.port() }

    /// The admin listener's port, once it listens; throws like ``publicPort()``.
    public func adminPort() async throws -> Int { try await adminListener.port() }

    /// The services to add to the node's `ServiceGroup`. `embedded`: an in-process ML backend,
    /// served on a loopback port and registered as an ML node.
    public func services(embedded: (any MLBackend)? = nil) -> [any Service] {
        let node = self.node
        var apiLogger = node.logger
        apiLogger[metadataKey: "component"] = "api"
        let logger = apiLogger
        var out: [any Service] = []
        let configuration = node.configuration
        // First, so it stops last (a ServiceGroup stops in reverse order): the spans of answers
        // finished during shutdown are still sent.
        if let exporter = configuration.tracing.service { out.append(exporter) }
        let publicApp = Application(
            router: node.publicRouter(),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "gonka-api"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                self.publicListener.listening(port)
                logger.info("api listening on http://\(configuration.host):\(port)")
            }, logger: logger)
        let grace = configuration.shutdownGracePeriod
        out.append(publicListener.reporting(publicApp.stoppingGracefully(gracePeriod: grace, logger: logger)))
        if let host = configuration.adminHost, let port = configuration.adminPort {
            let adminApp = Application(
                router: node.adminRouter(),
                configuration: .init(address: .hostname(host, port: port), serverName: "gonka-admin"),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    self.adminListener.listening(port)
                    logger.info("admin api listening on http://\(host):\(port)")
                }, logger: logger)
            out.append(adminListener.reporting(adminApp.stoppingGracefully(gracePeriod: grace, logger: logger)))
        }
        if let embedded {
            let registry = node.registry
            registry.setLocalBackend(embedded)
            var mlLogger = logger
            mlLogger[metadataKey: "component"] = "mlnode"
            out.append(
                MLNodeServer.application(
                    backend: embedded, host: "127.0.0.1", port: 0, metrics: node.embeddedMLMetrics, gracePeriod: grace,
                    logger: mlLogger,
                    onServerRunning: { port in
                        registry.add(url: "http://127.0.0.1:\(port)", model: embedded.info.id, embedded: true)
                    }))
        }
        out.append(
            PayloadPruner(
                store: node.payloads, client: node.chain.client, interval: configuration.payloadPruneInterval,
                logger: logger))
        out.append(ChainFollower(chain: node.chain, logger: logger))
        out.append(TxQueueService(sender: node.txs))
        // After the tx queue: a ServiceGroup shuts down in reverse order, so the finish queue's last
        // Finish txs are queued before the tx queue is closed and drained.
        out.append(FinishQueueService(node: node))
        if let seeds = configuration.validationSeedsDirectory {
            var validationLogger = logger
            validationLogger[metadataKey: "component"] = "validation"
            out.append(
                ValidationWorker(
                    client: node.chain.client, chain: node.chain, txs: node.txs,
                    fetcher: PayloadFetcher(http: node.http, key: configuration.key, chainID: configuration.chainID),
                    seeds: ValidationSeeds(directory: seeds), metrics: node.metrics, logger: validationLogger,
                    queueBytes: configuration.validationQueueBytes,
                    validator: { params in InferenceValidator(params: params, scoring: NodeScoring(node: node)) }))
        }
        if let seeds = configuration.claimSeedsDirectory {
            var claimLogger = logger
            claimLogger[metadataKey: "component"] = "rewards"
            out.append(
                RewardClaimer(
                    client: node.chain.client, txs: node.txs, seeds: ValidationSeeds(directory: seeds),
                    logger: claimLogger))
        }
        if configuration.autoUnjail {
            var jailLogger = logger
            jailLogger[metadataKey: "component"] = "slashing"
            out.append(Unjailer(client: node.chain.client, txs: node.txs, logger: jailLogger))
        }
        return out
    }
}
