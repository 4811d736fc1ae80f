import Foundation
import GonkaClient
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore

/// The block explorer (issue 18): HTML pages about one chain, read from a chain node's RPC at
/// request time. Every API node serves it at `GET /` and `/explorer/…`; `gonka explorer --node URL`
/// serves it alone. The pages load only this origin's stylesheet and script, and the script's live
/// updates come from `/explorer/events`, this server's relay of the chain node's event stream.
///
/// Routes: `/` (overview), `/explorer/participants`, `/explorer/participant/{address}`,
/// `/explorer/inference/{id}`, `/explorer/blocks[?before=H]`, `/explorer/block/{height}`,
/// `/explorer/tx/{hash}`, `/explorer/proposals`, `/explorer/proposal/{id}`, `/explorer/search?q=`,
/// `/explorer/events` (SSE, one shared upstream: ``ExplorerEventRelay``),
/// `/explorer/style.css`, `/explorer/live.js`, `/explorer/icon.svg`. Bad input gets a 400 or 404 page, an unreachable
/// chain node a 502 page; never a 500.
public struct Explorer: Sendable {
    let source: ExplorerSource
    let library: MustacheLibrary
    let logger: Logger
    /// The one connection to the chain node's event stream that every open page shares.
    let relay: ExplorerEventRelay
    /// Requests whose path and query are longer than this get a 400 page (nothing the explorer
    /// links to comes near it).
    public static let maxTargetBytes = 2048

    /// An explorer of the chain `client` talks to.
    public init(client: ChainClient, logger: Logger) throws {
        source = ExplorerSource(client: client)
        library = try ExplorerTemplates.library()
        relay = ExplorerEventRelay(client: client, logger: logger)
        self.logger = logger
    }

