import AsyncHTTPClient
import Foundation
import GonkaCore
import GonkaWire
import Inference
import Ledger
import Logging
import MLNode
import NIOCore
import NIOHTTP1
import Telemetry
import Tracing

/// The Transfer Agent role (PROTOCOL §6.2).
extension APINode {
    /// A request the TA verified and priced, ready to forward.
    struct Admitted: Sendable {
        var kind: RequestKind
        var body: [UInt8]
        var signed: SignedRequest
        var requesterKey: PublicKey
        var summary: RequestSummary
        var promptTokens: Int
        var maxTokens: Int
        var inferenceID: String
        var escrow: UInt64
    }

    /// What the TA hands back to the HTTP layer: a response head and a body stream.
    struct Relay: Sendable {
        var status: Int
        var contentType: String
        /// The executor's `Server-Timing` (its phases up to its response head).
        var serverTiming: String?
        var body: HTTPClientResponse.Body
        var executor: Address
        var attempt: UInt32
    }

    /// Steps 1–2: signature, freshness, replay, model, token count, escrow. Throws the error the
    /// client gets; nothing is recorded for a refused request except its id when it verified.
    func admit(kind: RequestKind, body: [UInt8], header: (String) -> String?) async throws(APIError) -> Admitted {
        var trace = PathTrace(.taReceived)
        return try await admit(kind: kind, body: body, trace: &trace, header: header)
    }

    /// ``admit(kind:body:header:)``, marking its steps in `trace`.
    func admit(
        kind: RequestKind, body: [UInt8], trace: inout PathTrace, header: (String) -> String?
    ) async throws(APIError) -> Admitted {
        let signed = try SignedRequest(body: body, header: header)
        guard signed.transferAgent == address else {
            throw .notAddressed(
                "The request names \(signed.transferAgent) as its Transfer Agent, not this node (\(address)).")
        }
        try checkFreshness(signed.timestamp)
        let now = unixNanoseconds()
        let key: PublicKey
        if let onChain = try await chain.publicKey(of: signed.requester) {
            key = onChain
        } else if let sent = signed.publicKey {
            key = sent
        } else {
            throw .unknownRequester(signed.requester.description)
        }
        try signed.verify(with: key, chainID: configuration.chainID)
        trace.mark(.taVerified)
        let summary = try RequestSummary(body: body, kind: kind)
        let price = try await price(of: summary.model)
        // Out of the pool (PoC not accepted, jailed, INVALID), this node's Start would be refused:
        // an answer relayed anyway would be served unrecorded, never charged, its executor unpaid
        // (the soak saw 180 such answers). Refused before anything is reserved or started.
        let pool = try await chain.executors(model: summary.model)
        guard pool.admitsTransferAgent(address) else { throw .notParticipant(address, epoch: pool.epoch) }
        let promptTokens = try await countPromptTokens(summary)
        trace.mark(.taCounted)
        // `n` choices may each use max_tokens: the Start's budget (and the escrow) is their sum,
        // the Finish's completion_tokens the sum used (PROTOCOL §6.1).
        let (maxTokens, overflow) = (summary.maxTokens ?? configuration.defaultMaxTokens)
            .multipliedReportingOverflow(by: summary.choices)
        guard !overflow,
            let escrow = InferencePricing.escrow(
                promptTokens: UInt64(promptTokens), maxTokens: UInt64(maxTokens), price: price)?.ngonka
        else { throw .invalidRequest("'max_tokens' is too large.", param: "max_tokens") }
        let balance = try await chain.balance(of: signed.requester)
        guard balance >= escrow else { throw .insufficientBalance(need: escrow, have: balance) }
        let id = signed.inferenceID
        let window = configuration.freshness.spanNanoseconds
        guard taReplay.insert(id, expires: now + window, now: now) else { throw .replay(id) }
        chain.reserve(escrow, for: signed.requester)
        trace.mark(.taEscrowed)
        return Admitted(
            kind: kind, body: body, signed: signed, requesterKey: key, summary: summary, promptTokens: promptTokens,
            maxTokens: maxTokens, inferenceID: id, escrow: escrow)
    }

    /// §6.1's window around the last block time this node knows (the wall clock only while it
    /// knows no block yet, e.g. the chain node's event stream is not connected).
    func checkFreshness(_ timestamp: Int64) throws(APIError) {
        let reference = chain.referenceTime()
        try configuration.freshness.check(
            timestamp: timestamp, now: reference.nanoseconds,
            reference: reference.fromBlock ? "the last block time" : "the node's clock (no block known yet)")
    }

