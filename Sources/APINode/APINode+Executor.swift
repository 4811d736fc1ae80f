import AsyncHTTPClient
import Foundation
import GonkaCore
import GonkaWire
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Tracing

/// The executor role (PROTOCOL §6.3).
extension APINode {
    /// A forwarded request the executor verified.
    struct Assignment: Sendable {
        var kind: RequestKind
        var signed: SignedRequest
        var attempt: UInt32
        var model: String
        var original: [UInt8]
        /// `original` parsed (by the verification's ``RequestSummary``).
        var parsed: JSONValue
    }

    /// Verifies a request forwarded by a TA: addressed to us, fresh, both signatures, the TA a
    /// participant in the executor pool, we are the draw for the attempt, not seen before.
    func verifyAssignment(
        kind: RequestKind, body: [UInt8], header: (String) -> String?
    ) async throws(APIError)
        -> Assignment
    {
        let signed = try SignedRequest(body: body, header: header)
        guard let executorText = header(GonkaHeader.executor), let executor = try? Address(executorText) else {
            throw .unauthorized("Missing or invalid \(GonkaHeader.executor) header.")
        }
        guard executor == address else {
            throw .notAddressed("The request is addressed to executor \(executor), not this node (\(address)).")
        }
        guard let attemptText = header(GonkaHeader.attempt), let attempt = UInt32(attemptText),
            attempt < configuration.maxAttempts
        else { throw .unauthorized("Missing or invalid \(GonkaHeader.attempt) header.") }
        try checkFreshness(signed.timestamp)
        let now = unixNanoseconds()
        let requesterKey: PublicKey
        if let onChain = try await chain.publicKey(of: signed.requester) {
            requesterKey = onChain
        } else if let sent = signed.publicKey {
            requesterKey = sent
        } else {
            throw .unknownRequester(signed.requester.description)
        }
        try signed.verify(with: requesterKey, chainID: configuration.chainID)
        let participants = try await chain.participants()
        guard participants.contains(where: { $0.address == signed.transferAgent.description }) else {
            throw .transferAgentNotInPool(
                "The Transfer Agent \(signed.transferAgent) is not a participant; the chain would refuse its Start.")
        }
        let taKey: PublicKey
        if let onChain = try await chain.publicKey(of: signed.transferAgent) {
            taKey = onChain
        } else if let text = header(GonkaHeader.taPublicKey) {
            taKey = try SignedRequest.parseKey(text, for: signed.transferAgent, header: GonkaHeader.taPublicKey)
        } else {
            throw .unauthorized("The Transfer Agent's key is unknown; send \(GonkaHeader.taPublicKey).")
        }
        guard let taSigText = header(GonkaHeader.taSignature), let taSig = Data(base64Encoded: taSigText) else {
            throw .unauthorized("Missing or invalid \(GonkaHeader.taSignature) header.")
        }
        let taBytes = InferenceRequestSigning.transferAgentSignBytes(
            chainID: configuration.chainID, bodyHash: signed.bodyHash, timestamp: signed.timestamp,
            transferAgent: signed.transferAgent, executor: executor, attempt: attempt)
        guard taKey.isValidSignature(taSig, for: taBytes) else {
            throw .unauthorized("The Transfer Agent's signature does not verify.")
        }
        let summary = try RequestSummary(body: body, kind: kind)
        // Refused unless the TA is in the pool (out of it, PoC not accepted, jailed or INVALID, its
        // Start is refused, §6.4: the answer would be served unrecorded, the executor unpaid) and
        // this node is the attempt's draw.
        func refusal(_ set: ChainView.ExecutorSet) throws(APIError) -> APIError? {
            guard set.admitsTransferAgent(signed.transferAgent) else {
                return .transferAgentNotInPool(
                    "The Transfer Agent \(signed.transferAgent) is not in the executor pool"
                        + (set.epoch.map { " of epoch \($0)" } ?? "") + "; the chain would refuse its Start.")
            }
            let drawn: Address?
            do {
                drawn = try ExecutorDraw.executor(
                    inferenceID: signed.inferenceID, epochSeed: set.epochSeed, attempt: attempt,
                    transferAgent: signed.transferAgent, candidates: set.candidates)
            } catch {
                throw .internalError("The executor draw failed: \(error)")
            }
            guard drawn == address else {
                return .notTheDraw(
                    "This node is not the executor drawn for attempt \(attempt) (the draw is \(drawn?.description ?? "nobody"))."
                )
            }
            return nil
        }
        let set = try await chain.executors(model: summary.model)
        if let first = try refusal(set) {
            // The executor pool changes at an epoch's start and when an executor leaves it; this
            // node's view may be a block behind the TA's. Read it again before refusing.
            metrics.increment("gonka_api_executor_set_rereads_total", [("role", "executor")])
            let current = try await chain.executors(model: summary.model, refresh: true)
            if let refused = current == set ? first : try refusal(current) { throw refused }
        }
        let window = configuration.freshness.spanNanoseconds
        guard executorReplay.insert("\(signed.inferenceID)/\(attempt)", expires: now + window, now: now) else {
            throw .replay(signed.inferenceID)
        }
        return Assignment(
            kind: kind, signed: signed, attempt: attempt, model: summary.model, original: body, parsed: summary.object)
    }

