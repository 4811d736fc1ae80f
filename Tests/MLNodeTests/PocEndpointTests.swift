import AsyncHTTPClient
import Foundation
import GonkaCore
import Hummingbird
import Logging
import MLNode
import NIOCore
import NIOHTTP1
import ProofOfCompute
import ServerLifecycle
import ServiceLifecycle
import Synchronization
import Testing

/// The `/poc/*` routes over real HTTP on loopback (a real ML node over the embedded model).
@Suite(.hangGuard) struct PocEndpointTests {
    static let h = Hash.sha256("poc endpoint block").hex
    static let pk = Hash.sha256("poc endpoint participant").hex
    static let configuration = MLNodeConfiguration(pocThreads: 1)

    @Test(.timeLimit(.minutes(3))) func validateReturnsTheEngineDistances() async throws {
        let nonces: [UInt64] = [0, 1, 2, 99, 1 << 40, UInt64.max]
        let expected = try PocEngine(blockHashHex: Self.h, config: .devnet, threads: 1)
            .distances(publicKeyHex: Self.pk, nonces: nonces)
        try await TestServer.with(configuration: Self.configuration) { server in
            for config: any Sendable in [
                "devnet",
                [
                    "dim": 128, "n_layers": 2, "n_heads": 4, "vocab": 2048, "ffn_hidden": 512, "seq_len": 8,
                    "norm_eps": 1e-5, "rope_theta": 10_000,
                ] as [String: any Sendable],
            ] {
                let body: [String: any Sendable] = [
                    "config": config, "block_hash": Self.h.uppercased(), "public_key": Self.pk,
                    "nonces": nonces.map { NSNumber(value: $0) },
                ]
                let result = try await server.post("/poc/validate", json: body)
                #expect(result.status == 200, "\(result.text)")
                let got = try #require(result.json["distances"] as? [Double])
                // JSON carries doubles to about an ulp; the fixed-point values are exact.
                #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-12 } && got.count == expected.count)
                let nano = try #require(result.json["distances_nano"] as? [NSNumber]).map(\.uint64Value)
                #expect(nano == expected.map(PocDistance.nano))
            }
            let status = try await server.get("/poc/status")
            #expect(status.json["state"] as? String == "idle")
        }
    }

    @Test(.timeLimit(.minutes(3))) func generateStreamsHitsRefusesInferenceAndStops() async throws {
        let r = 1.40
        let engine = try PocEngine(blockHashHex: Self.h, config: .devnet, threads: 1)
        try await TestServer.with(configuration: Self.configuration) { server in
            let body: [String: any Sendable] = [
                "config": "devnet", "block_hash": Self.h, "public_key": Self.pk, "node_index": 1, "node_count": 2,
                "r_target": r, "batch_size": 16,
            ]
            var request = HTTPClientRequest(url: server.base + "/poc/generate")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "Content-Type") == "application/x-ndjson")

