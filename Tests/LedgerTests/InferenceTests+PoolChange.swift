import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// §6.4 [improved]: a Start drawn from the executor pool a change replaced (an epoch switch, a
/// jail, an INVALID verdict) lands for `request_max_age_seconds` of block time after the change.
/// The soak's seed 3 had honest Starts refused `wrong_executor` across such changes: answers
/// relayed and never charged, executors unpaid.
extension InferenceTests {
    /// The next block's context, for a change made "in" it.
    static func nextContext(_ chain: TestChain) -> BlockContext {
        let next = (chain.ledger.height ?? 0) + 1
        return BlockContext(chainID: TestChain.chainID, height: next, time: time(next), proposer: nil)
    }

    /// A request timestamped at the next block whose attempt-0 draw from the current pool is
    /// `executor`.
    static func request(_ chain: TestChain, drawing executor: Address) throws -> TestInferenceRequest {
        for n in 0..<200 {
            let next = (chain.ledger.height ?? 0) + 1
            let request = chain.inferenceRequest(
                requester: chain.accounts[0], transferAgent: chain.validators[0].publicKey.address,
                body: "{\"n\":\(n)}", timestamp: time(next))
            if try chain.drawnExecutor(for: request, model: model) == executor { return request }
        }
        throw LedgerTestError("no request of 200 draws \(executor)")
    }

    /// Takes `executor` out of the pool in the next block, as a jail does.
    static func removeInNextBlock(_ chain: TestChain, _ executor: Address) throws {
        let state = StateContext(store: chain.store)
        let context = Self.nextContext(chain)
        try state.transaction { () throws(LedgerError) in
            try Inference.removeFromExecutorSet(executor, context: context, in: state)
        }
        try state.flush()
    }

    @Test func aStartDrawnFromThePoolAJailReplacedLandsForTheRequestWindow() throws {
        let chain = try Self.makeChain()
        let ta = chain.validators[0]
        // Validators 1 and 2 are the TA's candidates; one of them is jailed after the draw.
        let jailed = chain.validators[2].publicKey.address
        let drawnBefore = try Self.request(chain, drawing: jailed)
        try Self.removeInNextBlock(chain, jailed)
        #expect(try chain.drawnExecutor(for: drawnBefore, model: Self.model) != jailed)

        // The TA's Start, drawn before the change, lands in the block that made it.
        let start = chain.startInference(drawnBefore, taKey: ta, executor: jailed, model: Self.model)
        let landed = try Self.block(chain, [try Self.tx(chain, start, by: ta)])
        #expect(landed.txResults[0].error == nil, "\(String(describing: landed.txResults[0].error))")
        #expect(try chain.ledger.inference(drawnBefore.inferenceID)?.executor == jailed.description)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)

        // Still within the window (60 s of block time, 60 blocks here): another request drawn
        // from the replaced pool lands too.
        for _ in 0..<58 { try Self.block(chain) }
        var replaced = try Self.replacedPoolRequest(chain, drawing: jailed)
        var late = chain.startInference(replaced, taKey: ta, executor: jailed, model: Self.model)
        let inWindow = try Self.block(chain, [try Self.tx(chain, late, by: ta)])
        #expect(inWindow.txResults[0].error == nil, "\(String(describing: inWindow.txResults[0].error))")

        // Past it, the replaced pool is no excuse: the Start is refused and changes nothing.
        for _ in 0..<2 { try Self.block(chain) }
        replaced = try Self.replacedPoolRequest(chain, drawing: jailed)
        late = chain.startInference(replaced, taKey: ta, executor: jailed, model: Self.model)
        let before = chain.ledger.appHash
        #expect(chain.ledger.checkTx(try Self.tx(chain, late, by: ta)).error?.shortDescription == "wrong_executor")
        #expect(chain.ledger.appHash == before)
    }