    /// Adds the explorer's routes to `router`.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/") { request, _ in
            await page(request, "overview") { () async throws(ExplorerError) in
                try await source.overview()
            }
        }
        router.get("/explorer") { _, _ in Self.redirect("/") }
        router.get("/explorer/participants") { request, _ in
            await page(request, "participants") { () async throws(ExplorerError) in try await source.participants() }
        }
        router.get("/explorer/participant/:address") { request, context in
            let address = context.parameters.get("address") ?? ""
            return await page(request, "participant") { () async throws(ExplorerError) in
                try await source.participant(address)
            }
        }
        router.get("/explorer/inference/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return await page(request, "inference") { () async throws(ExplorerError) in
                try await source.inference(id)
            }
        }
        router.get("/explorer/blocks") { request, _ in
            let before = request.uri.queryParameters.get("before")
            return await page(request, "blocks") { () async throws(ExplorerError) in
                try await source.blocks(before: before)
            }
        }
        router.get("/explorer/block/:height") { request, context in
            let height = context.parameters.get("height") ?? ""
            return await page(request, "block") { () async throws(ExplorerError) in try await source.block(height) }
        }
        router.get("/explorer/tx/:hash") { request, context in
            let hash = context.parameters.get("hash") ?? ""
            return await page(request, "tx") { () async throws(ExplorerError) in try await source.tx(hash) }
        }
        router.get("/explorer/proposals") { request, _ in
            await page(request, "proposals") { () async throws(ExplorerError) in try await source.proposals() }
        }
        router.get("/explorer/proposal/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return await page(request, "proposal") { () async throws(ExplorerError) in try await source.proposal(id) }
        }
        router.get("/explorer/search") { request, _ in
            if let refused = await refusal(request) { return refused }
            let query = request.uri.queryParameters.get("q") ?? ""
            return await search(query)
        }
        router.get("/explorer/events") { _, _ in events() }
        router.get("/explorer/style.css") { _, _ in
            Self.asset(ExplorerAssets.css, type: "text/css; charset=utf-8")
        }
        router.get("/explorer/live.js") { _, _ in
            Self.asset(ExplorerAssets.liveScript, type: "text/javascript; charset=utf-8")
        }
        router.get("/explorer/icon.svg") { _, _ in Self.asset(ExplorerAssets.icon, type: "image/svg+xml") }
        router.get("/explorer/**") { _, _ in
            await errorPage(.notFound("Page not found", "The explorer has no such page."))
        }
    }

    // MARK: Responses

    /// Renders `template` with what `load` returns, or the error page of its failure.
    func page<Page: Sendable>(
        _ request: Request, _ template: String, _ load: () async throws(ExplorerError) -> Page
    ) async -> Response {
        if let refused = await refusal(request) { return refused }
        do {
            return render(try await load(), template: template, status: .ok)
        } catch {
            return await errorPage(error)
        }
    }

    /// `/explorer/search?q=`: a redirect to the page of what `query` names, or the 400 page.
    func search(_ query: String) async -> Response {
        do {
            return Self.redirect(try await source.searchTarget(query))
        } catch {
            return await errorPage(error)
        }
    }

    /// The 400 page for a request target over ``maxTargetBytes``.
    func refusal(_ request: Request) async -> Response? {
        guard request.uri.description.utf8.count > Self.maxTargetBytes else { return nil }
        return await errorPage(
            .badRequest("Request too long", "The address is longer than \(Self.maxTargetBytes) bytes."))
    }

    func errorPage(_ error: ExplorerError) async -> Response {
        if error.status == 502 {
            logger.info("explorer: chain node unavailable", metadata: ["error": "\(error.message)"])
        }
        // The header shows the chain's id and height when the node answers; a page about the
        // node not answering must not ask it again.
        let status = error.status == 502 ? nil : try? await source.client.status()
        let page = ErrorPage(
            frame: PageFrame(
                title: error.title, chainID: status?.chainID ?? "gonka",
                height: status.map { ExplorerFormat.grouped($0.height) } ?? ExplorerFormat.missing, tab: ""),
            status: String(error.status), heading: error.title, message: error.message)
        return render(page, template: "error", status: HTTPResponse.Status(code: error.status))
    }

    func render(_ page: some Sendable, template: String, status: HTTPResponse.Status) -> Response {
        guard let html = library.render(page, withTemplate: template) else {
            // Only a template name missing from ExplorerTemplates.all gets here.
            return Response(
                status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "the explorer has no template \(template)\n")))
        }
        return Response(
            status: status, headers: Self.headers("text/html; charset=utf-8"),
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func headers(_ type: String) -> HTTPFields {
        var fields: HTTPFields = [.contentType: type, .cacheControl: "no-store"]
        if let csp = HTTPField.Name("Content-Security-Policy") { fields[csp] = ExplorerAssets.contentSecurityPolicy }
        if let sniff = HTTPField.Name("X-Content-Type-Options") { fields[sniff] = "nosniff" }
        return fields
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: headers(type), body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location], body: .init())
    }

    // MARK: Live updates

    /// `/explorer/events`: the chain node's `new_block` events and the types of its ledger events,
    /// as server-sent events, until the browser goes or the chain node closes the stream. Every
    /// open page is a subscriber of the same upstream (``ExplorerEventRelay``).
    func events() -> Response {
        let relay = relay
        let body = ResponseBody { writer in
            let (id, events) = relay.subscribe()
            defer { relay.unsubscribe(id) }
            try await writer.write(ByteBuffer(string: ": connected\n\n"))
            for await text in events {
                try await writer.write(ByteBuffer(string: text))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// The SSE text the browser gets for a chain event, or nil for events the pages do not use.
    /// Only fields the script reads are passed, re-encoded here.
    static func relayed(_ event: ChainEvent) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        switch event {
        case .newBlock(let block):
            guard let data = try? encoder.encode(block) else { return nil }
            return "event: new_block\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
        case .ledger(let height, let type, _):
            guard let data = try? encoder.encode(LedgerNote(height: height, type: type)) else { return nil }
            return "event: ledger\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
        case .tx, .other:
            return nil
        }
    }

    struct LedgerNote: Encodable {
        var height: UInt64
        var type: String
    }
}