            var lines: [[String: Any]] = []
            var pending = ""
            var checkedWhileMining = false
            for try await chunk in response.body {
                pending += String(buffer: chunk)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = String(pending[..<newline])
                    pending = String(pending[pending.index(after: newline)...])
                    if let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                        lines.append(object)
                    }
                }
                if !checkedWhileMining && !lines.isEmpty {
                    checkedWhileMining = true
                    let status = try await server.get("/poc/status")
                    #expect(status.json["state"] as? String == "generating")
                    #expect((status.json["nonces_tried"] as? Int ?? 0) > 0)
                    let chat = try await server.post(
                        "/v1/completions", json: ["model": "test-model", "prompt": "Hi", "max_tokens": 1])
                    #expect(chat.status == 503)
                    #expect(chat.error["code"] as? String == "service_unavailable")
                    let second = try await server.post("/poc/generate", json: body)
                    #expect(second.status == 409)
                    let stop = try await server.post("/poc/stop", raw: [])
                    #expect(stop.json["stopped"] as? Bool == true)
                }
            }
            let batches = lines.filter { $0["type"] as? String == "batch" }
            let done = try #require(lines.last)
            #expect(done["type"] as? String == "done")
            #expect(!batches.isEmpty)
            let nonces = batches.flatMap { ($0["nonces"] as? [NSNumber] ?? []).map(\.uint64Value) }
            let distances = batches.flatMap { $0["distances"] as? [Double] ?? [] }
            #expect(nonces.allSatisfy { $0 % 2 == 1 })
            #expect(distances.allSatisfy { $0 < r })
            let recomputed = try engine.distances(publicKeyHex: Self.pk, nonces: nonces)
            #expect(zip(recomputed, distances).allSatisfy { abs($0 - $1) < 1e-12 })
            let nano = batches.flatMap { ($0["distances_nano"] as? [NSNumber] ?? []).map(\.uint64Value) }
            #expect(nano == recomputed.map(PocDistance.nano))
            #expect((done["hits"] as? Int) == nonces.count)

            // Mining over: inference is served again and the status says idle.
            let status = try await server.get("/poc/status")
            #expect(status.json["state"] as? String == "idle")
            let completion = try await server.post(
                "/v1/completions", json: ["model": "test-model", "prompt": "Hi", "max_tokens": 1])
            #expect(completion.status == 200)
            #expect(try await server.post("/poc/stop", raw: []).json["stopped"] as? Bool == false)
        }
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        let name: String
        let path: String
        let body: String
        let param: String?
        var testDescription: String { name }
    }

    static let h64 = String(repeating: "ab", count: 32)
    static let goodGenerate =
        #""config":"devnet","block_hash":"\#(h64)","public_key":"\#(h64)","node_index":0,"node_count":1"#
    static let goodValidate = #""config":"devnet","block_hash":"\#(h64)","public_key":"\#(h64)""#

    static let badCases: [BadCase] = [
        .init(name: "not JSON", path: "/poc/generate", body: "{", param: nil),
        .init(
            name: "bad hex block hash", path: "/poc/validate",
            body: #"{"config":"devnet","block_hash":"xyz","public_key":"\#(h64)","nonces":[1]}"#, param: "block_hash"),
        .init(
            name: "short public key", path: "/poc/validate",
            body: #"{"config":"devnet","block_hash":"\#(h64)","public_key":"abcd","nonces":[1]}"#, param: "public_key"),
        .init(
            name: "zero node_count", path: "/poc/generate",
            body:
                #"{"config":"devnet","block_hash":"\#(h64)","public_key":"\#(h64)","node_index":0,"node_count":0,"r_target":1.4}"#,
            param: "node_index"),
        .init(
            name: "index not below count", path: "/poc/generate",
            body:
                #"{"config":"devnet","block_hash":"\#(h64)","public_key":"\#(h64)","node_index":3,"node_count":3,"r_target":1.4}"#,
            param: "node_index"),
        .init(
            name: "negative r_target", path: "/poc/generate", body: "{\(goodGenerate),\"r_target\":-1}",
            param: "r_target"),
        .init(
            name: "zero batch", path: "/poc/generate", body: "{\(goodGenerate),\"r_target\":1.4,\"batch_size\":0}",
            param: "batch_size"),
        .init(
            name: "callback not http", path: "/poc/generate",
            body: "{\(goodGenerate),\"r_target\":1.4,\"callback_url\":\"ftp://x/y\"}", param: "callback_url"),
        .init(
            name: "unknown preset", path: "/poc/validate",
            body: "{\(goodValidate.replacingOccurrences(of: "devnet", with: "huge")),\"nonces\":[1]}", param: "config"),
        .init(
            name: "dim not divisible by heads", path: "/poc/validate",
            body:
                #"{"config":{"dim":130,"n_layers":2,"n_heads":4,"vocab":2048,"ffn_hidden":512,"seq_len":8,"norm_eps":1e-5,"rope_theta":10000},"block_hash":"\#(h64)","public_key":"\#(h64)","nonces":[1]}"#,
            param: "config"),
        .init(
            name: "absurd size", path: "/poc/validate",
            body:
                #"{"config":{"dim":16384,"n_layers":512,"n_heads":128,"vocab":1000000,"ffn_hidden":262144,"seq_len":8192,"norm_eps":1e-5,"rope_theta":10000},"block_hash":"\#(h64)","public_key":"\#(h64)","nonces":[1]}"#,
            param: "config"),
        .init(
            name: "mainnet over this node's memory limit", path: "/poc/validate",
            body: "{\(goodValidate.replacingOccurrences(of: "devnet", with: "mainnet")),\"nonces\":[1]}",
            param: "config"),
        .init(
            name: "too many nonces", path: "/poc/validate",
            body: "{\(goodValidate),\"nonces\":[\((0..<10_001).map(String.init).joined(separator: ","))]}",
            param: "nonces"),
        .init(name: "negative nonce", path: "/poc/validate", body: "{\(goodValidate),\"nonces\":[-1]}", param: nil),
    ]

    @Test(.timeLimit(.minutes(3))) func badInputIs400AndChangesNothing() async throws {
        try await TestServer.with(configuration: Self.configuration) { server in
            for c in Self.badCases {
                let result = try await server.post(c.path, raw: Array(c.body.utf8))
                #expect(result.status == 400, "\(c.name): \(result.status) \(result.text)")
                #expect(result.error["type"] as? String == "invalid_request_error", "\(c.name)")
                if let param = c.param {
                    #expect(result.error["param"] as? String == param, "\(c.name): \(result.text)")
                }
                let status = try await server.get("/poc/status")
                #expect(status.json["state"] as? String == "idle", "\(c.name)")
            }
            // Still serving: a good validation works after the barrage.
            let ok = try await server.post("/poc/validate", raw: Array("{\(Self.goodValidate),\"nonces\":[7]}".utf8))
            #expect(ok.status == 200)
        }
    }
}

/// `callback_url`: the node answers 202 and POSTs each batch, then `done`, to a receiver.
@Suite(.hangGuard) struct PocCallbackTests {
    /// A loopback receiver that keeps every body POSTed to `/batches`.
    final class Receiver: Sendable {
        let bodies = Mutex<[Data]>([])
    }

    @Test(.timeLimit(.minutes(3))) func batchesArePostedToTheCallback() async throws {
        let receiver = Receiver()
        let router = Router()
        router.post("/batches") { request, _ -> HTTPResponse.Status in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            receiver.bodies.withLock { $0.append(Data(buffer.readableBytesView)) }
            return .ok
        }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "poc-callback-receiver")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        // The engine may still be posting when the test ends and cancels the receiver.
        let receiving = app.stoppingGracefully(gracePeriod: .seconds(1), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [receiving], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await TestServer.with(configuration: PocEndpointTests.configuration) { server in
                let body: [String: any Sendable] = [
                    "config": "devnet", "block_hash": PocEndpointTests.h, "public_key": PocEndpointTests.pk,
                    "node_index": 0, "node_count": 1, "r_target": 1.40, "batch_size": 16,
                    "callback_url": "http://127.0.0.1:\(port)/batches",
                ]
                let started = try await server.post("/poc/generate", json: body)
                #expect(started.status == 202, "\(started.text)")
                #expect(started.json["state"] as? String == "generating")
                while receiver.bodies.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(20)) }
                #expect(try await server.post("/poc/stop", raw: []).json["stopped"] as? Bool == true)
                // The done line arrives after the stop.
                var waited = 0
                while waited < 500 {
                    let last = receiver.bodies.withLock { $0.last }
                    if let last, String(decoding: last, as: UTF8.self).contains(#""type":"done""#) { break }
                    try await Task.sleep(for: .milliseconds(20))
                    waited += 1
                }
                #expect(try await server.get("/poc/status").json["state"] as? String == "idle")
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let objects = receiver.bodies.withLock { $0 }.compactMap {
            try? JSONSerialization.jsonObject(with: $0) as? [String: Any]
        }
        #expect(objects.last?["type"] as? String == "done")
        let batches = objects.filter { $0["type"] as? String == "batch" }
        #expect(batches.count >= 1)
        #expect(batches.allSatisfy { ($0["distances"] as? [Double] ?? [2]).allSatisfy { $0 < 1.40 } })
    }
}
