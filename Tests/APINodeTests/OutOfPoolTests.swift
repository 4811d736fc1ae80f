import ChainRPCTypes
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaTestTraits
import Ledger
import Telemetry
import Testing

@testable import APINode

/// A Transfer Agent outside the epoch's executor pool (PoC not accepted, jailed, INVALID): the
/// chain refuses every `MsgStartInference` it sends, so an answer it relayed would be served
/// unrecorded, never charged, its executor unpaid (the soak's 180 such answers, docs/SOAK.md).
@Suite(.serialized, .hangGuard) struct OutOfPoolTests {
    @Test(.timeLimit(.minutes(7))) func aTransferAgentOutsideThePoolRefusesAndTheProxyGoesElsewhere() async throws {
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
                // Until node 2 came first in the proxy's random order. A node whose info or answer
                // failed under load is tried last for 10 s, so a count of tries could end without
                // it (a CI run's 12 tries did): tries go on for up to 90 s.
                let deadline = ContinuousClock.now + .seconds(90)
                while proxy.metrics.value(#"gonka_proxy_refusals_total{code="not_participant"}"#) == 0,
                    ContinuousClock.now < deadline
                {
                    let answer = try await post(base + "/v1/chat/completions", body: body, headers: [])
                    #expect(answer.status == 200, "\(answer.text)")
                }
            }
            #expect(proxy.metrics.value(#"gonka_proxy_refusals_total{code="not_participant"}"#) >= 1)
        }
    }

    /// A Transfer Agent whose own view is a block behind (it was made INVALID or jailed in the
    /// last block, or, here, never was in the pool): it admits the request and forwards it; each
    /// executor, whose view is current, refuses 403 `transfer_agent_not_in_pool`; the TA reads the
    /// pool again and refuses the request as 503 `not_participant` (nothing started or charged),
    /// which `gonka proxy` sends to another node. Before, the client got a 502 "every attempt
    /// failed" (the validation devnet's CI failure, a just-convicted cheater as TA).
    @Test(.timeLimit(.minutes(5))) func aTransferAgentOnePoolBehindLearnsFromTheExecutorThatItIsOut() async throws {
        let outsider = TestChain.key(seed: 78, index: 1)
        try await TestNet.with(configure: { i, config in if i == 2 { config.key = outsider } }) { net in
            let ta = outsider.publicKey.address
            let view = net.apiNodes[2].chain
            let sample = #"gonka_api_executor_set_rereads_total{role="ta"}"#
            let reachable = Set(net.accountKeys[0..<2].map(\.publicKey.address))
            var exercised = 0
            for round in 0..<5 where exercised == 0 {
                let real = try await view.executors(model: Model.id, refresh: true)
                #expect(!real.admitsTransferAgent(ta))
                // A request whose first draw from the stale pool (the real one and this node) is
                // node 0 or 1, so the forward reaches a real executor (node 2's participant's URL
                // is this API node, which runs with the outsider's key).
                var chosen: (body: [UInt8], headers: [(String, String)])?
                for i in 0..<64 where chosen == nil {
                    let body = chatBody("Out of the pool \(round).\(i)", maxTokens: 2)
                    let headers = BadInputTests.signed(body, key: net.wallet[0], ta: ta)
                    let signed = try SignedRequest(body: body) { name in
                        headers.first { $0.0.lowercased() == name.lowercased() }?.1
                    }
                    let draw = try ExecutorDraw.executor(
                        inferenceID: signed.inferenceID, epochSeed: real.epochSeed, attempt: 0, transferAgent: ta,
                        candidates: real.candidates.map { .init(address: $0.address, weight: 1) } + [
                            .init(address: ta, weight: 1)
                        ])
                    if let draw, reachable.contains(draw) { chosen = (body, headers) }
                }
                let (body, headers) = try #require(chosen, "no request draws another node first in 64 tries")
                let before = net.apiNodes[2].metrics.value(sample)
                ExecutorFailureTests.stage(view, only: real.candidates.map(\.address) + [ta], seed: real.epochSeed)
                let answer = try await post(net.apiURLs[2] + "/v1/chat/completions", body: body, headers: headers)
                #expect(answer.status == 503 && answer.errorCode == "not_participant", "\(answer.text.prefix(300))")
                #expect(answer.headers["x-gonka-executor"] == nil)
                // The staged view was used (a block may have refreshed it first: then the TA
                // refused at admission, and the round is tried again).
                if net.apiNodes[2].metrics.value(sample) > before {
                    exercised += 1
                    #expect(net.apiNodes[2].metrics.value("gonka_api_forwarded_total") == 0)
                }
            }
            #expect(exercised > 0, "the stale view was never used in 5 rounds")
        }
    }
}
