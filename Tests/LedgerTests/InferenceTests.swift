import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import SwiftProtobuf
import Testing

@testable import Ledger

/// Module Inference (PROTOCOL §6.4): Start and Finish in both orders, escrow, cost and refund, the
/// supply invariant, expiry, misses, duty transactions, and every bad input of issue 7 rejected with
/// its reason and no state change.
@Suite struct InferenceTests {
    static let model = "test-model"
    /// Block time of height h is `t0 + h` seconds.
    static let t0: Int64 = 1_700_000_000_000_000_000
    static let second: Int64 = 1_000_000_000

    static func time(_ height: UInt64) -> Int64 { t0 + Int64(height) * second }

    /// Three participants (weights 10, 20, 30), one model at 1 token/s per weight, devnet params.
    static func makeChain(params: ChainParams = .devnet) throws -> TestChain {
        try TestChain(
            accounts: 4, params: params, validatorPowers: [10, 20, 30],
            models: [Genesis.Model(id: model, tokensPerSecondPerWeight: 1)])
    }

    /// Runs the next block with `txs` at its block time.
    @discardableResult
    static func block(_ chain: TestChain, _ txs: [[UInt8]] = []) throws -> BlockResult {
        try chain.finalize(txs, time: time((chain.ledger.height ?? 0) + 1))
    }

    static func tx(_ chain: TestChain, _ msg: Wire.MsgStartInference, by key: SigningKey) throws -> [UInt8] {
        try chain.dutyTx([Wire.Msg(msg)], by: key)
    }

    static func tx(_ chain: TestChain, _ msg: Wire.MsgFinishInference, by key: SigningKey) throws -> [UInt8] {
        try chain.dutyTx([Wire.Msg(msg)], by: key)
    }

    /// A request from account 0 to the TA `validators[0]`, timestamped at the next block's time, and
    /// its drawn executor for attempt 0.
    static func request(
        _ chain: TestChain, requester: SigningKey? = nil, body: String = "{\"n\":1}"
    ) throws -> (TestInferenceRequest, executor: Address, executorKey: SigningKey) {
        let next = (chain.ledger.height ?? 0) + 1
        let request = chain.inferenceRequest(
            requester: requester ?? chain.accounts[0], transferAgent: chain.validators[0].publicKey.address, body: body,
            timestamp: time(next))
        let executor = try chain.drawnExecutor(for: request, model: model)
        let key = try #require(chain.validatorKey(executor))
        return (request, executor, key)
    }

    static var escrowModule: Address { Ledger.moduleAddress("inference")! }

    // MARK: Happy paths

