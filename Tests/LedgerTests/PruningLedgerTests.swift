import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// Pruning by rule (PROTOCOL §3.3 "As built") on three ledgers fed the same blocks, as three
/// nodes are: once a batch of inferences (served, validated, failed and voted on, expired, and a
/// Finish whose Start never came) has passed every window that reads it, the state holds no key of
/// it and the key count outside the kept per-epoch and per-participant aggregates is back at its
/// baseline, with the same app hash on every node after every block.
@Suite struct PruningLedgerTests {
    /// Three nodes: independent stores, identical genesis, the same blocks.
    final class Nodes {
        let chains: [TestChain]
        var driver: TestChain { chains[0] }

        init() throws {
            chains = try (0..<3).map { _ in try RewardsLedgerTests.makeChain() }
        }

        /// One block on every node; their app hashes must agree.
        @discardableResult
        func block(_ txs: [[UInt8]] = []) throws -> BlockResult {
            let time = InferenceTests.time((driver.ledger.height ?? 0) + 1)
            let results = try chains.map { try $0.finalize(txs, time: time) }
            let hashes = Set(results.map(\.appHash))
            #expect(hashes.count == 1, "app hashes diverged at height \(results[0].height)")
            return results[0]
        }

        func advance(to height: UInt64) throws {
            while (driver.ledger.height ?? 0) < height { try block() }
        }

        /// A duty transaction of `msg` signed by `key` with its committed sequence (a rejected one
        /// consumes none).
        func tx(_ msg: Wire.Msg, by key: SigningKey) throws -> [UInt8] {
            let sequence = try driver.ledger.account(key.publicKey.address).sequence
            return try driver.sign(driver.body([msg], signer: key, fee: 0, sequence: sequence), by: key)
        }
    }

    /// Keys kept by design (PROTOCOL §3.3): per-epoch and per-participant aggregates whose number
    /// follows epochs and participants, not traffic, accounts (a participant's first duty
    /// transaction creates its account record) and module singletons written on first use (the
    /// burned counter, the inference account's liabilities).
    static let aggregatePrefixes: [String] = [
        "bank/supply/burned", "inference/liabilities", "auth/account/", "bank/balance/", "epochs/", "poc/",
        "validation/epoch/", "validation/traffic/", "validation/stats/", "validation/reputation/",
        "validation/open_votes/", "rewards/epoch/", "rewards/settlement/", "rewards/fees/", "inference/misses/",
        "slashing/", "collateral/",
    ]

    /// Keys that exist per inference (records, indexes, counters read until a window closes).
    static let perInferencePrefixes: [String] = [
        "inference/record/", "inference/by_epoch/", "inference/expiry/", "validation/record/",
        "validation/by_epoch/", "validation/voting/", "validation/open_vote/", "validation/vote_deadline/",
        "validation/executor_vote/", "rewards/finished/", "rewards/work/",
    ]

    static func keys(_ chain: TestChain) throws -> [String] {
        try (chain.store as any StateStore).entries(withPrefix: []).map { String(decoding: $0.key, as: UTF8.self) }
    }

    static func count(_ keys: [String], under prefixes: [String]) -> Int {
        keys.filter { key in prefixes.contains { key.hasPrefix($0) } }.count
    }

    static func outsideAggregates(_ keys: [String]) -> Int {
        keys.filter { key in !aggregatePrefixes.contains { key.hasPrefix($0) } }.count
    }

