import APINode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Testing

/// Every bad-input case of issue 7 at the Transfer Agent and at the executor: the right status,
/// an OpenAI-style error body, and nothing charged.
@Suite(.serialized, .hangGuard) struct BadInputTests {
    /// The developer headers for `body`, signed by `key` for TA `ta`.
    static func signed(
        _ body: [UInt8], key: SigningKey, ta: Address, timestamp: Int64 = nowNanos(), publicKey: Bool = true
    ) -> [(String, String)] {
        SignedRequest.headers(
            body: body, key: key, transferAgent: ta, chainID: TestChain.chainID, timestamp: timestamp,
            includePublicKey: publicKey)
    }

    /// The headers a TA adds when it forwards to `executor` (signed by `taKey`).
    static func forwarded(
        _ body: [UInt8], developer: SigningKey, taKey: SigningKey, executor: Address, attempt: UInt32,
        timestamp: Int64 = nowNanos()
    ) -> [(String, String)] {
        let ta = taKey.publicKey.address
        var headers = signed(body, key: developer, ta: ta, timestamp: timestamp)
        let bytes = InferenceRequestSigning.transferAgentSignBytes(
            chainID: TestChain.chainID, bodyHash: Hash.sha256(body), timestamp: timestamp, transferAgent: ta,
            executor: executor, attempt: attempt)
        headers += [
            (GonkaHeader.executor, executor.description), (GonkaHeader.attempt, "\(attempt)"),
            (GonkaHeader.taPublicKey, taKey.publicKey.hex),
            (GonkaHeader.taSignature, Data(taKey.signature(for: bytes)).base64EncodedString()),
        ]
        return headers
    }

    static func expect(_ result: HTTPResult, status: Int, code: String, _ what: String) {
        #expect(result.status == status, "\(what): \(result.status) \(result.text)")
        #expect(result.errorCode == code, "\(what): \(result.text)")
        let error = result.json["error"] as? [String: Any]
        #expect(error?["message"] is String && error?["type"] is String, "\(what): not an OpenAI error body")
    }