    /// The model's current price, or 404 when the network does not serve it.
    func price(of model: String) async throws(APIError) -> UInt64 {
        if let registered = try await chain.models() {
            guard let entry = registered.first(where: { $0.id == model }) else { throw .modelNotFound(model) }
            return entry.price
        }
        // No registry on chain yet: the models this node's ML nodes serve.
        guard registry.models.contains(model) else { throw .modelNotFound(model) }
        return configuration.fallbackPrice
    }

    /// Prompt tokens with the model's tokenizer (PROTOCOL §6.2): the in-process backend's chat
    /// template when there is one, else `/v1/tokenize` of the text (chat: rendered by our template,
    /// markers included) on this node's ML nodes for the model, each in turn until one answers (a
    /// remote ML node in front of vLLM or llama.cpp's server counts with the model's own tokenizer
    /// too). With none answering the request is refused (``APIError/noTokenizer(_:reason:)``): a
    /// byte count would bill the requester several times over.
    func countPromptTokens(_ summary: RequestSummary) async throws(APIError) -> Int {
        if let ids = summary.promptTokenIDs { return ids.count }
        if let local = registry.localBackend, local.info.id == summary.model {
            if let prompt = summary.prompt { return local.tokenize(prompt).count }
            return local.chatPrompt(summary.messages).count
        }
        let text = summary.prompt ?? ChatTemplate.render(summary.messages)
        let nodes = registry.list().filter { $0.enabled && $0.model == summary.model }
        guard !nodes.isEmpty else { throw .noTokenizer(summary.model, reason: "no ML node of this node serves it") }
        let payload = JSONValue.object([("model", .string(summary.model)), ("prompt", .string(text))])
            .bytes(sortedKeys: true)
        var failures: [String] = []
        for node in nodes {
            var request = HTTPClientRequest(url: node.url + "/v1/tokenize")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: payload))
            do {
                let response = try await http.execute(request, timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 16 << 20)
                let answer = try? JSONValue(parsing: body.readableBytesView)
                if response.status == .ok, let count = answer?["count"]?.intValue, count >= 0 {
                    return count
                }
                failures.append("\(node.id) answered \(response.status.code)")
            } catch {
                failures.append("\(node.id): \(error)")
            }
        }
        logger.warning(
            "no ML node counted a prompt", metadata: ["model": "\(summary.model)", "failures": "\(failures)"])
        throw .noTokenizer(summary.model, reason: "its ML nodes did not answer /v1/tokenize")
    }

    /// Steps 3–5: draw, forward, fail over; on the first accepted attempt the Start goes to the
    /// chain and the body is relayed.
    func forward(_ admitted: Admitted, trace: inout PathTrace) async throws(APIError) -> Relay {
        var set = try await chain.executors(model: admitted.summary.model)
        var lastError = APIError.noExecutor("No participant serves the model '\(admitted.summary.model)'.")
        var reread = false
        var attempt: UInt32 = 0
        while attempt < configuration.maxAttempts {
            var next = attempt + 1
            defer { attempt = next }
            let drawn: Address?
            do {
                drawn = try ExecutorDraw.executor(
                    inferenceID: admitted.inferenceID, epochSeed: set.epochSeed, attempt: attempt,
                    transferAgent: address, candidates: set.candidates)
            } catch {
                throw .internalError("The executor draw failed: \(error)")
            }
            guard let executor = drawn else { break }
            guard let url = try await chain.url(of: executor) else {
                lastError = .noExecutor("The drawn executor \(executor) has no registered URL.")
                metrics.increment("gonka_api_executor_misses_total")
                continue
            }
            // One TA signature per attempt: in the forwarded headers and in the Start.
            let taSignature = Data(
                configuration.key.signature(
                    for: InferenceRequestSigning.transferAgentSignBytes(
                        chainID: configuration.chainID, bodyHash: admitted.signed.bodyHash,
                        timestamp: admitted.signed.timestamp, transferAgent: address, executor: executor,
                        attempt: attempt)))
            do {
                trace.mark(.taDrawn)
                // A live span per attempt: its context goes to the executor as `traceparent`.
                let attemptSpan = trace.spans?.child("ta forward attempt", kind: .client)
                attemptSpan?.attributes["gonka.executor"] = executor.description
                attemptSpan?.attributes["gonka.attempt"] = Int(attempt)
                let relay: Relay
                do {
                    relay = try await attemptForward(
                        admitted, executor: executor, url: url, attempt: attempt, taSignature: taSignature,
                        traceContext: attemptSpan.map(\.context))
                    attemptSpan?.end()
                } catch {
                    attemptSpan?.setStatus(SpanStatus(code: .error, message: "\(error)"))
                    attemptSpan?.end()
                    throw error
                }
                trace.mark(.taHead)
                trace.spans?.root.attributes["gonka.executor"] = executor.description
                trace.spans?.root.attributes["gonka.attempt"] = Int(attempt)
                metrics.increment("gonka_api_forwarded_total")
                let start = startMessage(admitted, executor: executor, attempt: attempt, taSignature: taSignature)
                // The Start goes out (through the node's duty-tx queue) while the answer streams;
                // the relay does not wait for it.
                txs.enqueue(Wire.Msg(start), what: "MsgStartInference")
                return relay
            } catch let error as ForwardFailure {
                switch error {
                case .clientError(let relay):
                    return relay
                case .notTheDraw(let reason) where !reread:
                    // The pool changed (an epoch began, an executor left it) and this node's view
                    // is a block behind the executor's: read it again and draw this attempt anew.
                    // The executor serves only its own draw, so the TA follows its view. (The
                    // ledger accepts a draw from either pool for a minute after a change, §6.4.)
                    // Once per request.
                    reread = true
                    let current = try await rereadPool(admitted, attempt: attempt, executor: executor) {
                        ("executor set re-read after not_the_draw", ["changed": "\($0 != set)"])
                    }
                    lastError = reason
                    if current != set {
                        set = current
                        next = attempt  // the same attempt number, drawn from the current pool
                    }
                case .outOfPool(let reason):
                    // The executor's view has this node out of the pool (jailed or made INVALID a
                    // block ago; this node's view is behind): the chain would refuse its Start. Read
                    // the pool again; out of it, refuse the request before anything started
                    // (`not_participant`, which the client or `gonka proxy` sends elsewhere).
                    let current = try await rereadPool(admitted, attempt: attempt, executor: executor) {
                        (
                            "executor says this node is out of the executor pool",
                            ["out_in_own_view": "\(!$0.admitsTransferAgent(address))"]
                        )
                    }
                    guard current.admitsTransferAgent(address) else {
                        throw .notParticipant(address, epoch: current.epoch)
                    }
                    set = current
                    lastError = reason
                case .notTheDraw(let reason), .failed(let reason):
                    logger.info(
                        "executor attempt failed",
                        metadata: [
                            "inference.id": "\(admitted.inferenceID)", "attempt": "\(attempt)",
                            "executor": "\(executor)", "reason": "\(reason)",
                        ])
                    metrics.increment("gonka_api_executor_misses_total")
                    lastError = reason
                }
            } catch {
                lastError = .upstream("\(error)")
            }
        }
        metrics.increment("gonka_api_failed_total")
        if lastError.status == 504 { throw lastError }
        throw .upstream("Every attempt failed; the last: \(lastError.message)")
    }

    /// Reads the executor pool again after an executor's refusal says the two views differ
    /// (`gonka_api_executor_set_rereads_total{role="ta"}`), and logs `describe`'s message with
    /// its metadata about the pool read.
    func rereadPool(
        _ admitted: Admitted, attempt: UInt32, executor: Address,
        _ describe: (ChainView.ExecutorSet) -> (String, Logger.Metadata)
    ) async throws(APIError) -> ChainView.ExecutorSet {
        metrics.increment("gonka_api_executor_set_rereads_total", [("role", "ta")])
        let current = try await chain.executors(model: admitted.summary.model, refresh: true)
        let (message, extra) = describe(current)
        let metadata: Logger.Metadata = [
            "inference.id": "\(admitted.inferenceID)", "attempt": "\(attempt)", "executor": "\(executor)",
        ]
        logger.info("\(message)", metadata: metadata.merging(extra) { $1 })
        return current
    }

    enum ForwardFailure: Error {
        /// The executor refused, timed out or failed: try the next attempt.
        case failed(APIError)
        /// The executor says it is not this attempt's draw: the two views of the pool differ.
        case notTheDraw(APIError)
        /// The executor says this TA is out of the executor pool: the two views differ, or this
        /// node was just jailed or made INVALID.
        case outOfPool(APIError)
        /// The executor judged the request itself bad (400, 404, 413): the client's answer.
        case clientError(Relay)
    }

    /// One attempt: POST to the executor; the head must come within the first-byte timeout.
    func attemptForward(
        _ admitted: Admitted, executor: Address, url: String, attempt: UInt32, taSignature: Data,
        traceContext: InstrumentationContext? = nil
    ) async throws -> Relay {
        var request = HTTPClientRequest(url: url + "/v1/executor/" + admitted.kind.rawValue)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let signed = admitted.signed
        request.headers.add(name: GonkaHeader.address, value: signed.requester.description)
        request.headers.add(name: GonkaHeader.timestamp, value: "\(signed.timestamp)")
        request.headers.add(name: GonkaHeader.transferAgent, value: signed.transferAgent.description)
        request.headers.add(name: "Authorization", value: "Gonka " + Data(signed.signature).base64EncodedString())
        request.headers.add(name: GonkaHeader.publicKey, value: admitted.requesterKey.hex)
        request.headers.add(name: GonkaHeader.executor, value: executor.description)
        request.headers.add(name: GonkaHeader.attempt, value: "\(attempt)")
        request.headers.add(name: GonkaHeader.taPublicKey, value: configuration.key.publicKey.hex)
        request.headers.add(name: GonkaHeader.taSignature, value: taSignature.base64EncodedString())
        request.body = .bytes(ByteBuffer(bytes: admitted.body))
        if let traceContext {
            configuration.tracing.tracer.inject(traceContext, into: &request.headers, using: HTTPHeadersInjector())
        }
        let timeout = configuration.executorFirstByteTimeout
        let response: HTTPClientResponse
        do {
            // AsyncHTTPClient's deadline covers the request up to the response head (it is
            // cancelled when the head arrives), which is the first-byte timeout exactly; the body
            // then streams for as long as it takes. (A racing sleep task cost a task and a
            // cancellation hop on every forward.)
            response = try await Self.forwardingClient(idle: configuration.executorIdleTimeout).execute(
                request, timeout: TimeAmount(timeout))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ForwardFailure.failed(.upstreamTimeout("No answer from \(executor) within \(timeout)."))
        } catch {
            throw ForwardFailure.failed(.upstream("Cannot reach \(executor): \(error)"))
        }
        let status = Int(response.status.code)
        let contentType = response.headers.first(name: "Content-Type") ?? "application/json"
        let relay = Relay(
            status: status, contentType: contentType, serverTiming: response.headers.first(name: "Server-Timing"),
            body: response.body, executor: executor, attempt: attempt)
        if status == 200 { return relay }
        if [400, 404, 413].contains(status) { throw ForwardFailure.clientError(relay) }
        let body = (try? await response.body.collect(upTo: 64 << 10)).map { Array($0.readableBytesView) } ?? []
        let decoded = APIError.decode(body)
        let code = decoded.code ?? "http_\(status)"
        // The executor's own words go along: "answered 403 forbidden" alone does not say why.
        let failure = APIError.upstream(
            "\(executor) answered \(status) \(code)" + (decoded.message.map { ": \($0)" } ?? "."))
        if status == 403 && code == "not_the_draw" { throw ForwardFailure.notTheDraw(failure) }
        if status == 403 && code == "transfer_agent_not_in_pool" { throw ForwardFailure.outOfPool(failure) }
        throw ForwardFailure.failed(failure)
    }

    func startMessage(
        _ admitted: Admitted, executor: Address, attempt: UInt32, taSignature: Data
    ) -> Wire.MsgStartInference {
        var start = Wire.MsgStartInference()
        start.inferenceID = admitted.inferenceID
        start.requester = admitted.signed.requester.description
        start.transferAgent = address.description
        start.executor = executor.description
        start.attempt = attempt
        start.model = admitted.summary.model
        start.promptHash = Data(admitted.signed.bodyHash.bytes)
        start.promptTokens = UInt64(admitted.promptTokens)
        start.maxTokens = UInt64(admitted.maxTokens)
        start.timestamp = admitted.signed.timestamp
        start.developerSignature = Data(admitted.signed.signature)
        start.taSignature = taSignature
        start.requesterPubkey = Data(admitted.requesterKey.bytes)
        return start
    }
}
