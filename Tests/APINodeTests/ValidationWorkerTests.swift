import AsyncHTTPClient
import Foundation
import GonkaCore
import HTTPTypes
import Hummingbird
import Inference
import NIOCore
import Synchronization
import Testing
import Verification

@testable import APINode

/// The validator's worker side of PROTOCOL §7.2 that needs no model: reading a fetched payload
/// (every malformed class fails `commitment`, never crashes) and fetching it (a real HTTP server
/// that refuses, stalls, overflows or answers late).
@Suite(.hangGuard)
struct ValidationWorkerTests {
    static func key(_ byte: UInt8) -> SigningKey {
        // A constant 32-byte seed is always a valid key.
        (try? SigningKey(seed: [UInt8](repeating: byte, count: 32)))!
    }
    static let executor = key(7).publicKey.address
    static let id = String(repeating: "ab", count: 32)

    static func payload(
        request: String, id: String = id, executor: Address = executor, tokens: Int = 3
    )
        -> InferencePayload
    {
        InferencePayload(
            inferenceID: id, executor: executor.description, model: "m", request: Array(request.utf8),
            promptTokens: 4, completionTokens: UInt64(tokens), finishReason: "stop",
            tokens: (0..<tokens).map { i in
                .init(token: UInt32(10 + i), logprob: -0.5, top: [.init(token: UInt32(10 + i), logprob: -0.5)])
            })
    }

    @Test func aWellFormedPayloadGivesPromptSamplingAndPositions() throws {
        let chat = Self.payload(
            request:
                #"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"top_p":0.9,"top_k":40,"min_p":0.05,"seed":-3}"#
        )
        let input = try ValidationInput(bytes: chat.encoded, inferenceID: Self.id, executor: Self.executor)
        #expect(input.prompt == .chat([.init(role: "user", content: "hi")]))
        #expect(
            input.sampling == .init(temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, seed: UInt64(bitPattern: -3)))
        #expect(input.completion == [10, 11, 12])
        #expect(input.positions.count == 3)
        // OpenAI defaults when the request names none; legacy completions by text or ids.
        let plain = try ValidationInput(
            bytes: Self.payload(request: #"{"model":"m","prompt":"once upon"}"#).encoded, inferenceID: Self.id,
            executor: Self.executor)
        #expect(plain.prompt == .text("once upon"))
        #expect(plain.sampling == .init())
        let ids = try ValidationInput(
            bytes: Self.payload(request: #"{"model":"m","prompt":[1,2,3]}"#).encoded, inferenceID: Self.id,
            executor: Self.executor)
        #expect(ids.prompt == .tokens([1, 2, 3]))
        // logit_bias and the penalties travel to the replay, and count as shaping the draws.
        let penalised = try ValidationInput(
            bytes: Self.payload(
                request:
                    #"{"prompt":"x","logit_bias":{"7":-100,"3":2.5},"presence_penalty":0.5,"frequency_penalty":-1,"repetition_penalty":1.25}"#
            ).encoded, inferenceID: Self.id, executor: Self.executor)
        #expect(
            penalised.sampling.adjustments
                == (try LogitAdjustments(
                    logitBias: [3: 2.5, 7: -100], presencePenalty: 0.5, frequencyPenalty: -1, repetitionPenalty: 1.25,
                    vocabularySize: 8)))
        #expect(penalised.sampling.check.constrained)
        #expect(!plain.sampling.check.constrained)
    }

