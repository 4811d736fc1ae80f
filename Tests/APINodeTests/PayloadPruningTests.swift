import APINode
import Foundation
import GonkaClient
import GonkaCore
import Testing

/// A payload goes with its inference record (PROTOCOL §3.3 "Outside the ledger", issue 23): over a
/// real two-node chain with 30-block epochs, an answered inference's payload stays while the chain
/// holds its record and is deleted once the record is pruned by rule; a payload with no record on
/// chain (its Finish still on its way) is kept.
@Suite(.serialized, .hangGuard) struct PayloadPruningTests {
    @Test(.timeLimit(.minutes(8))) func aPayloadIsDeletedOnceItsRecordIsPruned() async throws {
        try await TestNet.with(
            participants: 2, params: { $0.epochs = .short },
            configure: { _, api in api.payloadPruneInterval = .milliseconds(300) }
        ) { net in
            let body = chatBody("Name a colour.", maxTokens: 4)
            let answer = try await post(
                net.apiURLs[0] + "/v1/chat/completions", body: body,
                headers: BadInputTests.signed(body, key: net.wallet[0], ta: net.accountKeys[0].publicKey.address))
            #expect(answer.status == 200, "\(answer.status): \(answer.text.prefix(300))")
            let id = try #require(answer.headers["x-gonka-inference-id"])
            let chain = try net.chain(0)
            try await Self.waitUntil("the inference finished on chain", timeout: .seconds(60)) {
                try await chain.inference(id)?.finishHeight ?? 0 > 0
            }
            let record = try #require(try await chain.inference(id))
            let store = try #require(net.apiNodes.first { $0.payloads.load(id) != nil }?.payloads, "no payload")
            // A payload whose record is not on chain: never seen there, so kept (below the cap).
            let orphan = String(repeating: "7e", count: 32)
            try store.save(
                InferencePayload(
                    inferenceID: orphan, executor: "e", model: Model.id, request: [], promptTokens: 1,
                    completionTokens: 0, finishReason: "stop", tokens: []))
            // While the record is there (until its epoch's claim window closes, epoch e + 3 with
            // the one-epoch window), rounds of the pruner keep the payload.
            try await Self.waitUntil("epoch \(record.epoch + 2)", timeout: .seconds(180)) {
                try await chain.epoch().epoch >= record.epoch + 2
            }
            #expect(try await chain.inference(id) != nil)
            #expect(store.load(id) != nil, "the payload went while its record was on chain")
            // Pruned by rule: then the payload goes.
            try await Self.waitUntil("the record pruned", timeout: .seconds(180)) {
                try await chain.inference(id) == nil
            }
            try await Self.waitUntil("the payload deleted", timeout: .seconds(20)) { store.load(id) == nil }
            #expect(store.load(orphan) != nil, "a payload never seen on chain was deleted")
        }
    }

    static func waitUntil(
        _ what: String, timeout: Duration, _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }
}