    @Test(.timeLimit(.minutes(5))) func aBatchPastEveryWindowLeavesNoKeyBehind() throws {
        let nodes = try Nodes()
        let chain = nodes.driver
        let model = RewardsLedgerTests.model
        let keys = chain.validators
        let ta = keys[0]

        // Baseline: epoch 1 has just begun (short epochs: 30 blocks, epoch 1 from height 50).
        try nodes.advance(to: 50)
        let baseline = try Self.keys(chain)
        #expect(Self.count(baseline, under: Self.perInferencePrefixes) == 0)

        // The batch, all in epoch 1: served inferences, passing checks, one failed check that opens
        // a revalidation vote, a Start that expires, and a Finish whose Start never comes.
        var served: [(id: String, executor: Address, start: Wire.MsgStartInference)] = []
        for n in 0..<5 {
            let (request, executor, executorKey) = try InferenceTests.request(chain, body: "{\"batch\":\(n)}")
            let start = chain.startInference(request, taKey: ta, executor: executor, model: model)
            let finish = chain.finishInference(request, executor: executor, model: model)
            let result = try nodes.block([
                try nodes.tx(Wire.Msg(start), by: ta), try nodes.tx(Wire.Msg(finish), by: executorKey),
            ])
            #expect(result.txResults.allSatisfy { $0.isSuccess }, "\(result.txResults.compactMap(\.error))")
            served.append((request.inferenceID, executor, start))
        }
        for (index, inference) in served.enumerated() {
            let validator = try #require(keys.first { $0.publicKey.address != inference.executor })
            let msg = ValidationLedgerTests.validation(
                inference.id, by: validator.publicKey.address, passed: index != 0)
            let result = try nodes.block([try nodes.tx(Wire.Msg(msg), by: validator)])
            #expect(result.txResults[0].isSuccess, "\(String(describing: result.txResults[0].error))")
        }
        #expect(try chain.ledger.inference(served[0].id)?.status == .voting)
        let (expiring, expiringExecutor, _) = try InferenceTests.request(chain, body: "{\"batch\":\"expires\"}")
        let lonelyStart = chain.startInference(expiring, taKey: ta, executor: expiringExecutor, model: model)
        let (finishOnly, finishExecutor, finishKey) = try InferenceTests.request(chain, body: "{\"batch\":\"finish\"}")
        let lonelyFinish = chain.finishInference(finishOnly, executor: finishExecutor, model: model)
        let lonely = try nodes.block([
            try nodes.tx(Wire.Msg(lonelyStart), by: ta), try nodes.tx(Wire.Msg(lonelyFinish), by: finishKey),
        ])
        #expect(lonely.txResults.allSatisfy { $0.isSuccess }, "\(lonely.txResults.compactMap(\.error))")
        let batch = served.map(\.id) + [expiring.inferenceID, finishOnly.inferenceID]

        // Epoch 1 settles when epoch 3 begins (110); its claim window (1 epoch) closes when epoch 4
        // begins (140). Until then every record is kept: the claim audit reads them.
        try nodes.advance(to: 139)
        let before = try Self.keys(chain)
        #expect(try chain.ledger.inference(expiring.inferenceID)?.status == .expired)
        #expect(try chain.ledger.inference(finishOnly.inferenceID)?.status == .expired)
        #expect(try chain.ledger.inference(served[0].id)?.status == .validated)
        #expect(try RewardQueries.epoch(1, in: chain.store) != nil)
        for id in batch {
            #expect(try chain.ledger.inference(id) != nil, "\(id) pruned before its claim window closed")
        }
        #expect(Self.count(before, under: Self.perInferencePrefixes) > 0)

        try nodes.advance(to: 140)
        let after = try Self.keys(chain)
        for id in batch {
            #expect(try chain.ledger.inference(id) == nil, "\(id) still in state after every window closed")
            #expect(try chain.ledger.validations(of: id).validations.isEmpty)
        }
        #expect(Self.count(after, under: Self.perInferencePrefixes) == 0, "\(after.filter { $0.hasPrefix("inf") })")
        #expect(
            Self.outsideAggregates(after) == Self.outsideAggregates(baseline),
            "keys outside the aggregates: \(Set(after).subtracting(baseline).sorted())")
        // The aggregates the explorer reads are still there.
        let settled = try #require(try RewardQueries.epoch(1, in: chain.store))
        #expect(settled.summary.epoch == 1)
        for other in nodes.chains.dropFirst() {
            #expect(try Self.keys(other) == after)
            #expect(other.ledger.appHash == chain.ledger.appHash)
        }
        #expect(try chain.ledger.supplyInvariantViolation() == nil)

        // Bad input after pruning changes nothing: a validation of a pruned inference is refused as
        // unknown, a replayed Start is refused as stale (its timestamp is past the request window).
        let validator = try #require(keys.first { $0.publicKey.address != served[1].executor })
        let late = ValidationLedgerTests.validation(served[1].id, by: validator.publicKey.address, passed: true)
        let lateResult = try nodes.block([try nodes.tx(Wire.Msg(late), by: validator)])
        #expect(lateResult.txResults[0].error?.shortDescription == "unknown_inference")
        let replay = try nodes.block([try nodes.tx(Wire.Msg(served[1].start), by: ta)])
        #expect(replay.txResults[0].error?.shortDescription == "timestamp_out_of_window")
        #expect(try chain.ledger.inference(served[1].id) == nil)
        #expect(Self.count(try Self.keys(chain), under: Self.perInferencePrefixes) == 0)
    }
}