    /// Drawn votes (they have a deadline) are taken before sampled checks, each kind oldest first,
    /// across the queue's compaction of taken checks.
    /// The check queue is bounded in bytes (`[memory] validation_queue_mb`): past the limit the
    /// oldest check goes (counted), votes never.
    @Test func checksAreBoundedOldestFirstAndVotesAreNot() {
        func check(_ i: Int) -> ValidationWorker.Job { .init(inferenceID: "c\(10_000 + i)", vote: false) }
        var pending = ValidationWorker.Pending(checkLimitBytes: 1000 * check(0).cost)
        var pushedOut: [String] = []
        for i in 0..<2500 {
            if let out = pending.push(check(i)) { pushedOut.append(out.inferenceID) }
            if i % 500 == 0 { #expect(pending.push(.init(inferenceID: "v\(i)", vote: true)) == nil) }
        }
        #expect(pushedOut == (0..<1500).map { check($0).inferenceID })
        #expect(pending.dropped == 1500)
        #expect(pending.count == 1000 + 5)
        #expect(pending.checkBytes == 1000 * check(0).cost)
        var order: [String] = []
        while let job = pending.pop() { order.append(job.inferenceID) }
        #expect(order == ["v0", "v500", "v1000", "v1500", "v2000"] + (1500..<2500).map { check($0).inferenceID })
        #expect(pending.checkBytes == 0)
    }

    @Test func votesGoBeforeChecks() {
        var pending = ValidationWorker.Pending()
        for i in 0..<3000 { pending.push(.init(inferenceID: "c\(i)", vote: false)) }
        pending.push(.init(inferenceID: "v1", vote: true))
        #expect(pending.count == 3001)
        #expect(pending.pop()?.inferenceID == "v1")
        #expect(pending.pop()?.inferenceID == "c0")
        var order: [String] = []
        for i in 1..<2500 {
            if i == 1500 { pending.push(.init(inferenceID: "v2", vote: true)) }
            order.append(pending.pop()?.inferenceID ?? "none")
        }
        #expect(order[1498] == "c1499" && order[1499] == "v2" && order[1500] == "c1500")
        while let job = pending.pop() { order.append(job.inferenceID) }
        #expect(order.filter { $0.hasPrefix("c") } == (1..<3000).map { "c\($0)" })
        #expect(pending.count == 0 && pending.pop() == nil)
    }

    /// Each class of bad payload is the executor's fault: a typed error, never a crash.
    @Test func malformedPayloadsAreTypedErrors() throws {
        let good = Self.payload(request: #"{"model":"m","prompt":"x"}"#).encoded
        var cases: [(String, [UInt8], String, Address)] = [
            ("empty", [], Self.id, Self.executor),
            ("truncated", Array(good.dropLast(3)), Self.id, Self.executor),
            ("trailing bytes", good + [0], Self.id, Self.executor),
            ("another inference", good, String(repeating: "cd", count: 32), Self.executor),
            ("another executor", good, Self.id, Self.key(8).publicKey.address),
        ]
        for request in [
            "not json", #"["an array"]"#, #"{"model":"m"}"#, #"{"messages":[]}"#, #"{"messages":[{"role":1}]}"#,
            #"{"prompt":"x","temperature":-1}"#, #"{"prompt":"x","top_p":0}"#, #"{"prompt":"x","min_p":2}"#,
            #"{"prompt":[-1]}"#, #"{"prompt":"x","presence_penalty":3}"#, #"{"prompt":"x","repetition_penalty":0}"#,
            #"{"prompt":"x","logit_bias":{"a":1}}"#, #"{"prompt":"x","logit_bias":{"1":101}}"#,
            #"{"prompt":"x","logit_bias":[1]}"#, #"{"prompt":"x","frequency_penalty":"high"}"#,
        ] {
            cases.append(("request \(request)", Self.payload(request: request).encoded, Self.id, Self.executor))
        }
        for (name, bytes, id, executor) in cases {
            #expect(throws: ValidationInputError.self, "\(name)") {
                try ValidationInput(bytes: bytes, inferenceID: id, executor: executor)
            }
        }
    }

    /// A server that answers the payload route per id: refuse, overflow, answer on the third try,
    /// or answer at once; it records the signed headers it saw.
    @Test(.timeLimit(.minutes(2))) func fetchingRetriesRefusesOversizeAndSigns() async throws {
        let good = Self.payload(request: #"{"prompt":"x"}"#).encoded
        let tries = Mutex<[String: Int]>([:])
        let router = Router()
        router.get("/v1/inferences/:id/payload") { request, context -> Response in
            let id = context.parameters.get("id") ?? ""
            let n = tries.withLock { t -> Int in
                t[id, default: 0] += 1
                return t[id]!
            }
            guard request.headers[HTTPField.Name("X-Gonka-Address")!] != nil,
                request.headers[.authorization]?.hasPrefix("Gonka ") == true
            else { return Response(status: .unauthorized) }
            switch id.prefix(2) {
            case "aa": return Response(status: .notFound)
            case "bb":
                return Response(
                    status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: [UInt8](repeating: 1, count: 4096))))
            case "cc" where n < 3: return Response(status: .serviceUnavailable)
            case "ee": return Response(status: .badGateway)
            default: return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: good)))
            }
        }
        let (ports, portsIn) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portsIn.yield($0.localAddress?.port ?? 0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            defer { group.cancelAll() }  // also when a check below returns early
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let fetcher = PayloadFetcher(
                http: HTTPClient.shared, key: Self.key(9), chainID: "c",
                attempts: 3, firstBackoff: .milliseconds(20), maxBytes: 1024)
            let base = "http://127.0.0.1:\(port)"
            func fetch(_ prefix: String) async -> PayloadFetcher.Outcome {
                await fetcher.fetch(
                    inferenceID: prefix + String(repeating: "0", count: 62), executor: Self.executor, baseURL: base,
                    now: { 1 })
            }
            guard case .unavailable(let refused) = await fetch("aa") else {
                Issue.record("a refused payload is unavailable")
                return
            }
            #expect(refused.contains("404"))
            #expect(tries.withLock { $0["aa" + String(repeating: "0", count: 62)] } == 3, "tried three times")
            guard case .unavailable(let big) = await fetch("bb") else {
                Issue.record("an oversized payload is unavailable")
                return
            }
            #expect(big.contains("larger than 1024"), "\(big)")
            #expect(await fetch("cc") == .bytes(good), "answered on the third try")
            #expect(await fetch("dd") == .bytes(good))
            // A gateway error on every try: the executor did not answer (checked again later).
            guard case .unreachable(let gateway) = await fetch("ee") else {
                Issue.record("a gateway error on every try is unreachable, not unavailable")
                return
            }
            #expect(gateway.contains("502"), "\(gateway)")
            // Nobody listening: unreachable, not a crash.
            let dead = PayloadFetcher(
                http: HTTPClient.shared, key: Self.key(9), chainID: "c",
                attempts: 2, firstBackoff: .milliseconds(10), timeout: .seconds(1))
            let none = await dead.fetch(
                inferenceID: Self.id, executor: Self.executor, baseURL: "http://127.0.0.1:1", now: { 1 })
            guard case .unreachable = none else {
                Issue.record("nobody listening is unreachable: \(none)")
                return
            }
        }
    }

    /// An unreachable executor's check waits 5, 10, 20, … blocks while the next try comes before
    /// its deadline, then is given up (the payload is unavailable); due checks come out in order.
    @Test func unreachableExecutorsAreCheckedAgainUntilTheDeadline() {
        var deferred = DeferredChecks()
        let a = ValidationWorker.Job(inferenceID: "a", vote: false)
        let b = ValidationWorker.Job(inferenceID: "b", vote: false)
        #expect(deferred.postpone(a, tip: 100, deadline: 160) == 105)
        #expect(deferred.postpone(b, tip: 101, deadline: 103) == nil, "the first try would be past the deadline")
        #expect(deferred.due(at: 104).isEmpty)
        #expect(deferred.due(at: 105) == [a])
        #expect(deferred.count == 0)
        #expect(deferred.postpone(a, tip: 106, deadline: 160) == 116, "the second wait doubles")
        #expect(deferred.postpone(b, tip: 106, deadline: 160) == 111)
        #expect(deferred.due(at: 200) == [a, b], "in the order they were postponed")
        #expect(deferred.postpone(a, tip: 117, deadline: 160) == 137)
        #expect(deferred.postpone(a, tip: 138, deadline: 160) == nil, "40 more blocks would pass the deadline")
        deferred.forget("a")
        #expect(deferred.postpone(a, tip: 138, deadline: 160) == 143, "a verdict sent forgets the tries")
    }
}
