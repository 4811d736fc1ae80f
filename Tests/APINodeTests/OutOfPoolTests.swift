import ChainRPCTypes
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaTestTraits
import Telemetry
import Testing

@testable import APINode

/// A Transfer Agent outside the epoch's executor pool (PoC not accepted, jailed, INVALID): the
/// chain refuses every `MsgStartInference` it sends, so an answer it relayed would be served
/// unrecorded, never charged, its executor unpaid (the soak's 180 such answers, docs/SOAK.md).
@Suite(.serialized, .hangGuard) struct OutOfPoolTests {
    @Test(.timeLimit(.minutes(5))) func aTransferAgentOutsideThePoolRefusesAndTheProxyGoesElsewhere() async throws {
        // API node 2 runs with a key the chain has no participant for.
        let outsider = TestChain.key(seed: 77, index: 1)
        try await TestNet.with(configure: { i, config in if i == 2 { config.key = outsider } }) { net in
            let ta = outsider.publicKey.address
            let body = chatBody("Who are you?", maxTokens: 2)
            let headers = BadInputTests.signed(body, key: net.wallet[0], ta: ta)
            let refused = try await post(net.apiURLs[2] + "/v1/chat/completions", body: body, headers: headers)
            #expect(refused.status == 503 && refused.errorCode == "not_participant", "\(refused.text)")
            #expect(refused.headers["x-gonka-executor"] == nil)
            #expect(net.apiNodes[2].metrics.value("gonka_api_forwarded_total") == 0)
            // Nothing reaches the chain: two blocks on, no record of the id.
            let id = try #require(SigningProxy.inferenceID(headers))
            let chain = try net.chain(0)
            let height = try await chain.status().height
            while try await chain.status().height < height + 2 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(try await chain.inference(id) == nil)

            // The proxy signs the request anew for the other node: every request is answered.
            let proxy = SigningProxy(
                key: net.wallet[0], nodes: [net.apiURLs[2], net.apiURLs[0]], logger: TestNet.logger("proxy"))
            try await GatewayTests().withProxy(proxy) { base in
                for _ in 0..<12 where proxy.metrics.value(#"gonka_proxy_refusals_total{code="not_participant"}"#) == 0 {
                    let answer = try await post(base + "/v1/chat/completions", body: body, headers: [])
                    #expect(answer.status == 200, "\(answer.text)")
                }
            }
            #expect(proxy.metrics.value(#"gonka_proxy_refusals_total{code="not_participant"}"#) >= 1)
        }
    }
}