    @Test(.timeLimit(.minutes(5))) func transferAgentAndExecutorRefuseBadInput() async throws {
        try await TestNet.with { net in
            let ta = net.accountKeys[0].publicKey.address
            let url = net.apiURLs[0] + "/v1/chat/completions"
            let developer = net.wallet[0]
            let chain = try net.chain(0)
            let before = try await chain.balance(developer.publicKey.address)

            // Forged: the signature is over another body.
            let body = chatBody("hello")
            var headers = Self.signed(chatBody("other"), key: developer, ta: ta)
            Self.expect(
                try await post(url, body: body, headers: headers), status: 401, code: "invalid_signature", "forged")
            // Signed by another key than the address's.
            headers = Self.signed(body, key: net.wallet[1], ta: ta, publicKey: false)
            headers = headers.map { $0.0 == GonkaHeader.address ? ($0.0, developer.publicKey.address.description) : $0 }
            headers.append((GonkaHeader.publicKey, developer.publicKey.hex))
            Self.expect(
                try await post(url, body: body, headers: headers), status: 401, code: "invalid_signature", "wrong key")
            // A key that does not hash to the address.
            headers =
                Self.signed(body, key: developer, ta: ta, publicKey: false) + [
                    (GonkaHeader.publicKey, net.wallet[1].publicKey.hex)
                ]
            Self.expect(
                try await post(url, body: body, headers: headers), status: 401, code: "invalid_signature", "foreign key"
            )
            // Stale and from the future.
            headers = Self.signed(body, key: developer, ta: ta, timestamp: nowNanos() - 120_000_000_000)
            Self.expect(try await post(url, body: body, headers: headers), status: 401, code: "stale_request", "stale")
            headers = Self.signed(body, key: developer, ta: ta, timestamp: nowNanos() + 120_000_000_000)
            Self.expect(try await post(url, body: body, headers: headers), status: 401, code: "stale_request", "future")
            // No Authorization at all.
            Self.expect(
                try await post(url, body: body, headers: []), status: 401, code: "invalid_signature", "unsigned")
            // Unknown requester: never sent a tx (no key on chain) and no key header.
            let stranger = SigningKey()
            headers = Self.signed(body, key: stranger, ta: ta, publicKey: false)
            Self.expect(
                try await post(url, body: body, headers: headers), status: 401, code: "unknown_requester", "unknown")
            // Insufficient balance: a valid signature from an empty account.
            headers = Self.signed(body, key: stranger, ta: ta)
            Self.expect(
                try await post(url, body: body, headers: headers), status: 402, code: "insufficient_balance", "balance")
            // Unknown model.
            let unknown = chatBody("hello", model: "no-such-model")
            headers = Self.signed(unknown, key: developer, ta: ta)
            Self.expect(
                try await post(url, body: unknown, headers: headers), status: 404, code: "model_not_found", "model")
            // Addressed to another TA.
            headers = Self.signed(body, key: developer, ta: net.accountKeys[1].publicKey.address)
            Self.expect(
                try await post(url, body: body, headers: headers), status: 403, code: "not_addressed_to_this_node",
                "other TA")
            // Oversized body (the limit is 1 MiB).
            let huge = chatBody(String(repeating: "a", count: 1 << 20 + 10))
            headers = Self.signed(huge, key: developer, ta: ta)
            Self.expect(try await post(url, body: huge, headers: headers), status: 413, code: "body_too_large", "size")
            // Refused before any escrow, naming the field: a schema that does not compile, a
            // penalty out of range, a logit_bias that is not an object of numbers.
            for (extra, param) in [
                (
                    #","response_format":{"type":"json_schema","json_schema":{"schema":{"type":"strin"}}}"#,
                    "response_format.json_schema.schema.type"
                ),
                (#","presence_penalty":3"#, "presence_penalty"),
                (#","logit_bias":{"7":"high"}"#, "logit_bias"),
            ] {
                let bad = chatBody("hello", extra: extra)
                headers = Self.signed(bad, key: developer, ta: ta)
                let result = try await post(url, body: bad, headers: headers)
                Self.expect(result, status: 400, code: "invalid_request", param)
                #expect((result.json["error"] as? [String: Any])?["param"] as? String == param, "\(result.text)")
            }
            // Not JSON.
            let junk = Array("not json".utf8)
            headers = Self.signed(junk, key: developer, ta: ta)
            Self.expect(try await post(url, body: junk, headers: headers), status: 400, code: "invalid_request", "junk")

            // Replay: the same signed request twice; the first runs, the second is refused.
            let once = chatBody("Say hi", maxTokens: 2)
            headers = Self.signed(once, key: developer, ta: ta)
            let first = try await post(url, body: once, headers: headers)
            #expect(first.status == 200, "first: \(first.text)")
            Self.expect(
                try await post(url, body: once, headers: headers), status: 409, code: "replayed_request", "replay")

            // --- the executor route ---
            let taKey = net.accountKeys[0]
            let set = try await net.apiNodes[0].chain.executors(model: Model.id)
            // A request whose draw for attempt 0 is known.
            let request = chatBody("executor", maxTokens: 2)
            let stamp = nowNanos()
            let devHeaders = Self.signed(request, key: developer, ta: ta, timestamp: stamp)
            let signature = Data(base64Encoded: String(devHeaders.first { $0.0 == "Authorization" }!.1.dropFirst(6)))!
            let id = InferenceRequestSigning.inferenceID(developerSignature: Array(signature))
            let drawn = try #require(
                try ExecutorDraw.executor(
                    inferenceID: id, epochSeed: set.epochSeed, attempt: 0, transferAgent: ta, candidates: set.candidates
                ))
            let drawnIndex = try #require(net.accountKeys.firstIndex { $0.publicKey.address == drawn })
            let otherIndex = [1, 2].first { $0 != drawnIndex }!
            let other = net.accountKeys[otherIndex].publicKey.address
            func executorURL(_ i: Int) -> String { net.apiURLs[i] + "/v1/executor/chat/completions" }

            // Addressed to another executor than the node that receives it.
            var fwd = Self.forwarded(
                request, developer: developer, taKey: taKey, executor: drawn, attempt: 0, timestamp: stamp)
            Self.expect(
                try await post(executorURL(otherIndex), body: request, headers: fwd), status: 403,
                code: "not_addressed_to_this_node", "executor: not addressed")
            // Addressed to a node that is not the draw for the attempt.
            fwd = Self.forwarded(
                request, developer: developer, taKey: taKey, executor: other, attempt: 0, timestamp: stamp)
            Self.expect(
                try await post(executorURL(otherIndex), body: request, headers: fwd), status: 403, code: "not_the_draw",
                "executor: not the draw")
            // Forged TA signature (signed by a developer key claiming to be the TA's).
            fwd = Self.forwarded(
                request, developer: developer, taKey: taKey, executor: drawn, attempt: 0, timestamp: stamp)
            fwd = fwd.map {
                $0.0 == GonkaHeader.taSignature
                    ? ($0.0, Data(developer.signature(for: [1, 2, 3])).base64EncodedString()) : $0
            }
            Self.expect(
                try await post(executorURL(drawnIndex), body: request, headers: fwd), status: 401,
                code: "invalid_signature", "executor: forged TA signature")
            // A TA that is not a participant.
            let outsider = chatBody("outsider TA", maxTokens: 2)
            fwd = Self.forwarded(outsider, developer: developer, taKey: net.wallet[2], executor: drawn, attempt: 0)
            Self.expect(
                try await post(executorURL(drawnIndex), body: outsider, headers: fwd), status: 403,
                code: "transfer_agent_not_in_pool", "executor: TA not a participant")
            // A TA that is a participant but outside the epoch's executor pool (registered after
            // the epoch began: weight 0). The chain would refuse its Start, so its forward is too.
            let latecomer = net.wallet[2]
            var register = Wire.MsgRegisterParticipant()
            register.participant = latecomer.publicKey.address.description
            register.url = "http://127.0.0.1:9"
            register.consensusPubkey = Data(latecomer.publicKey.bytes)
            register.p2PPubkey = Data(latecomer.publicKey.bytes)
            _ = try await chain.signAndBroadcast([Wire.Msg(register)], key: latecomer)
            let executorNode = net.apiNodes[drawnIndex]
            for _ in 0..<100 {
                let known = try await executorNode.chain.participants(refresh: true)
                if known.contains(where: { $0.address == latecomer.publicKey.address.description }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            fwd = Self.forwarded(outsider, developer: developer, taKey: latecomer, executor: drawn, attempt: 0)
            let outOfPool = try await post(executorURL(drawnIndex), body: outsider, headers: fwd)
            Self.expect(
                outOfPool, status: 403, code: "transfer_agent_not_in_pool", "executor: TA outside the pool")
            #expect(outOfPool.text.contains("not in the executor pool"), "\(outOfPool.text)")
            // Stale.
            let old = nowNanos() - 120_000_000_000
            fwd = Self.forwarded(
                request, developer: developer, taKey: taKey, executor: drawn, attempt: 0, timestamp: old)
            Self.expect(
                try await post(executorURL(drawnIndex), body: request, headers: fwd), status: 401,
                code: "stale_request",
                "executor: stale")
            // Oversized.
            fwd = Self.forwarded(huge, developer: developer, taKey: taKey, executor: drawn, attempt: 0)
            Self.expect(
                try await post(executorURL(drawnIndex), body: huge, headers: fwd), status: 413, code: "body_too_large",
                "executor: size")
            // Replay: the valid forward runs once, the copy is refused.
            fwd = Self.forwarded(
                request, developer: developer, taKey: taKey, executor: drawn, attempt: 0, timestamp: stamp)
            let ran = try await post(executorURL(drawnIndex), body: request, headers: fwd)
            #expect(ran.status == 200, "executor: first \(ran.text)")
            Self.expect(
                try await post(executorURL(drawnIndex), body: request, headers: fwd), status: 409,
                code: "replayed_request", "executor: replay")

            // Nothing charged for the refused requests: the developer paid exactly the cost of the
            // one request the TA accepted (the executor run sent directly, without a TA, has no
            // Start, so it escrows nothing).
            let acceptedID = try #require(first.headers["x-gonka-inference-id"])
            var settled: InferenceRecordInfo?
            for _ in 0..<200 {
                settled = try await chain.inference(acceptedID)
                if settled?.status == "FINISHED" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let cost = try #require(settled?.cost.ngonka)
            #expect(settled?.status == "FINISHED")
            let after = try await chain.balance(developer.publicKey.address)
            #expect(before.ngonka - after.ngonka == cost)
            let strangerBalance = try await chain.balance(stranger.publicKey.address)
            #expect(strangerBalance == .zero)
            #expect(net.apiNodes[0].metrics.value("gonka_api_forwarded_total") == 1)
        }
    }
}