    @Test func startThenFinishChargesCostAndRefundsTheRest() throws {
        let chain = try Self.makeChain()
        let before = try chain.balance(0)
        let (request, executor, executorKey) = try Self.request(chain)
        #expect(executor != chain.validators[0].publicKey.address, "the TA is excluded when others serve the model")
        let start = chain.startInference(
            request, taKey: chain.validators[0], executor: executor, model: Self.model, promptTokens: 10,
            maxTokens: 100)
        let r1 = try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0])])
        #expect(r1.txResults[0].error == nil, "\(String(describing: r1.txResults[0].error))")
        // Escrow = (10 + 100) × 100.
        var record = try #require(try chain.ledger.inference(request.inferenceID))
        #expect(record.status == .started)
        #expect(record.escrow == 11_000)
        #expect(record.price == 100)
        #expect(record.expiryHeight == 1 + 30)
        #expect(try chain.balance(0) == Amount(ngonka: before.ngonka - 11_000))
        #expect(try chain.ledger.balance(of: Self.escrowModule) == Amount(ngonka: 11_000))
        #expect(try chain.ledger.supplyInvariantViolation() == nil)

        let commitment = Hash.sha256("the payload")
        let finish = chain.finishInference(
            request, executor: executor, model: Self.model, promptTokens: 10, completionTokens: 20,
            commitment: commitment)
        let r2 = try Self.block(chain, [try Self.tx(chain, finish, by: executorKey)])
        #expect(r2.txResults[0].error == nil, "\(String(describing: r2.txResults[0].error))")
        record = try #require(try chain.ledger.inference(request.inferenceID))
        // Cost = (10 + 20) × 100 at the price fixed by the Start (the price moved since).
        #expect(try chain.ledger.models()[0].pricePerToken < 100)
        #expect(record.status == .finished)
        #expect(record.cost == 3_000)
        #expect(record.refund == 8_000)
        #expect(record.completionTokens == 20)
        #expect(record.responseCommitment == Data(commitment.bytes))
        #expect(record.finishHeight == 2)
        #expect(record.expiryHeight == 0)
        #expect(try chain.balance(0) == Amount(ngonka: before.ngonka - 3_000))
        #expect(try chain.ledger.balance(of: Self.escrowModule) == Amount(ngonka: 3_000))
        #expect(try chain.ledger.earnings(epoch: 0, address: executor) == Amount(ngonka: 3_000))
        #expect(
            r2.txResults[0].events == [
                .inferenceFinished(
                    inferenceID: request.inferenceID, executor: executor, cost: Amount(ngonka: 3_000),
                    refund: Amount(ngonka: 8_000))
            ])
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
        // Duty transactions were free: the TA and the executor hold no coins and paid nothing.
        #expect(try chain.ledger.balance(of: chain.validators[0].publicKey.address) == .zero)
        // The record is no longer in the expiry index: nothing happens at its old expiry height.
        for _ in 0..<31 { try Self.block(chain) }
        #expect(try chain.ledger.inference(request.inferenceID)?.status == .finished)
        #expect(try chain.balance(0) == Amount(ngonka: before.ngonka - 3_000))
    }

    @Test func finishBeforeStartSettlesWhenTheStartArrivesAtTheFirstPrice() throws {
        let chain = try Self.makeChain()
        let before = try chain.balance(0)
        let (request, executor, executorKey) = try Self.request(chain)
        let finish = chain.finishInference(
            request, executor: executor, model: Self.model, promptTokens: 10, completionTokens: 20)
        let r1 = try Self.block(chain, [try Self.tx(chain, finish, by: executorKey)])
        #expect(r1.txResults[0].error == nil, "\(String(describing: r1.txResults[0].error))")
        var record = try #require(try chain.ledger.inference(request.inferenceID))
        #expect(record.status == .awaitingStart)
        #expect(record.price == 100)
        #expect(try chain.balance(0) == before)
        // The price has moved down since; the Finish fixed it at 100.
        #expect(try chain.ledger.models()[0].pricePerToken == 98)
        let start = chain.startInference(
            request, taKey: chain.validators[0], executor: executor, model: Self.model, promptTokens: 10,
            maxTokens: 100)
        let r2 = try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0])])
        #expect(r2.txResults[0].error == nil, "\(String(describing: r2.txResults[0].error))")
        record = try #require(try chain.ledger.inference(request.inferenceID))
        #expect(record.status == .finished)
        #expect(record.escrow == 11_000)
        #expect(record.cost == 3_000)
        #expect(record.refund == 8_000)
        #expect(record.startHeight == 2)
        #expect(record.finishHeight == 1)
        #expect(try chain.balance(0) == Amount(ngonka: before.ngonka - 3_000))
        #expect(try chain.ledger.balance(of: Self.escrowModule) == Amount(ngonka: 3_000))
        #expect(try chain.ledger.earnings(epoch: 0, address: executor) == Amount(ngonka: 3_000))
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    @Test func startAndFinishInOneBlockAndManyInferencesKeepTheBooks() throws {
        let chain = try Self.makeChain()
        var txs: [[UInt8]] = []
        var expectedCost: UInt64 = 0
        for i in 0..<12 {
            let requester = chain.accounts[i % 4]
            let (request, executor, executorKey) = try Self.request(chain, requester: requester, body: "{\"i\":\(i)}")
            let prompt = UInt64(5 + i)
            let completion = UInt64(i * 3)
            txs.append(
                try Self.tx(
                    chain,
                    chain.startInference(
                        request, taKey: chain.validators[0], executor: executor, model: Self.model,
                        promptTokens: prompt, maxTokens: 64),
                    by: chain.validators[0]))
            txs.append(
                try Self.tx(
                    chain,
                    chain.finishInference(
                        request, executor: executor, model: Self.model, promptTokens: prompt,
                        completionTokens: completion),
                    by: executorKey))
            expectedCost += (prompt + completion) * 100
        }
        let result = try Self.block(chain, txs)
        #expect(result.txResults.allSatisfy { $0.isSuccess }, "\(result.txResults.compactMap(\.error))")
        #expect(try chain.ledger.balance(of: Self.escrowModule) == Amount(ngonka: expectedCost))
        let earned = try chain.validators.map { try chain.ledger.earnings(epoch: 0, address: $0.publicKey.address) }
        #expect(earned.reduce(0) { $0 + $1.ngonka } == expectedCost)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    // MARK: Expiry and misses

    @Test func unfinishedInferenceExpiresWithFullRefundAndAMiss() throws {
        let chain = try Self.makeChain()
        let before = try chain.balance(0)
        let (request, executor, _) = try Self.request(chain)
        let start = chain.startInference(request, taKey: chain.validators[0], executor: executor, model: Self.model)
        try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0])])
        #expect(try chain.balance(0) == Amount(ngonka: before.ngonka - 11_000))
        for _ in 2...30 { try Self.block(chain) }
        #expect(try chain.ledger.inference(request.inferenceID)?.status == .started)
        let last = try Self.block(chain)  // height 31 = 1 + inference_expiry_blocks
        let record = try #require(try chain.ledger.inference(request.inferenceID))
        #expect(record.status == .expired)
        #expect(record.refund == 11_000)
        #expect(try chain.balance(0) == before)
        #expect(try chain.ledger.balance(of: Self.escrowModule) == .zero)
        let misses = try #require(try chain.ledger.misses(executor))
        #expect(misses.expired == 1)
        #expect(misses.reported == 0)
        #expect(
            last.events == [
                .inferenceExpired(inferenceID: request.inferenceID, executor: executor, refund: Amount(ngonka: 11_000)),
                .executorMissed(executor: executor, inferenceID: request.inferenceID, reason: "expired"),
            ])
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    @Test func laterAttemptRecordsAMissForEverySkippedExecutor() throws {
        let chain = try Self.makeChain()
        let (request, _, _) = try Self.request(chain)
        let skipped0 = try chain.drawnExecutor(for: request, model: Self.model, attempt: 0)
        let skipped1 = try chain.drawnExecutor(for: request, model: Self.model, attempt: 1)
        let executor = try chain.drawnExecutor(for: request, model: Self.model, attempt: 2)
        let start = chain.startInference(
            request, taKey: chain.validators[0], executor: executor, model: Self.model, attempt: 2)
        let result = try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0])])
        #expect(result.txResults[0].error == nil, "\(String(describing: result.txResults[0].error))")
        var expected: [Address: UInt64] = [:]
        expected[skipped0, default: 0] += 1
        expected[skipped1, default: 0] += 1
        for (address, count) in expected {
            #expect(try chain.ledger.misses(address)?.reported == count)
        }
        #expect(try chain.ledger.inference(request.inferenceID)?.attempt == 2)
    }

    // MARK: Price (§6.5)

    @Test(arguments: [
        // (price_micro, u_ppm, next): hand-computed with elasticity 0.05, band 0.40–0.60, step ±2%.
        (UInt64(100_000_000), UInt64(0), UInt64(98_000_000)),  // 1 − min(0.40 × 0.05, 0.02) = 0.98
        (100_000_000, 200_000, 99_000_000),  // 1 − 0.20 × 0.05 = 0.99
        (100_000_000, 399_999, 100_000_000),  // step ⌊1 × 0.05⌋ ppm = 0
        (100_000_000, 400_000, 100_000_000),
        (100_000_000, 500_000, 100_000_000),
        (100_000_000, 600_000, 100_000_000),
        (100_000_000, 700_000, 100_500_000),  // 1 + 0.10 × 0.05 = 1.005
        (100_000_000, 1_000_000, 102_000_000),  // 1 + 0.40 × 0.05 = 1.02
        (100_000_000, 3_000_000, 102_000_000),  // capped at +2%
        (99_999_999, 0, 97_999_999),  // 97_999_999.02 floors
        (1_010_000, 0, 1_000_000),  // 989_800 is below the floor of min_price = 1 ngonka
        (1_000_000, 0, 1_000_000),
    ])
    func priceStep(price: UInt64, utilisation: UInt64, next: UInt64) {
        #expect(Inference.nextPriceMicro(price, utilisationPPM: utilisation, params: .devnet) == next)
    }

    @Test func utilisationIsTokensOverCapacityTimesWindow() {
        #expect(Inference.utilisationPPM(tokens: 12_000, capacityPerSecond: 400, windowSeconds: 60) == 500_000)
        #expect(Inference.utilisationPPM(tokens: 30, capacityPerSecond: 60, windowSeconds: 60) == 8_333)
        #expect(Inference.utilisationPPM(tokens: 5, capacityPerSecond: 0, windowSeconds: 60) == nil)
    }

    @Test func priceFollowsUsageBlockByBlock() throws {
        let chain = try Self.makeChain()
        // Capacity = 1 token/s × weight 60 = 60 tokens/s; window 60 s = 3,600 tokens.
        try Self.block(chain)
        #expect(try chain.ledger.models()[0].priceMicro == 98_000_000)
        try Self.block(chain)
        #expect(try chain.ledger.models()[0].priceMicro == 96_040_000)
        #expect(try chain.ledger.models()[0].pricePerToken == 96)
        // 1,000 prompt + 2,000 completion tokens: u = 3,000 / 3,600 = 833,333 ppm →
        // × (1 + ⌊233,333 × 0.05⌋ ppm) = × 1.011666.
        let (request, executor, executorKey) = try Self.request(chain)
        let start = chain.startInference(
            request, taKey: chain.validators[0], executor: executor, model: Self.model, promptTokens: 1_000,
            maxTokens: 2_000)
        let finish = chain.finishInference(
            request, executor: executor, model: Self.model, promptTokens: 1_000, completionTokens: 2_000)
        let result = try Self.block(
            chain, [try Self.tx(chain, start, by: chain.validators[0]), try Self.tx(chain, finish, by: executorKey)])
        #expect(result.txResults.allSatisfy { $0.isSuccess })
        #expect(try chain.ledger.inference(request.inferenceID)?.price == 96)
        let view = try chain.ledger.models()[0]
        #expect(view.utilisationPPM == 833_333)
        #expect(view.windowTokens == 3_000)
        #expect(view.priceMicro == 96_040_000 * 1_011_666 / 1_000_000)
        // 59 s later the tokens are still in the window; at 60 s they leave it.
        for _ in 0..<59 { try Self.block(chain) }
        #expect(try chain.ledger.models()[0].windowTokens == 3_000)
        try Self.block(chain)
        #expect(try chain.ledger.models()[0].windowTokens == 0)
        #expect(try chain.ledger.models()[0].utilisationPPM == 0)
    }

    // MARK: Determinism

    @Test func twoLedgersGiveTheSameAppHash() throws {
        func run() throws -> Hash {
            let chain = try Self.makeChain()
            let (request, executor, key) = try Self.request(chain)
            let start = chain.startInference(request, taKey: chain.validators[0], executor: executor, model: Self.model)
            try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0])])
            try Self.block(
                chain,
                [try Self.tx(chain, chain.finishInference(request, executor: executor, model: Self.model), by: key)])
            for _ in 0..<3 { try Self.block(chain) }
            return chain.ledger.appHash
        }
        #expect(try run() == run())
    }

    @Test func genesisWithoutModelsStillDecodesAndBadModelsAreRefused() throws {
        let chain = try Self.makeChain()
        var json = try JSONSerialization.jsonObject(with: chain.genesis.encodedJSON()) as? [String: Any] ?? [:]
        json.removeValue(forKey: "models")
        var params = json["params"] as? [String: Any] ?? [:]
        params.removeValue(forKey: "inference_expiry_blocks")
        json["params"] = params
        let decoded = try Genesis.decode(json: JSONSerialization.data(withJSONObject: json))
        #expect(decoded.models.isEmpty)
        #expect(decoded.params.inferenceExpiryBlocks == 30)
        for bad in [
            Genesis.Model(id: "", tokensPerSecondPerWeight: 1), Genesis.Model(id: "a/b", tokensPerSecondPerWeight: 1),
            Genesis.Model(id: "m", tokensPerSecondPerWeight: 0),
        ] {
            var genesis = chain.genesis
            genesis.models = [bad]
            #expect(throws: LedgerError.self) { try genesis.validate() }
        }
        var twice = chain.genesis
        twice.models = [
            Genesis.Model(id: "m", tokensPerSecondPerWeight: 1), Genesis.Model(id: "m", tokensPerSecondPerWeight: 2),
        ]
        #expect(throws: LedgerError.self) { try twice.validate() }
    }
}
