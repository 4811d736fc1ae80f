import APINode
import ChainNode
import Foundation
import GonkaCore
import Testing

@testable import APINode

/// The pure parts: replay cache, freshness, payload encoding, SSE splitting, the rewrite.
struct UnitTests {
    @Test func replayCacheRefusesSeenIDsUntilTheyExpire() {
        // Room for three one-byte ids (`[memory] replay_cache_mb` sets it in bytes).
        let cache = ReplayCache(capacityBytes: 3 * ReplayCache.cost(of: "a"))
        #expect(cache.insert("a", expires: 100, now: 0))
        #expect(!cache.insert("a", expires: 100, now: 50))
        #expect(cache.insert("a", expires: 300, now: 150), "expired entries may come again")
        #expect(cache.insert("b", expires: 300, now: 150))
        #expect(cache.insert("c", expires: 300, now: 150))
        #expect(cache.count == 3)
        #expect(cache.insert("d", expires: 300, now: 150), "past the bound the oldest goes")
        #expect(cache.count == 3)
        #expect(cache.bytes <= cache.capacityBytes)
        #expect(cache.insert("a", expires: 300, now: 150), "a, the oldest, was forgotten")
        // A long id takes the room of several short ones.
        #expect(cache.insert(String(repeating: "x", count: 2 * ReplayCache.cost(of: "a")), expires: 300, now: 150))
        #expect(cache.count == 1)
    }

    /// What the TA accepts as a whole non-streamed answer; each refusal says why.
    @Test func relayedAnswerNeedsAChoice() {
        func check(_ text: String?) -> RelayedAnswer { RelayedAnswer.check(text.map { Array($0.utf8) }) }
        #expect(check(#"{"id":"x","choices":[{"index":0,"message":{"content":"hi"}}]}"#) == .complete)
        #expect(
            check(#"{"error":{"message":"The ML node stopped before the end."}}"#)
                == .failed("The ML node stopped before the end."))
        #expect(check(#"{"error":{"code":"x"}}"#) == .failed("the executor answered an error"))
        #expect(check(#"{"id":"x","choices":[]}"#) == .failed("the answer has no choices"))
        #expect(check(#"{"id":"x"}"#) == .failed("the answer has no choices"))
        #expect(check(#"{"choices":[{"#) == .failed("the answer is not a JSON object (13 bytes)"))
        #expect(check("data: {}\n\n") == .failed("the answer is not a JSON object (10 bytes)"))
        #expect(check("[1]") == .failed("the answer is not a JSON object (3 bytes)"))
        guard case .failed(let why) = check(nil) else { Issue.record("a cut-off body passed"); return }
        #expect(why.contains("cut off"))
    }

    @Test func freshnessWindowIsSixtyBehindThirtyAhead() throws {
        let window = RequestWindow(ChainParams())
        let now: Int64 = 1_000_000_000_000_000
        try window.check(timestamp: now - 59_000_000_000, now: now)
        try window.check(timestamp: now + 29_000_000_000, now: now)
        #expect(throws: APIError.self) { try window.check(timestamp: now - 61_000_000_000, now: now) }
        #expect(throws: APIError.self) { try window.check(timestamp: now + 31_000_000_000, now: now) }
    }

    @Test func payloadRoundTripsAndRejectsDamage() {
        let payload = InferencePayload(
            inferenceID: String(repeating: "ab", count: 32), executor: "gonka1x", model: "m", request: Array("{}".utf8),
            promptTokens: 7, completionTokens: 2, finishReason: "length",
            tokens: [
                .init(token: 5, logprob: -0.25, top: [.init(token: 5, logprob: -0.25), .init(token: 9, logprob: -2)]),
                .init(token: 6, logprob: -1.5, top: []),
            ])
        let bytes = payload.encoded
        #expect(InferencePayload(decoding: bytes) == payload)
        #expect(payload.commitment == Hash.sha256(bytes))
        #expect(InferencePayload(decoding: Array(bytes.dropLast())) == nil)
        #expect(InferencePayload(decoding: bytes + [0]) == nil)
        #expect(InferencePayload(decoding: Array("garbage".utf8)) == nil)
        var changed = payload
        changed.choices[0].tokens[1].logprob = -1.5000001
        #expect(changed.commitment != payload.commitment)
    }

    @Test func payloadStoreRefusesPathsThatAreNotIDs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("payloads-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try PayloadStore(directory: dir, retention: .seconds(1))
        #expect(store.load("../../etc/passwd") == nil)
        let payload = InferencePayload(
            inferenceID: String(repeating: "0f", count: 32), executor: "e", model: "m", request: [], promptTokens: 1,
            completionTokens: 0, finishReason: "stop", tokens: [])
        try store.save(payload)
        #expect(store.load(payload.inferenceID) == payload.encoded)
        #expect(store.files().map(\.id) == [payload.inferenceID])
        #expect(!store.delete("../../etc/passwd"))
        #expect(store.delete(payload.inferenceID))
        #expect(store.load(payload.inferenceID) == nil)
        #expect(!store.delete(payload.inferenceID))
    }

