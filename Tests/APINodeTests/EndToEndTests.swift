import APINode
import AsyncHTTPClient
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Inference
import Ledger
import MLNode
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

@testable import APINode

/// A signed request through one participant's Transfer Agent is executed by another, streamed
/// back, its payload stored and served signed; failover when the drawn executor cannot serve.
@Suite(.serialized, .hangGuard) struct EndToEndTests {
    @Test(.timeLimit(.minutes(5))) func requestThroughTheNetworkAndFailover() async throws {
        try await TestNet.with(firstByteTimeout: .seconds(20)) { net in
            let taKey = net.accountKeys[0]
            let ta = taKey.publicKey.address
            let developer = net.wallet[0]
            let url = net.apiURLs[0] + "/v1/chat/completions"
            let chain = try net.chain(1)
            let balanceBefore = try await chain.balance(developer.publicKey.address)

            // Streamed, with logprobs.
            let streamed = chatBody(
                "Name a colour.", maxTokens: 6, stream: true, extra: #","logprobs":true,"top_logprobs":2"#)
            let headers = BadInputTests.signed(streamed, key: developer, ta: ta)
            let result = try await post(url, body: streamed, headers: headers)
            #expect(result.status == 200, "\(result.text)")
            #expect(result.headers["content-type"]?.hasPrefix("text/event-stream") == true)
            #expect(result.events.last == "[DONE]")
            let executorText = try #require(result.headers["x-gonka-executor"])
            let executor = try Address(executorText)
            #expect(executor != ta, "the executor must be another participant")
            let id = try #require(result.headers["x-gonka-inference-id"])
            try await Self.expectPathTiming(result.headers["server-timing"], id: id, net: net, executor: executor)
            // The TA re-reads a recent requester's balance at each new block, so its next request
            // finds it cached: without another request, the balance is cached at a later tip.
            // "Recent" is the last 10 blocks, and a streamed answer on a loaded machine can take
            // longer, so the requester is made recent again the way a request does, by reading
            // its balance through the TA's chain view.
            let taChain = net.apiNodes[0].chain
            _ = try await taChain.balance(of: developer.publicKey.address)
            let requestedAt = try #require(taChain.tip).height
            // (Under a loaded full run the prefetch may trail the newest tip by a block; any block
            // after the request shows it.)
            var prefetched = false
            let deadline = ContinuousClock.now + .seconds(60)
            while !prefetched, ContinuousClock.now < deadline {
                prefetched = (taChain.cachedBalanceHeight(of: developer.publicKey.address) ?? 0) > requestedAt
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(prefetched, "the requester's balance was not prefetched at a new block")
            let chunks = result.chunks
            let text = chunks.compactMap {
                (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
            }.joined()
            #expect(!text.isEmpty)
            // The client sees the logprobs it asked for (text tokens, 2 alternatives), not the forced ids.
            let entries = chunks.flatMap {
                ((($0["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])?["content"]
                    as? [[String: Any]]) ?? []
            }
            #expect(!entries.isEmpty)
            #expect(entries.allSatisfy { ($0["top_logprobs"] as? [Any])?.count == 2 })
            #expect(entries.allSatisfy { !(($0["token"] as? String) ?? "token_id:").hasPrefix("token_id:") })
            // No usage chunk: the client did not ask for it.
            #expect(!chunks.contains { $0["usage"] != nil && ($0["choices"] as? [Any])?.isEmpty == true })

            // The executor's payload: signed, committed, with the tokens the client saw; served to
            // a participant's signed request (here the TA's key: any validator may ask).
            let executorIndex = try #require(net.accountKeys.firstIndex { $0.publicKey.address == executor })
            let payloadURL = net.apiURLs[executorIndex] + "/v1/inferences/\(id)/payload"
            func validatorHeaders(
                _ key: SigningKey = taKey, id: String = id, timestamp: Int64 = nowNanos(), to: Address = executor
            ) -> [(String, String)] {
                PayloadRequestSigning.headers(
                    inferenceID: id, key: key, executor: to, chainID: TestChain.chainID, timestamp: timestamp)
            }
            var payloadAnswer = try await get(payloadURL, headers: validatorHeaders())
            for _ in 0..<50 where payloadAnswer.status != 200 {
                try await Task.sleep(for: .milliseconds(100))
                payloadAnswer = try await get(payloadURL, headers: validatorHeaders())
            }
            #expect(payloadAnswer.status == 200, "\(payloadAnswer.text)")
            // Payloads are for validators: unsigned 401, a non-participant 403, forged / stale /
            // meant for another executor / for another id 401; none of them gets the bytes.
            BadInputTests.expect(try await get(payloadURL), status: 401, code: "invalid_signature", "unsigned payload")
            BadInputTests.expect(
                try await get(payloadURL, headers: validatorHeaders(developer)), status: 403, code: "forbidden",
                "payload for a non-participant")
            var forged = validatorHeaders()
            forged[2].1 = "Gonka " + Data(developer.signature(for: [1, 2, 3])).base64EncodedString()
            BadInputTests.expect(
                try await get(payloadURL, headers: forged), status: 401, code: "invalid_signature",
                "forged payload request")
            BadInputTests.expect(
                try await get(payloadURL, headers: validatorHeaders(timestamp: nowNanos() - 120_000_000_000)),
                status: 401, code: "stale_request", "stale payload request")
            BadInputTests.expect(
                try await get(payloadURL, headers: validatorHeaders(to: ta)), status: 401, code: "invalid_signature",
                "payload request signed for another executor")
            BadInputTests.expect(
                try await get(payloadURL, headers: validatorHeaders(id: String(repeating: "1", count: 64))),
                status: 401, code: "invalid_signature", "payload request signed for another id")
            let payload = try #require(InferencePayload(decoding: payloadAnswer.body))
            #expect(payload.inferenceID == id)
            #expect(payload.executor == executor.description)
            #expect(payload.tokens.count == entries.count)
            #expect(payload.tokens.allSatisfy { $0.top.count >= 5 }, "the executor forces top_logprobs ≥ 5")
            #expect(
                zip(payload.tokens, entries).allSatisfy {
                    abs(Double($0.logprob) - (($1["logprob"] as? Double) ?? 0)) < 1e-4
                })
            let executed = try #require(try JSONSerialization.jsonObject(with: Data(payload.request)) as? [String: Any])
            #expect(executed["seed"] != nil && executed["logprobs"] as? Bool == true)
            let signature = try #require(Data(base64Encoded: payloadAnswer.headers["x-gonka-payload-signature"] ?? ""))
            #expect(
                net.accountKeys[executorIndex].publicKey.isValidSignature(
                    signature, for: SignBytes.make(.payload, chainID: TestChain.chainID, payloadAnswer.body)))
            // Unknown and malformed ids.
            let unknown = String(repeating: "0", count: 64)
            #expect(
                try await get(
                    net.apiURLs[executorIndex] + "/v1/inferences/\(unknown)/payload",
                    headers: validatorHeaders(id: unknown)
                ).status == 404)
            #expect(try await get(net.apiURLs[executorIndex] + "/v1/inferences/..%2Fx/payload").status != 200)

            // On chain: the TA's Start and the executor's Finish settle it: FINISHED, the cost
            // charged at the price for the tokens used, the rest of the escrow refunded.
            var record: InferenceRecordInfo?
            for _ in 0..<200 {
                record = try await chain.inference(id)
                if record?.status == "FINISHED" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let finished = try #require(record, "no inference record on chain")
            #expect(finished.status == "FINISHED")
            #expect(finished.executor == executor.description)
            #expect(finished.transferAgent == ta.description)
            #expect(finished.completionTokens == UInt64(payload.tokens.count))
            #expect(finished.responseCommitment == payload.commitment.hex)
            #expect(finished.cost.ngonka > 0)
            #expect(finished.cost.ngonka + finished.refund.ngonka == finished.escrow.ngonka)
            let balanceAfter = try await chain.balance(developer.publicKey.address)
            #expect(balanceBefore.ngonka - balanceAfter.ngonka == finished.cost.ngonka)
            let viaAPI = try await get(net.apiURLs[2] + "/v1/inferences/\(id)")
            #expect(viaAPI.json["status"] as? String == "FINISHED")

            // Not streamed.
            let plain = chatBody("Say yes.", maxTokens: 3)
            let answer = try await post(url, body: plain, headers: BadInputTests.signed(plain, key: developer, ta: ta))
            #expect(answer.status == 200, "\(answer.text)")
            let choice = (answer.json["choices"] as? [[String: Any]])?.first
            #expect((choice?["message"] as? [String: Any])?["content"] is String)
            #expect(choice?["logprobs"] is NSNull)
            let usage = answer.json["usage"] as? [String: Any]
            #expect((usage?["completion_tokens"] as? Int ?? 0) >= 1)

            // Failover: disable the ML node of the executor drawn for attempt 0 of a request whose
            // attempt 1 draws the other one; the TA answers from attempt 1 and counts a miss.
            let set = try await net.apiNodes[0].chain.executors(model: Model.id)
            var chosen: (body: [UInt8], headers: [(String, String)], first: Address)?
            for n in 0..<64 {
                let body = chatBody("Failover \(n).", maxTokens: 2)
                let headers = BadInputTests.signed(body, key: developer, ta: ta)
                let sig = Data(base64Encoded: String(headers.first { $0.0 == "Authorization" }!.1.dropFirst(6)))!
                let id = InferenceRequestSigning.inferenceID(developerSignature: Array(sig))
                let d0 = try ExecutorDraw.executor(
                    inferenceID: id, epochSeed: set.epochSeed, attempt: 0, transferAgent: ta, candidates: set.candidates
                )
                let d1 = try ExecutorDraw.executor(
                    inferenceID: id, epochSeed: set.epochSeed, attempt: 1, transferAgent: ta, candidates: set.candidates
                )
                if let d0, d0 != d1 {
                    chosen = (body, headers, d0)
                    break
                }
            }
            let pick = try #require(chosen)
            let downIndex = try #require(net.accountKeys.firstIndex { $0.publicKey.address == pick.first })
            let adminPort = try await net.services[downIndex].adminPort()
            let listed = try await get("http://127.0.0.1:\(adminPort)/admin/mlnodes")
            let mlID = try #require(
                (try JSONSerialization.jsonObject(with: Data(listed.body)) as? [[String: Any]])?.first?["id"] as? String
            )
            let disabled = try await post(
                "http://127.0.0.1:\(adminPort)/admin/mlnodes/\(mlID)/disable", body: [], headers: [])
            #expect(disabled.status == 200)
            let missesBefore = net.apiNodes[0].metrics.value("gonka_api_executor_misses_total")
            let failover = try await post(url, body: pick.body, headers: pick.headers)
            #expect(failover.status == 200, "\(failover.text)")
            #expect(failover.headers["x-gonka-attempt"] == "1")
            #expect(failover.headers["x-gonka-executor"] != pick.first.description)
            #expect(net.apiNodes[0].metrics.value("gonka_api_executor_misses_total") == missesBefore + 1)
            // The ledger records the skipped executor's reported miss from the Start of attempt 1.
            var misses: UInt64 = 0
            for _ in 0..<100 {
                misses = try await chain.misses(pick.first).reported
                if misses >= 1 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(misses == 1)
            _ = try await post("http://127.0.0.1:\(adminPort)/admin/mlnodes/\(mlID)/enable", body: [], headers: [])

            // Public routes.
            let models = try await get(net.apiURLs[1] + "/v1/models")
            #expect(((models.json["data"] as? [[String: Any]])?.map { $0["id"] as? String }) == [Model.id])
            let participants = try await get(net.apiURLs[1] + "/v1/participants")
            #expect((participants.json["data"] as? [Any])?.count == 3)
            #expect(try await get(net.apiURLs[1] + "/v1/pricing").status == 200)
            let epoch = try await get(net.apiURLs[1] + "/v1/epochs/current")
            #expect(epoch.status == 200)
            #expect(epoch.json["stage"] is String && epoch.json["epoch_length"] != nil, "\(epoch.text)")
            let metrics = try await get(net.apiURLs[0] + "/metrics")
            #expect(metrics.text.contains("gonka_api_forwarded_total 3"))
            #expect(try await get(net.apiURLs[0] + "/v1/nothing").status == 404)
        }
    }
}

/// The executor dies mid-stream: the client gets an error event and the end of the stream at
/// once, not a hang.
extension EndToEndTests {
    /// The path's phase timings: the TA's `Server-Timing` carries the executor's phases up to its
    /// head, then the TA's own; both nodes keep the whole trace, streaming marks included, in path
    /// order on one clock (one process here).
    static func expectPathTiming(_ header: String?, id: String, net: TestNet, executor: Address) async throws {
        let timing = PathTrace.parseServerTiming(try #require(header, "no Server-Timing header"))
        #expect(
            timing.map(\.name) == [
                "exec-verify", "exec-rewrite", "exec-ml-head", "ta-verify", "ta-count", "ta-escrow", "ta-draw",
                "ta-forward",
            ])
        // The forward's round trip contains the executor's work up to its head.
        let executorWork = timing.prefix(3).map(\.milliseconds).reduce(0, +)
        #expect(try #require(timing.last).milliseconds >= executorWork)
        let executorNode = try #require(net.apiNodes.first { $0.address == executor })
        var taTrace = net.apiNodes[0].traces.entries(for: id).first?.trace
        var executorTrace = executorNode.traces.entries(for: id).first?.trace
        // Both are logged when their node's stream ends, just after the client saw the end.
        for _ in 0..<100 where taTrace == nil || executorTrace?.instant(of: .execStored) == nil {
            try await Task.sleep(for: .milliseconds(20))
            taTrace = net.apiNodes[0].traces.entries(for: id).first?.trace
            executorTrace = executorNode.traces.entries(for: id).first?.trace
        }
        let ta = try #require(taTrace).marks
        let exec = try #require(executorTrace).marks
        #expect(
            ta.map(\.mark) == [
                .taReceived, .taVerified, .taCounted, .taEscrowed, .taDrawn, .taHead, .taFirstByte, .taFirstToken,
                .taEnd,
            ])
        #expect(
            exec.map(\.mark) == [
                .execReceived, .execVerified, .execRewritten, .execMLHead, .execMLFirstToken, .execFirstRelayed,
                .execMLEnd, .execEnd, .execStored,
            ])
        #expect(zip(ta, ta.dropFirst()).allSatisfy { $0.at <= $1.at })
        #expect(zip(exec, exec.dropFirst()).allSatisfy { $0.at <= $1.at })
        // Across the nodes: received after the draw, the ML node's head before the TA saw the
        // executor's, the first token and the end at the executor before the TA relayed them.
        let at = Dictionary(uniqueKeysWithValues: (ta + exec).map { ($0.mark, $0.at) })
        #expect(at[.taDrawn]! <= at[.execReceived]! && at[.execMLHead]! <= at[.taHead]!)
        #expect(at[.execMLFirstToken]! <= at[.taFirstToken]! && at[.execMLEnd]! <= at[.taEnd]!)
    }
}

@Suite(.serialized, .hangGuard) struct ExecutorFailureTests {
    @Test(.timeLimit(.minutes(5))) func executorKilledMidStreamEndsTheClientStreamPromptly() async throws {
        try await TestNet.with { net in
            let ta = net.accountKeys[0].publicKey.address
            let body = chatBody("Write a long story about the sea.", maxTokens: 400, stream: true)
            var request = HTTPClientRequest(url: net.apiURLs[0] + "/v1/chat/completions")
            request.method = .POST
            for (name, value) in BadInputTests.signed(body, key: net.wallet[0], ta: ta) {
                request.headers.add(name: name, value: value)
            }
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await testHTTP.execute(request, timeout: .seconds(60))
            #expect(response.status == .ok)
            let executor = try #require(response.headers.first(name: GonkaHeader.executor))
            let index = try #require(net.accountKeys.firstIndex { $0.publicKey.address.description == executor })
            var text = ""
            var killedAt: ContinuousClock.Instant?
            for try await buffer in response.body {
                text += String(buffer: buffer)
                if killedAt == nil, text.contains("\"content\"") {
                    // Stop the executor's API node and its ML node (its task in the test net).
                    killedAt = .now
                    net.tasks[2 * index + 1].cancel()
                }
            }
            let elapsed = ContinuousClock.now - (killedAt ?? .now)
            #expect(killedAt != nil)
            #expect(elapsed < .seconds(10), "the stream ended \(elapsed) after the executor died")
            #expect(text.contains("upstream_failed"), "no error event: \(text.suffix(300))")
            #expect(text.hasSuffix("data: [DONE]\n\n"))
        }
    }
    /// A non-streamed request whose ML node dies mid-generation: the executor has sent its 200
    /// head long before and can only end the body with an error object; the TA reads the answer
    /// whole and gives the client a 502 with the reason, never a 200 without `choices`.
    @Test(.timeLimit(.minutes(5))) func mlNodeDyingMidAnswerIsA502ForANonStreamedRequest() async throws {
        try await TestNet.with(participants: 2) { net in
            let backend = NativeBackend(
                model: try Model.loaded.get(), id: Model.id, parallel: 1, queue: 8, threads: 1, contextLength: 512)
            let port = Mutex<Int?>(nil)
            let mlNode = Task {
                try await MLNodeServer.application(
                    backend: backend, port: 0, gracePeriod: .milliseconds(100), logger: TestNet.logger("dying-ml")
                ) { bound in port.withLock { $0 = bound } }.run()
            }
            defer { mlNode.cancel() }
            let deadline = ContinuousClock.now + .seconds(60)
            while port.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let url = "http://127.0.0.1:\(try #require(port.withLock { $0 }, "the ML node never listened"))"
            // Every executor's only ML node is the one that will die.
            var dying: [(MLNodeRegistry, String)] = []
            for api in net.apiNodes {
                for entry in api.registry.list() { _ = api.registry.setEnabled(entry.id, false) }
                dying.append((api.registry, api.registry.add(url: url, model: Model.id).id))
            }
            let ta = net.accountKeys[0].publicKey.address
            let body = chatBody("Write a long story about the sea.", maxTokens: 400)
            let answer = Task {
                try await post(
                    net.apiURLs[0] + "/v1/chat/completions", body: body,
                    headers: BadInputTests.signed(body, key: net.wallet[0], ta: ta))
            }
            // Killed once an executor is generating on it.
            while !dying.contains(where: { registry, id in registry.list().contains { $0.id == id && $0.inFlight > 0 } }
            ),
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(300))
            mlNode.cancel()
            let result = try await answer.value
            #expect(result.status == 502, "\(result.status): \(result.text.prefix(300))")
            #expect(result.errorCode == "upstream_failed", "\(result.text.prefix(300))")
            #expect(result.text.contains("mid-answer"), "\(result.text.prefix(300))")
            #expect(result.headers["x-gonka-inference-id"] != nil, "the client can still look the inference up")

            // No ML node at all for the model: each drawn executor says so (503 no_ml_node, not a
            // 429 "overloaded"), the TA fails over through all of them, and the client is told why.
            for (registry, id) in dying { _ = registry.remove(id) }
            let again = chatBody("Another story.", maxTokens: 4)
            let none = try await post(
                net.apiURLs[0] + "/v1/chat/completions", body: again,
                headers: BadInputTests.signed(again, key: net.wallet[0], ta: ta))
            #expect(none.status == 502, "\(none.status): \(none.text.prefix(300))")
            #expect(none.text.contains("503 no_ml_node"), "\(none.text.prefix(300))")
        }
    }
    /// A signed request whose first three draws from `set` satisfy `wanted` (tried over 64 prompts).
    static func request(
        _ tag: String, net: TestNet, set: ChainView.ExecutorSet, _ wanted: ([Address?]) -> Bool
    ) throws -> (body: [UInt8], headers: [(String, String)], draws: [Address?])? {
        let ta = net.accountKeys[0].publicKey.address
        for i in 0..<64 {
            let body = chatBody("\(tag) \(i).", maxTokens: 4)
            let headers = BadInputTests.signed(body, key: net.wallet[0], ta: ta)
            let signed = try SignedRequest(body: body) { name in
                headers.first { $0.0.lowercased() == name.lowercased() }?.1
            }
            let draws = try (0..<UInt32(3)).map { attempt in
                try ExecutorDraw.executor(
                    inferenceID: signed.inferenceID, epochSeed: set.epochSeed, attempt: attempt, transferAgent: ta,
                    candidates: set.candidates)
            }
            if wanted(draws) { return (body, headers, draws) }
        }
        return nil
    }

    /// Stages `view`'s executor pool as `only` alone, as a view one pool change behind would be.
    /// The node's follower refreshes the view at every block, so a test checks that the stale view
    /// was used (the re-read counter moved) and tries again when a block came first.
    static func stage(_ view: ChainView, only: Address..., seed: Hash) { stage(view, only: only, seed: seed) }

    static func stage(_ view: ChainView, only: [Address], seed: Hash) {
        view.cache.withLock {
            $0.executors[Model.id] = (
                ContinuousClock.now,
                ChainView.ExecutorSet(
                    epochSeed: seed, candidates: only.map { .init(address: $0, weight: 1) }, fromParticipants: false)
            )
        }
    }

    /// The TA's view of the executor pool one change behind (an epoch began, an executor left):
    /// its draw names an executor that is not the draw, which answers 403 `not_the_draw`; the TA
    /// reads the pool again and draws the same attempt from it instead of failing over. The stale
    /// view here names a participant that is not attempt 0's draw: with the re-read attempt 0 is
    /// served; without it attempt 0 is refused and skipped (a miss for nothing), and the stale
    /// participant answers a later attempt whose draw it is.
    @Test(.timeLimit(.minutes(5))) func aTransferAgentOnePoolBehindReadsItAgain() async throws {
        try await TestNet.with(participants: 3) { net in
            let ta = net.accountKeys[0].publicKey.address
            let view = net.apiNodes[0].chain
            let sample = "gonka_api_executor_set_rereads_total{role=\"ta\"}"
            var exercised = 0
            for round in 0..<5 where exercised == 0 {
                let real = try await view.executors(model: Model.id, refresh: true)
                let participants = real.candidates.map(\.address)
                var stale: Address?
                let found = try Self.request("Pool \(round)", net: net, set: real) { draws in
                    stale = participants.first { $0 != ta && $0 != draws[0] }
                    return stale != nil && draws[0] != nil
                }
                let (body, headers, draws) = try #require(found, "no request draws a participant first in 64 tries")
                let avoided = try #require(stale)
                let before = net.apiNodes[0].metrics.value(sample)
                // The TA itself stays in it (out of the pool it would refuse as not_participant);
                // it draws itself only when alone.
                Self.stage(view, only: avoided, ta, seed: real.epochSeed)
                let answer = try await post(net.apiURLs[0] + "/v1/chat/completions", body: body, headers: headers)
                #expect(answer.status == 200, "\(answer.status): \(answer.text.prefix(300))")
                if net.apiNodes[0].metrics.value(sample) > before {
                    exercised += 1
                    #expect(answer.headers["x-gonka-executor"] == draws[0]?.description)
                    #expect(answer.headers["x-gonka-attempt"] == "0")
                }
            }
            #expect(exercised > 0, "the stale view was never used in 5 rounds")
        }
    }

    /// The executor's view one change behind the TA's: the draw names it, its own stale view names
    /// another; it reads the pool again before refusing, and serves attempt 0.
    @Test(.timeLimit(.minutes(5))) func anExecutorOnePoolBehindReadsItAgain() async throws {
        try await TestNet.with(participants: 3) { net in
            let ta = net.accountKeys[0].publicKey.address
            let sample = "gonka_api_executor_set_rereads_total{role=\"executor\"}"
            var exercised = 0
            for round in 0..<5 where exercised == 0 {
                let real = try await net.apiNodes[0].chain.executors(model: Model.id, refresh: true)
                let found = try Self.request("Executor pool \(round)", net: net, set: real) { draws in
                    draws[0] != nil && draws[0] != ta
                }
                let (body, headers, draws) = try #require(found, "no request draws another node first in 64 tries")
                let executor = try #require(net.apiNodes.first { $0.address == draws[0] })
                let before = executor.metrics.value(sample)
                // Its stale view: only the TA serves, so its own draw names the TA.
                Self.stage(executor.chain, only: ta, seed: real.epochSeed)
                let answer = try await post(net.apiURLs[0] + "/v1/chat/completions", body: body, headers: headers)
                #expect(answer.status == 200, "\(answer.status): \(answer.text.prefix(300))")
                if executor.metrics.value(sample) > before {
                    exercised += 1
                    #expect(answer.headers["x-gonka-executor"] == executor.address.description)
                    #expect(answer.headers["x-gonka-attempt"] == "0", "served by the first draw, not a failover")
                }
            }
            #expect(exercised > 0, "the stale view was never used in 5 rounds")
        }
    }
}