    /// Runs a verified assignment on the least busy ML node, streaming to the TA while capturing;
    /// at the end stores the payload and broadcasts the Finish.
    func execute(_ assignment: Assignment, trace headTrace: PathTrace) async throws(APIError) -> Response {
        var trace = headTrace
        let original = assignment.parsed
        let clientStreams = original["stream"]?.boolValue ?? false
        let rewritten = ExecutorCapture.rewrite(
            original, kind: assignment.kind, seed: Int64.random(in: 0...(1 << 53)))
        let executed = rewritten.bytes(sortedKeys: true)
        guard let node = registry.acquire(model: assignment.model) else {
            throw .noMLNode(assignment.model)
        }
        var request = HTTPClientRequest(url: node.url + "/v1/" + assignment.kind.rawValue)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: executed))
        // An ML node that traces joins the request's trace.
        if let spans = trace.spans { spans.inject(spans.root.context, into: &request.headers) }
        trace.mark(.execRewritten)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .hours(1))
            trace.mark(.execMLHead)
        } catch {
            registry.release(node.id)
            throw .upstream("The ML node \(node.id) failed: \(error)")
        }
        guard response.status == .ok else {
            registry.release(node.id)
            let body = (try? await response.body.collect(upTo: 1 << 20)).map { Array($0.readableBytesView) } ?? []
            let status = Int(response.status.code)
            if status == 429 { throw .overloaded("The ML node is at capacity.") }
            if status == 400 || status == 404 {
                let message = (try? JSONValue(parsing: body))?["error"]?["message"]?.stringValue
                throw .invalidRequest(message ?? "The ML node refused the request (\(status)).")
            }
            throw .upstream("The ML node answered \(status).")
        }
        let initial = ExecutorCapture(kind: assignment.kind, originalBody: original)
        let executedBytes = executed
        let finishQueue = self.finishQueue
        let id = assignment.signed.inferenceID
        let metrics = self.metrics
        let registry = self.registry
        let streamTrace = trace
        let heartbeat = configuration.answerHeartbeat
        let body = ResponseBody { writer in
            defer { registry.release(node.id) }
            var trace = streamTrace
            // Ends here unless handed to the finish queue, which ends it after the payload.
            var outcome: RequestOutcome? = .failed("ml_node_failed")
            defer { if let outcome { self.ended(trace, inferenceID: id, outcome: outcome) } }
            var capture = initial
            var splitter = SSESplitter()
            var done = false
            var lastWrite = ContinuousClock.now
            for try await piece in AnswerHeartbeat.merge(response.body, every: heartbeat) {
                guard case .bytes(let buffer) = piece else {
                    // Nothing written for a heartbeat: keep the TA's idle timeout from firing.
                    guard ContinuousClock.now - lastWrite >= heartbeat else { continue }
                    do {
                        try await writer.write(AnswerHeartbeat.keepalive(streaming: clientStreams))
                    } catch {
                        outcome = .failed("client_gone")
                        throw error
                    }
                    lastWrite = .now
                    continue
                }
                for data in splitter.push(buffer.readableBytesView) {
                    if data == "[DONE]" {
                        done = true
                        continue
                    }
                    guard let object = try? JSONValue(parsing: data), object.objectValue != nil else { continue }
                    let hadText = !capture.text.isEmpty
                    guard let chunk = capture.take(object) else { continue }
                    let firstText = !hadText && !capture.text.isEmpty
                    if firstText { trace.mark(.execMLFirstToken) }
                    if clientStreams {
                        do {
                            try await writer.write(Self.event(chunk))
                        } catch {
                            outcome = .failed("client_gone")
                            throw error
                        }
                        lastWrite = .now
                        if firstText { trace.mark(.execFirstRelayed) }
                    }
                }
            }
            trace.mark(.execMLEnd)
            guard done, capture.streamError == nil else {
                outcome = .failed("ml_node_stopped")
                metrics.increment("gonka_api_executor_failed_total")
                if clientStreams {
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                } else {
                    try await writer.write(
                        ByteBuffer(bytes: APIError.upstream("The ML node stopped before the end.").body))
                }
                try await writer.finish(nil)
                return
            }
            outcome = .failed("client_gone")
            if clientStreams {
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            } else {
                try await writer.write(ByteBuffer(bytes: capture.completeResponse.bytes()))
            }
            try await writer.finish(nil)
            trace.mark(.execEnd)
            metrics.increment("gonka_api_executed_total")
            let job = FinishQueue.Job(assignment: assignment, capture: capture, executed: executedBytes, trace: trace)
            outcome = nil
            if !finishQueue.enqueue(job) { await self.finish(job) }
        }
        logger.debug("executing", metadata: ["inference.id": "\(id)", "ml.node": "\(node.id)"])
        return Response(
            status: .ok,
            headers: [
                .contentType: clientStreams ? "text/event-stream" : "application/json", .cacheControl: "no-cache",
                PathTrace.serverTimingHeader: trace.serverTiming(),
            ], body: body)
    }

    static func event(_ object: JSONValue) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(object.bytes())
        buffer.writeString("\n\n")
        return buffer
    }

    /// Payload to disk, commitment into the Finish, Finish to the chain; then the request's trace
    /// is complete.
    func finish(_ job: FinishQueue.Job) async {
        let (assignment, capture, executed) = (job.assignment, job.capture, job.executed)
        defer {
            var trace = job.trace
            trace.mark(.execStored)
            ended(trace, inferenceID: assignment.signed.inferenceID, outcome: .completed)
        }
        let payload = InferencePayload(
            inferenceID: assignment.signed.inferenceID, executor: address.description, model: assignment.model,
            request: executed, promptTokens: capture.promptTokens, completionTokens: capture.completionTokens,
            choices: capture.payloadChoices)
        do {
            try payloads.save(payload)
        } catch {
            logger.error(
                "payload not stored", metadata: ["inference.id": "\(payload.inferenceID)", "error": "\(error)"])
        }
        var message = Wire.MsgFinishInference()
        message.inferenceID = payload.inferenceID
        message.executor = address.description
        message.promptTokens = payload.promptTokens
        message.completionTokens = payload.completionTokens
        message.responseCommitment = Data(payload.commitment.bytes)
        message.model = assignment.model
        message.requester = assignment.signed.requester.description
        txs.enqueue(Wire.Msg(message), what: "MsgFinishInference")
    }

    /// Who may read a payload: a registered participant (a validator) that signed the request
    /// (``PayloadRequestSigning``) within the freshness window. 401 for missing, malformed, stale
    /// or forged headers; 403 for a signer that is not a participant.
    func authorizePayloadRequest(_ id: String, header: (String) -> String?) async throws(APIError) {
        let (signature, requester, timestamp) = try SignedRequest.signer(
            header: header,
            missingAuthorization:
                "Payloads are served to validators: sign the request (\(GonkaHeader.address), \(GonkaHeader.timestamp), Authorization: Gonka <signature>)."
        )
        try checkFreshness(timestamp)
        var key = try await chain.publicKey(of: requester)
        if key == nil, let text = header(GonkaHeader.publicKey) {
            key = try SignedRequest.parseKey(text, for: requester, header: GonkaHeader.publicKey)
        }
        guard let key else {
            throw .unauthorized("\(requester) has no key on chain; send \(GonkaHeader.publicKey).")
        }
        let bytes = PayloadRequestSigning.signBytes(
            chainID: configuration.chainID, inferenceID: id, timestamp: timestamp, executor: address)
        guard key.isValidSignature(signature, for: bytes) else {
            throw .unauthorized("The payload request signature does not verify for \(requester).")
        }
        guard try await chain.participants().contains(where: { $0.address == requester.description }) else {
            throw .forbidden("Payloads are served to validators; \(requester) is not a participant.")
        }
    }

    /// `GET /v1/inferences/{id}/payload`: the canonical bytes, signed by this executor (kind
    /// `payload`), for a participant's signed request.
    func payloadResponse(_ id: String, header: (String) -> String?) async -> Response {
        guard PayloadStore.isID(id) else {
            return Self.error(.invalidRequest("An inference id is 64 lowercase hex digits.", param: "id"))
        }
        do {
            try await authorizePayloadRequest(id, header: header)
        } catch {
            metrics.increment("gonka_api_refused_total", [("code", error.shortDescription)])
            return Self.error(error)
        }
        guard let bytes = payloads.load(id) else { return Self.error(.notFound("The payload of \(id)")) }
        let signature = configuration.key.signature(
            for: SignBytes.make(.payload, chainID: configuration.chainID, bytes))
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/octet-stream",
                HTTPField.Name(GonkaHeader.payloadSignature)!: Data(signature).base64EncodedString(),
                HTTPField.Name(GonkaHeader.executor)!: address.description,
            ], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func error(_ error: APIError) -> Response {
        Response(
            status: .init(code: error.status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: error.body)))
    }
}