    /// PROTOCOL §3.3 "Outside the ledger": a payload goes with its inference record, the wall-clock
    /// cap takes the rest, and a payload is never dropped on a record not yet on chain.
    @Test func aPayloadGoesWithItsRecordAndTheCapTakesTheRest() {
        let id = String(repeating: "ab", count: 32)
        var retention = PayloadRetention(capSeconds: 3_600)
        // Never seen on chain: asked, and an absent record keeps it (its Finish is on its way).
        #expect(retention.action(id, ageSeconds: 5, epoch: 4) == .ask)
        #expect(retention.answered(id, recordEpoch: nil) == .keep)
        #expect(retention.action(id, ageSeconds: 65, epoch: 4) == .ask)
        // Seen (epoch 4): not asked again before its record can be pruned (epoch 6), nor while
        // the chain's epoch is unknown.
        #expect(retention.answered(id, recordEpoch: 4) == .keep)
        #expect(retention.action(id, ageSeconds: 125, epoch: 4) == .keep)
        #expect(retention.action(id, ageSeconds: 125, epoch: 5) == .keep)
        #expect(retention.action(id, ageSeconds: 125, epoch: nil) == .keep)
        #expect(retention.action(id, ageSeconds: 125, epoch: 6) == .ask)
        // Still there in epoch 6 (deferred, or a longer claim window): kept.
        #expect(retention.answered(id, recordEpoch: 4) == .keep)
        // Gone: pruned by rule, so the payload goes, and the id is forgotten.
        #expect(retention.answered(id, recordEpoch: nil) == .delete)
        #expect(retention.recorded.isEmpty)
        // The cap deletes whatever the chain says, asked or not.
        #expect(retention.answered(id, recordEpoch: 4) == .keep)
        #expect(retention.action(id, ageSeconds: 3_601, epoch: 4) == .delete)
        #expect(retention.action("cd", ageSeconds: 3_601, epoch: nil) == .delete)
        // Files gone are forgotten.
        retention.keepOnly([])
        #expect(retention.recorded.isEmpty)
    }

    @Test func sseSplitterHandlesEventsAcrossBuffers() {
        var splitter = SSESplitter()
        #expect(splitter.push(Array("data: {\"a\":".utf8)).isEmpty)
        #expect(splitter.push(Array("1}\n\ndata: [DONE]\n\n".utf8)) == ["{\"a\":1}", "[DONE]"])
        #expect(splitter.push(Array(": comment\r\n\r\n".utf8)).isEmpty)
    }

    @Test func rewriteForcesLogprobsSeedAndUsage() {
        let chat = ExecutorCapture.rewrite(["model": "m", "top_logprobs": 2], kind: .chat, seed: 42)
        #expect(chat["logprobs"] == true)
        #expect(chat["top_logprobs"] == 5)
        #expect(chat["seed"] == 42)
        #expect(chat["stream"] == true)
        #expect(chat["stream_options"]?["include_usage"] == true)
        let seeded = ExecutorCapture.rewrite(["seed": 7, "top_logprobs": 9], kind: .chat, seed: 42)
        #expect(seeded["seed"] == 7)
        #expect(seeded["top_logprobs"] == 9)
        let completion = ExecutorCapture.rewrite(["logprobs": 1], kind: .completion, seed: 1)
        #expect(completion["logprobs"] == 5)
    }

    /// The usage-only chunk the executor forces is captured, and reaches the client only when it
    /// asked for usage: nothing is sent for it otherwise (it once went out as `data: null`).
    @Test func forcedUsageChunkIsCapturedAndSentOnlyWhenAsked() throws {
        let usageChunk: JSONValue = [
            "id": "c", "object": "chat.completion.chunk", "choices": [],
            "usage": ["prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10],
        ]
        var quiet = ExecutorCapture(kind: .chat, originalBody: ["model": "m", "stream": true])
        #expect(quiet.take(usageChunk) == nil)
        #expect(quiet.promptTokens == 7 && quiet.completionTokens == 3)
        var asked = ExecutorCapture(
            kind: .chat, originalBody: ["model": "m", "stream": true, "stream_options": ["include_usage": true]])
        #expect(asked.take(usageChunk) == usageChunk)
    }

    @Test func signedRequestHeadersVerify() throws {
        let key = SigningKey()
        let ta = SigningKey().publicKey.address
        let body = Array("{}".utf8)
        let headers = Dictionary(
            uniqueKeysWithValues: SignedRequest.headers(
                body: body, key: key, transferAgent: ta, chainID: "c", timestamp: 5
            ).map { ($0.0.lowercased(), $0.1) })
        let parsed = try SignedRequest(body: body) { headers[$0.lowercased()] }
        try parsed.verify(with: key.publicKey, chainID: "c")
        #expect(throws: APIError.self) { try parsed.verify(with: key.publicKey, chainID: "other") }
        let tampered = try SignedRequest(body: body + [32]) { headers[$0.lowercased()] }
        #expect(throws: APIError.self) { try tampered.verify(with: key.publicKey, chainID: "c") }
    }
}

/// The `[api]` keys of config.toml: round trip, and bad values refused with the key named.
struct APIConfigTests {
    @Test func apiKeysRoundTrip() throws {
        var config = NodeConfig(moniker: "n", chainID: "c")
        config.apiEnabled = true
        config.apiML = "embedded"
        config.apiModel = "/models/m.gguf"
        config.apiMLNodes = ["http://127.0.0.1:8081"]
        config.apiAdminListen = "127.0.0.1:9001"
        config.apiFirstByteTimeoutMs = 250
        config.apiPayloadRetentionSeconds = 60
        #expect(try NodeConfig(toml: config.toml) == config)
    }

    @Test(arguments: [
        ("ml = \"gpu\"", "api.ml"),
        ("ml = \"embedded\"", "api.model"),
        ("admin_listen = \"0.0.0.0:9001\"", "loopback"),
        ("executor_first_byte_timeout_ms = 0", "executor_first_byte_timeout_ms"),
        ("enabled = \"yes\"", "api.enabled"),
    ])
    func badAPIValuesAreRefused(line: String, expected: String) {
        let toml = "moniker = \"n\"\nchain_id = \"c\"\n[api]\n\(line)\n"
        do {
            _ = try NodeConfig(toml: toml)
            Issue.record("accepted \(line)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }
}
