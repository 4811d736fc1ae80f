import AsyncHTTPClient
import Benchmarks
import Devnet
import Foundation
import GonkaCore
import GonkaTestKit
import Ledger
import NIOCore
import NIOHTTP1
import Testing

/// `gonka devnet up --node-model K=PATH`: node K serves another GGUF file under the registered
/// model id (PROTOCOL §7: the chain knows only the id), here a more coarsely quantised copy.
@Suite(.serialized, .hangGuard, .enabled(if: DevnetHarness.nodeAvailable, "needs `gonka node start`"))
struct DevnetNodeModelTests {
    typealias H = DevnetHarness

    /// One seeded greedy answer: who executed it, its text and its tokens' logprobs.
    struct Answer: Equatable {
        var executor: String
        var text: String
        var logprobs: [Double]
    }

    static func ask(_ proxy: String, model: String) async throws -> Answer {
        var request = HTTPClientRequest(url: proxy + "/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body: [String: Any] = [
            "model": model, "messages": [["role": "user", "content": "What is the capital of France?"]],
            "max_tokens": 12, "temperature": 0, "seed": 7, "logprobs": true,
        ]
        request.body = .bytes(ByteBuffer(bytes: Array(try JSONSerialization.data(withJSONObject: body))))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw HarnessError("completion failed (\(response.status)): \(String(buffer: bytes))")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any])
        let choice = try #require((json["choices"] as? [[String: Any]])?.first)
        let text = try #require((choice["message"] as? [String: Any])?["content"] as? String)
        let entries = try #require((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
        return Answer(
            executor: response.headers.first(name: "X-Gonka-Executor") ?? "", text: text,
            logprobs: entries.compactMap { $0["logprob"] as? Double })
    }

    /// The ids the API node at `base` has an ML backend for (`GET /v1/node`'s `models`).
    static func servedModels(_ base: String) async throws -> [String] {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: base + "/v1/node"), timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
        return json?["models"] as? [String] ?? []
    }

    @Test(.timeLimit(.minutes(5))) func aNodeServesItsOwnFileUnderTheRegisteredID() async throws {
        let original = try TestModelFile.path()
        let cheatDir = try H.temporaryDirectory("cheat")
        defer { try? FileManager.default.removeItem(at: cheatDir) }
        let cheat = try await BackgroundCompute.run {
            try CheatModel.write(.coarserQuantisation(bits: 3), from: original, to: cheatDir)
        }
        let id = Genesis.Model.devnetDefault.id
        try await H.withDevnet(participants: 2, serving: ["--model", original, "--node-model", "1=\(cheat.path)"]) {
            net in
            // node1's config names the cheat file and the registered id; node0 the original.
            let configs = try net.manifest.nodes.map {
                try String(contentsOfFile: $0.home + "/config.toml", encoding: .utf8)
            }
            #expect(configs[1].contains("model = \"\(cheat.path)\"") && configs[1].contains("model_id = \"\(id)\""))
            #expect(configs[0].contains("model = \"\(original)\"") && configs[0].contains("model_id = \"\(id)\""))
            // Each API node's ML backend serves the registered id (`GET /v1/node`; `/v1/models` lists
            // the chain's models), the cheat node included, not under its file's name.
            for node in net.manifest.nodes {
                let base = "http://127.0.0.1:\(node.apiPort)"
                #expect(try await Self.servedModels(base) == [id], "node\(node.index)")
                #expect(await DevnetRunner.firstModel(base) == id)
            }
            let proxy = try #require(net.manifest.proxy).url
            let executors = net.manifest.nodes.map(\.accountAddress.description)
            var answers: [String: Answer] = [:]
            // The Transfer Agent picks the executor: ask until both nodes have answered.
            for _ in 0..<24 where answers.count < 2 {
                let answer = try await Self.ask(proxy, model: id)
                if let earlier = answers[answer.executor] {
                    #expect(earlier == answer, "the same seeded greedy request answered differently by one node")
                }
                answers[answer.executor] = answer
            }
            let honest = try #require(answers[executors[0]], "node0 never executed: \(answers.keys)")
            let cheated = try #require(answers[executors[1]], "node1 never executed: \(answers.keys)")
            #expect(!honest.text.isEmpty && !cheated.text.isEmpty)
            #expect(honest.logprobs.count > 0 && cheated.logprobs.count > 0)
            #expect(honest.text != cheated.text || honest.logprobs != cheated.logprobs)
            print("--node-model: honest \"\(honest.text)\", cheat \"\(cheated.text)\"")
        }
    }
}