    /// A request at the next block whose attempt-0 draw from the *replaced* pool is `executor`.
    static func replacedPoolRequest(_ chain: TestChain, drawing executor: Address) throws -> TestInferenceRequest {
        let state = StateContext(store: chain.store)
        let set = try #require(
            try state.record(Wire.ExecutorSet.self, at: StateKey.replacedExecutorSet, what: "replaced executor set"))
        let seed = try Inference.epochSeed(of: set)
        let candidates = try Inference.candidates(of: set)
        for n in 1_000..<1_200 {
            let next = (chain.ledger.height ?? 0) + 1
            let request = chain.inferenceRequest(
                requester: chain.accounts[0], transferAgent: chain.validators[0].publicKey.address,
                body: "{\"n\":\(n)}", timestamp: time(next))
            let drawn = try ExecutorDraw.executor(
                inferenceID: request.inferenceID, epochSeed: seed, attempt: 0, transferAgent: request.transferAgent,
                candidates: candidates)
            if drawn == executor { return request }
        }
        throw LedgerTestError("no request of 200 draws \(executor) from the replaced pool")
    }

    @Test func anEpochSwitchKeepsThePoolItReplacedAndTwoChangesInOneBlockKeepTheFirst() throws {
        // Four participants: the TA and three candidates, so the draw still has a choice after a jail.
        let chain = try TestChain(
            accounts: 4, params: .devnet, validatorPowers: [10, 20, 30, 40],
            models: [Genesis.Model(id: Self.model, tokensPerSecondPerWeight: 1)])
        let ta = chain.validators[0]
        let executor = chain.validators[1].publicKey.address
        let jailed = chain.validators[3].publicKey.address
        let original = try chain.ledger.executors(model: Self.model)
        let newSeed = Hash.sha256("epoch 1")
        let newPool = original.candidates.filter { $0.address != jailed }
        // A request drawn to `executor` from the pool now and to someone else from the next one.
        var drawnBefore: TestInferenceRequest?
        for n in 0..<400 where drawnBefore == nil {
            let request = chain.inferenceRequest(
                requester: chain.accounts[0], transferAgent: ta.publicKey.address, body: "{\"n\":\(n)}",
                timestamp: Self.time((chain.ledger.height ?? 0) + 1))
            let before = try chain.drawnExecutor(for: request, model: Self.model)
            let after = try ExecutorDraw.executor(
                inferenceID: request.inferenceID, epochSeed: newSeed, attempt: 0,
                transferAgent: ta.publicKey.address, candidates: newPool)
            if before == executor, after != executor { drawnBefore = request }
        }
        let request = try #require(drawnBefore)
        // One block switches the epoch (a new seed) and then jails a participant.
        let state = StateContext(store: chain.store)
        let context = Self.nextContext(chain)
        try state.transaction { () throws(LedgerError) in
            try Inference.setExecutorSet(
                epoch: 1, epochSeed: newSeed, candidates: original.candidates, context: context, in: state)
            try Inference.removeFromExecutorSet(jailed, context: context, in: state)
        }
        try state.flush()
        let kept = try #require(
            try state.record(Wire.ExecutorSet.self, at: StateKey.replacedExecutorSet, what: "replaced executor set"))
        #expect(try Inference.epochSeed(of: kept) == original.epochSeed, "the pool the block began with")
        #expect(try Inference.candidates(of: kept) == original.candidates)
        #expect(try chain.drawnExecutor(for: request, model: Self.model) != executor)

        let start = chain.startInference(request, taKey: ta, executor: executor, model: Self.model)
        let landed = try Self.block(chain, [try Self.tx(chain, start, by: ta)])
        #expect(landed.txResults[0].error == nil, "\(String(describing: landed.txResults[0].error))")
        // Finished, it pays the executor in the epoch the Start landed in.
        let finish = chain.finishInference(
            request, executor: executor, model: Self.model, promptTokens: 10, completionTokens: 5)
        let executorKey = try #require(chain.validatorKey(executor))
        let finished = try Self.block(chain, [try Self.tx(chain, finish, by: executorKey)])
        #expect(finished.txResults[0].error == nil, "\(String(describing: finished.txResults[0].error))")
        #expect(try chain.ledger.inference(request.inferenceID)?.status == .finished)
        #expect(try chain.ledger.earnings(epoch: 1, address: executor).ngonka > 0)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }
}
