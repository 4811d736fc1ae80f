import APINode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Ledger
import Testing

@testable import APINode

/// The validation worker on a real network of three participants (PROTOCOL §7.1–§7.2): honest
/// inferences, greedy and sampled, are checked by exactly the participants their secret seeds
/// oblige (recomputed here from the seed files with `ValidationObligations`), every check passes,
/// and the inferences end VALIDATED (or stay FINISHED when nobody was obliged).
@Suite(.serialized, .hangGuard) struct ValidationEndToEndTests {
    @Test(.timeLimit(.minutes(6))) func honestInferencesAreCheckedByTheObligedAndPass() async throws {
        try await TestNet.with(validate: true) { net in
            let developer = net.wallet[0]
            let ta = net.accountKeys[0].publicKey.address
            let url = net.apiURLs[0] + "/v1/chat/completions"
            var ids: [(id: String, executor: Address)] = []
            let bodies: [[UInt8]] = [
                chatBody("Name a colour.", maxTokens: 8),
                chatBody("Count to five.", maxTokens: 12, extra: #","temperature":1.0,"seed":7"#),
                chatBody("Say hello.", maxTokens: 1),
                chatBody("Write a word.", maxTokens: 10, stream: true, extra: #","temperature":0.8,"top_p":0.9"#),
                chatBody("Name a fruit.", maxTokens: 6, extra: #","temperature":1.2,"top_k":20,"seed":-5"#),
                chatBody("Name a city.", maxTokens: 6),
            ]
            for body in bodies {
                let result = try await post(
                    url, body: body, headers: BadInputTests.signed(body, key: developer, ta: ta))
                #expect(result.status == 200, "\(result.text)")
                let id = try #require(result.headers["x-gonka-inference-id"])
                let executor = try Address(try #require(result.headers["x-gonka-executor"]))
                ids.append((id, executor))
            }
            let chain = try net.chain(0)
            // Who must validate what: each participant's seed for epoch 0 (written by its worker)
            // through the one obligation function the worker and the claim audit use.
            let info = try await chain.validationEpoch(0)
            let params = try await chain.params().validation
            var expected: [String: Set<String>] = [:]
            let deadline = ContinuousClock.now + .seconds(240)
            for (id, executor) in ids {
                // Wait for the Finish, then for the obliged validators' verdicts.
                var record = try await chain.inference(id)
                while record?.status == "STARTED" || record == nil, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    record = try await chain.inference(id)
                }
                let model = try #require(record).model
                let snapshot = ValidationWorker.obligationSnapshot(info, model: model)
                var obliged = Set<String>()
                for key in net.accountKeys where key.publicKey.address != executor {
                    let seeds = ValidationSeeds(
                        directory: net.root.appendingPathComponent(
                            "node\(net.accountKeys.firstIndex { $0.publicKey.address == key.publicKey.address }!)/data/seeds"
                        ))
                    let seed = try seeds.seed(epoch: 0)
                    let p = try ValidationObligations.probability(
                        validator: key.publicKey.address, inference: .init(id: id, executor: executor, model: model),
                        snapshot: snapshot, params: params)
                    if ValidationSampling.isObliged(seed: seed, inferenceID: id, probability: p) {
                        obliged.insert(key.publicKey.address.description)
                    }
                }
                expected[id] = obliged
            }
            for (id, _) in ids {
                let want = expected[id] ?? []
                var got: [ValidationInfo] = []
                while ContinuousClock.now < deadline {
                    got = try await chain.validations(of: id).validations
                    if Set(got.map(\.validator)) == want { break }
                    try await Task.sleep(for: .milliseconds(300))
                }
                #expect(Set(got.map(\.validator)) == want, "\(id.prefix(12)): validated by the obliged participants")
                for v in got {
                    #expect(
                        v.passed,
                        "\(id.prefix(12)) failed \(v.reason) by \(v.validator): distance \(v.distancePpm) ppm, misses \(v.samplerMisses)"
                    )
                }
                let status = try await chain.inference(id)?.status
                #expect(status == (want.isEmpty ? "FINISHED" : "VALIDATED"), "\(id.prefix(12)): \(status ?? "-")")
            }
            // Every participant validated something or was obliged to nothing; none is INVALID.
            let standing = try await chain.validationEpoch(0)
            #expect(standing.participants.allSatisfy { $0.status == "active" && $0.invalidated == 0 })
            // With two possible validators at p = 1/2 each, six inferences go entirely unchecked
            // with probability 4⁻⁶ ≈ 0.0002: some check must have run.
            let checks = expected.values.reduce(0) { $0 + $1.count }
            #expect(checks > 0)
            print("validation e2e: \(checks) checks of \(ids.count) inferences")
            let done = net.apiNodes.map { $0.metrics.value("gonka_validation_done_total{outcome=\"passed\"}") }
            #expect(done.reduce(0, +) == expected.values.reduce(0) { $0 + $1.count })
        }
    }
}
