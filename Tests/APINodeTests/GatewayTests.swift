import APINode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Hummingbird
import ServiceLifecycle
import Testing

/// Gateway mode (PROTOCOL §6.1 [improved]): `Authorization: Bearer KEY` at an API node that signs
/// for the key's account, up to its spending limit; and the signing proxy.
@Suite(.serialized, .hangGuard) struct GatewayTests {
    @Test(.timeLimit(.minutes(5))) func apiKeysAndTheSigningProxy() async throws {
        try await TestNet.with { net in
            let admin = "http://127.0.0.1:\(try await net.services[0].adminPort())"
            let url = net.apiURLs[0] + "/v1/chat/completions"
            let body = chatBody("Hi", maxTokens: 2)

            // Unknown bearer keys are refused.
            var answer = try await post(url, body: body, headers: [("Authorization", "Bearer gk-nope")])
            #expect(answer.status == 401 && answer.errorCode == "invalid_signature")

            // A key for the node's own account: served, charged to that account.
            let created = try await post(
                admin + "/admin/apikeys", body: Array(#"{"account":"validator","limit":0}"#.utf8), headers: [])
            #expect(created.status == 200, "\(created.text)")
            let secret = try #require(created.json["key"] as? String)
            let keyID = try #require(created.json["id"] as? String)
            answer = try await post(url, body: body, headers: [("Authorization", "Bearer \(secret)")])
            #expect(answer.status == 200, "\(answer.text)")
            // The file holds hashes only, readable by the owner alone.
            let file = net.root.appendingPathComponent("node0/data/apikeys.json")
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(!text.contains(secret))
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)

            // Anthropic's Messages API in gateway mode, with Anthropic's `x-api-key` header: served as
            // the translated chat request, answered as a message; a bad one is Anthropic's error.
            let messages = net.apiURLs[0] + "/v1/messages"
            let message = try await post(messages, body: Self.messageBody, headers: [("x-api-key", secret)])
            #expect(message.status == 200 && message.json["type"] as? String == "message", "\(message.text)")
            #expect(message.headers["x-gonka-inference-id"]?.count == 64)
            let noKey = try await post(messages, body: Self.messageBody, headers: [("x-api-key", "gk-nope")])
            #expect(
                noKey.status == 401
                    && (noKey.json["error"] as? [String: Any])?["type"] as? String == "authentication_error")

            // A limit below one request's escrow: 402.
            let small = try await post(
                admin + "/admin/apikeys", body: Array(#"{"account":"validator","limit":1}"#.utf8), headers: [])
            let smallSecret = try #require(small.json["key"] as? String)
            answer = try await post(
                url, body: chatBody("Hi again", maxTokens: 2), headers: [("Authorization", "Bearer \(smallSecret)")])
            #expect(answer.status == 402 && answer.errorCode == "spending_limit_reached", "\(answer.text)")

            // Revoked: 401.
            let revoked = try await delete(admin + "/admin/apikeys/\(keyID)")
            #expect(revoked.status == 200)
            answer = try await post(
                url, body: chatBody("Hi", maxTokens: 3), headers: [("Authorization", "Bearer \(secret)")])
            #expect(answer.status == 401)

            // Admin input errors.
            #expect(try await post(admin + "/admin/mlnodes", body: Array("{}".utf8), headers: []).status == 400)
            #expect(try await post(admin + "/admin/mlnodes/nope/disable", body: [], headers: []).status == 404)

            // The signing proxy: a keyless OpenAI endpoint over both API nodes, one of them down.
            let proxy = SigningProxy(
                key: net.wallet[1], nodes: ["http://127.0.0.1:1", net.apiURLs[1]], logger: TestNet.logger("proxy"))
            try await withProxy(proxy) { base in
                let plain = try await post(
                    base + "/v1/chat/completions", body: chatBody("Proxy?", maxTokens: 2), headers: [])
                #expect(plain.status == 200, "\(plain.text)")
                #expect(plain.headers["x-gonka-inference-id"]?.count == 64)
                let message = try await post(base + "/v1/messages", body: Self.messageBody, headers: [])
                #expect(message.status == 200 && message.json["type"] as? String == "message", "\(message.text)")
                let bad = try await post(
                    base + "/v1/messages", body: Array(#"{"model":"x","messages":[]}"#.utf8), headers: [])
                #expect(bad.status == 400 && bad.json["type"] as? String == "error", "\(bad.text)")
                let models = try await get(base + "/v1/models")
                #expect((models.json["data"] as? [Any])?.isEmpty == false)
            }
        }
    }

    static let messageBody = Array(
        #"{"model":"\#(Model.id)","max_tokens":2,"messages":[{"role":"user","content":"Hi"}]}"#.utf8)

    func withProxy(_ proxy: SigningProxy, _ body: (String) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = proxy.application(port: 0) { continuation.yield($0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            do {
                try await body("http://127.0.0.1:\(port)")
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }
}
