import APINode
import ChainRPCTypes
import Foundation
import GonkaClient
import GonkaCore
import Inference
import Testing

/// A Transfer Agent whose ML nodes are all remote (issue 21; PROTOCOL §6.2): the prompt is billed by
/// the model's own tokenizer (its ML node's `/v1/tokenize`), never by bytes; with no ML node able
/// to count, the request is refused (503 `no_tokenizer`) rather than billed an estimate.
@Suite(.hangGuard)
struct RemoteBillingTests {
    @Test(.timeLimit(.minutes(5))) func aRemoteOnlyTransferAgentBillsTheTokenizersCount() async throws {
        try await TestNet.with(participants: 2, remoteML: true) { net in
            let ta = net.accountKeys[0].publicKey.address
            let developer = net.wallet[0]
            let url = net.apiURLs[0] + "/v1/chat/completions"
            let question = "Name three colours of the rainbow, and say which one you like best."
            let rendered = ChatTemplate.render([ChatMessage(role: "user", content: question)])
            let expected = try Model.loaded.get().tokenizer.encode(rendered, parseSpecial: true).count
            #expect(expected < rendered.utf8.count, "bytes and tokens must differ for the check to mean anything")
            #expect(net.apiNodes[0].registry.list().allSatisfy { !$0.embedded })

            let body = chatBody(question, maxTokens: 4)
            let answered = try await post(url, body: body, headers: BadInputTests.signed(body, key: developer, ta: ta))
            #expect(answered.status == 200, "\(answered.text)")
            let id = try #require(answered.headers["x-gonka-inference-id"])
            let chain = try net.chain(0)
            var record = try await chain.inference(id)
            let deadline = ContinuousClock.now + .seconds(60)
            while record == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                record = try await chain.inference(id)
            }
            let started = try #require(record, "the chain never recorded \(id)")
            #expect(started.promptTokens == UInt64(expected), "billed \(started.promptTokens), tokenizer \(expected)")

            // Its only ML node down: refused, not billed by bytes.
            let registry = net.apiNodes[0].registry
            for entry in registry.list() { _ = registry.setEnabled(entry.id, false) }
            let dead = registry.add(url: "http://127.0.0.1:1", model: Model.id)
            for (why, mention) in [("down", "did not answer"), ("none", "no ML node")] {
                if why == "none" { _ = registry.remove(dead.id) }
                let again = chatBody(question + " " + why, maxTokens: 4)
                let refused = try await post(
                    url, body: again, headers: BadInputTests.signed(again, key: developer, ta: ta))
                #expect(refused.status == 503, "\(why): \(refused.text)")
                #expect(refused.text.contains("no_tokenizer"), "\(why): \(refused.text)")
                #expect(refused.text.contains(mention), "\(why): \(refused.text)")
            }
        }
    }
}
