import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import SwiftProtobuf
import Testing

@testable import Ledger

/// Module Inference's bad input (PROTOCOL §6.4): every malformed, unauthorised, stale or duplicate
/// Start or Finish is rejected with its reason and changes nothing.
extension InferenceTests {
    /// Builds two identical chains, runs `setup` on both, then a block holding `bad(chain)` on one
    /// and an empty block on the other: the tx must be rejected with `code` and the two state roots
    /// must be equal (the block's own end-block changes, like the price step, are the same in both).
    func expectRejected(
        _ code: String, messageContains: String? = nil, params: ChainParams = .devnet,
        setup: (TestChain) throws -> Void = { _ in }, bad: (TestChain) throws -> [UInt8],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let chain = try Self.makeChain(params: params)
        let twin = try Self.makeChain(params: params)
        try setup(chain)
        try setup(twin)
        #expect(chain.ledger.appHash == twin.ledger.appHash, sourceLocation: sourceLocation)
        let tx = try bad(chain)
        let checked = chain.ledger.checkTx(tx)
        let result = try Self.block(chain, [tx])
        try Self.block(twin)
        let error = try #require(result.txResults.first?.error, sourceLocation: sourceLocation)
        #expect(error.shortDescription == code, "\(error)", sourceLocation: sourceLocation)
        if let messageContains {
            #expect(error.description.contains(messageContains), "\(error)", sourceLocation: sourceLocation)
        }
        #expect(result.txResults.first?.events == [], sourceLocation: sourceLocation)
        #expect(chain.ledger.appHash == twin.ledger.appHash, "state changed", sourceLocation: sourceLocation)
        #expect(checked.error != nil, "the mempool accepted it", sourceLocation: sourceLocation)
    }

    /// A Start exactly as an honest TA would send it, after `adjust`.
    static func start(
        _ chain: TestChain, requester: SigningKey? = nil, timestamp: Int64? = nil,
        _ adjust: (inout Wire.MsgStartInference) -> Void = { _ in }
    ) throws -> [UInt8] {
        var (request, executor, _) = try Self.request(chain, requester: requester)
        if let timestamp {
            request = chain.inferenceRequest(
                requester: request.requester, transferAgent: request.transferAgent, body: "{\"n\":1}",
                timestamp: timestamp)
            executor = try chain.drawnExecutor(for: request, model: Self.model)
        }
        var msg = chain.startInference(request, taKey: chain.validators[0], executor: executor, model: Self.model)
        adjust(&msg)
        return try Self.tx(chain, msg, by: chain.validators[0])
    }

    @Test func badDeveloperSignatureIsRejected() throws {
        try expectRejected("bad_developer_signature") { chain in
            let (honest, executor, _) = try Self.request(chain)
            // Signed by account 1 while naming account 0 as the requester (and its key).
            let forged = TestInferenceRequest(
                requester: chain.accounts[0], transferAgent: honest.transferAgent, bodyHash: honest.bodyHash,
                timestamp: honest.timestamp,
                developerSignature: Array(
                    chain.accounts[1].signature(
                        for: InferenceRequestSigning.developerSignBytes(
                            chainID: TestChain.chainID, bodyHash: honest.bodyHash, timestamp: honest.timestamp,
                            transferAgent: honest.transferAgent))))
            let drawn = try chain.drawnExecutor(for: forged, model: Self.model)
            _ = executor
            return try Self.tx(
                chain, chain.startInference(forged, taKey: chain.validators[0], executor: drawn, model: Self.model),
                by: chain.validators[0])
        }
    }

    @Test func requesterKeyOfAnotherAccountIsRejected() throws {
        try expectRejected("bad_developer_signature", messageContains: "requester_pubkey") { chain in
            try Self.start(chain) { $0.requesterPubkey = Data(chain.accounts[1].publicKey.bytes) }
        }
    }

    @Test func badTransferAgentSignatureIsRejected() throws {
        try expectRejected("bad_ta_signature") { chain in
            let (request, executor, _) = try Self.request(chain)
            // Signed by another participant's key.
            let msg = chain.startInference(request, taKey: chain.validators[1], executor: executor, model: Self.model)
            return try Self.tx(chain, msg, by: chain.validators[0])
        }
    }

    @Test func executorThatIsNotTheDrawIsRejectedNamingTheDraw() throws {
        let chain = try Self.makeChain()
        let (_, expected, _) = try Self.request(chain)
        try expectRejected("wrong_executor", messageContains: expected.description) { chain in
            let (request, drawn, _) = try Self.request(chain)
            let other = try #require(
                chain.validators.map(\.publicKey.address).first { $0 != drawn && $0 != request.transferAgent })
            // Correctly signed by the TA for that executor: only the draw makes it wrong.
            let msg = chain.startInference(request, taKey: chain.validators[0], executor: other, model: Self.model)
            return try Self.tx(chain, msg, by: chain.validators[0])
        }
    }

    @Test func duplicateInferenceIsRejected() throws {
        var first: [UInt8] = []
        try expectRejected(
            "duplicate_inference",
            setup: { chain in
                first = try Self.start(chain)
                let result = try Self.block(chain, [first])
                #expect(result.txResults[0].error == nil)
            },
            bad: { chain in
                // The same Start again, in a new transaction.
                let tx = try Wire.Tx(serializedBytes: first)
                let body = try Wire.TxBody(serializedBytes: tx.bodyBytes)
                return try chain.dutyTx(body.messages, by: chain.validators[0])
            })
    }

    @Test func unknownModelIsRejected() throws {
        try expectRejected("unknown_model") { chain in try Self.start(chain) { $0.model = "no-such-model" } }
    }

    @Test func insufficientBalanceIsRejected() throws {
        try expectRejected("insufficient_funds") { chain in
            // An account that holds nothing.
            try Self.start(chain, requester: TestChain.key(seed: 99, index: 0))
        }
    }

    @Test func escrowAboveTheBalanceIsRejected() throws {
        try expectRejected("insufficient_funds") { chain in
            // 1,000 GNK = 10^12 ngonka buys 10^10 tokens at 100.
            try Self.start(chain) { $0.maxTokens = 20_000_000_000 }
        }
    }

    @Test func staleTimestampIsRejected() throws {
        try expectRejected("timestamp_out_of_window") { chain in
            try Self.start(chain, timestamp: Self.time(1) - 61 * Self.second)
        }
    }

    @Test func futureTimestampIsRejected() throws {
        try expectRejected("timestamp_out_of_window") { chain in
            try Self.start(chain, timestamp: Self.time(1) + 31 * Self.second)
        }
    }

    @Test func timestampsAtTheWindowEdgesAreAccepted() throws {
        for offset in [-60 * Self.second, 30 * Self.second] {
            let chain = try Self.makeChain()
            let result = try Self.block(chain, [try Self.start(chain, timestamp: Self.time(1) + offset)])
            #expect(result.txResults[0].error == nil, "\(String(describing: result.txResults[0].error))")
        }
    }

    @Test func nonParticipantTransferAgentIsRejected() throws {
        try expectRejected("not_participant") { chain in
            // Account 1 is funded but not a participant; it pays the fee so the fee is not the reason.
            let ta = chain.accounts[1]
            let request = chain.inferenceRequest(
                requester: chain.accounts[0], transferAgent: ta.publicKey.address, timestamp: Self.time(1))
            let executor = try chain.drawnExecutor(for: request, model: Self.model)
            let msg = chain.startInference(request, taKey: ta, executor: executor, model: Self.model)
            return try chain.sign(chain.body([Wire.Msg(msg)], signer: ta), by: ta)
        }
    }

    @Test func nonParticipantCannotSendFreeDutyTxs() throws {
        try expectRejected("fee_too_low") { chain in
            let ta = chain.accounts[1]
            let request = chain.inferenceRequest(
                requester: chain.accounts[0], transferAgent: ta.publicKey.address, timestamp: Self.time(1))
            let executor = try chain.drawnExecutor(for: request, model: Self.model)
            return try Self.tx(
                chain, chain.startInference(request, taKey: ta, executor: executor, model: Self.model), by: ta)
        }
    }

    @Test func attemptBeyondMaxAttemptsIsRejected() throws {
        try expectRejected("invalid_field", messageContains: "attempt") { chain in
            try Self.start(chain) { $0.attempt = 3 }
        }
    }

    @Test func inferenceIDThatIsNotTheSignatureHashIsRejected() throws {
        try expectRejected("invalid_field", messageContains: "inference_id") { chain in
            try Self.start(chain) { $0.inferenceID = String(repeating: "ab", count: 32) }
        }
    }

    @Test func finishByAnotherExecutorIsRejected() throws {
        var request: TestInferenceRequest?
        var executor: Address?
        try expectRejected(
            "executor_mismatch",
            setup: { chain in
                let (r, e, _) = try Self.request(chain)
                request = r
                executor = e
                let start = chain.startInference(r, taKey: chain.validators[0], executor: e, model: Self.model)
                #expect(
                    try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0])]).txResults[0].isSuccess)
            },
            bad: { chain in
                let other = try #require(chain.validators.first { $0.publicKey.address != executor })
                let finish = chain.finishInference(
                    try #require(request), executor: other.publicKey.address, model: Self.model)
                return try Self.tx(chain, finish, by: other)
            })
    }

    @Test func completionAboveMaxTokensIsRejected() throws {
        var request: TestInferenceRequest?
        var executorKey: SigningKey?
        try expectRejected(
            "invalid_field", messageContains: "completion_tokens",
            setup: { chain in
                let (r, e, k) = try Self.request(chain)
                request = r
                executorKey = k
                let start = chain.startInference(
                    r, taKey: chain.validators[0], executor: e, model: Self.model, maxTokens: 50)
                #expect(
                    try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0])]).txResults[0].isSuccess)
            },
            bad: { chain in
                let key = try #require(executorKey)
                let finish = chain.finishInference(
                    try #require(request), executor: key.publicKey.address, model: Self.model, completionTokens: 51)
                return try Self.tx(chain, finish, by: key)
            })
    }

    @Test func finishAfterExpiryIsRejected() throws {
        var request: TestInferenceRequest?
        var executorKey: SigningKey?
        try expectRejected(
            "inference_expired",
            setup: { chain in
                let (r, e, k) = try Self.request(chain)
                request = r
                executorKey = k
                let start = chain.startInference(r, taKey: chain.validators[0], executor: e, model: Self.model)
                #expect(
                    try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0])]).txResults[0].isSuccess)
                for _ in 0..<30 { try Self.block(chain) }
                #expect(try chain.ledger.inference(r.inferenceID)?.status == .expired)
            },
            bad: { chain in
                let key = try #require(executorKey)
                let finish = chain.finishInference(
                    try #require(request), executor: key.publicKey.address, model: Self.model)
                return try Self.tx(chain, finish, by: key)
            })
    }

    @Test func secondFinishIsRejected() throws {
        var finishTx: [UInt8] = []
        var executorKey: SigningKey?
        try expectRejected(
            "already_finished",
            setup: { chain in
                let (r, e, k) = try Self.request(chain)
                executorKey = k
                let start = chain.startInference(r, taKey: chain.validators[0], executor: e, model: Self.model)
                let finish = chain.finishInference(r, executor: e, model: Self.model)
                finishTx = try Self.tx(chain, finish, by: k)
                let result = try Self.block(chain, [try Self.tx(chain, start, by: chain.validators[0]), finishTx])
                #expect(result.txResults.allSatisfy { $0.isSuccess })
            },
            bad: { chain in
                let body = try Wire.TxBody(serializedBytes: try Wire.Tx(serializedBytes: finishTx).bodyBytes)
                return try chain.dutyTx(body.messages, by: try #require(executorKey))
            })
    }

    @Test func dutyTxsBeyondTheBoundPayOrAreRejected() throws {
        var params = ChainParams.devnet
        params.maxDutyTxsPerBlock = 1
        let chain = try Self.makeChain(params: params)
        let (r1, e1, _) = try Self.request(chain, body: "a")
        let (r2, e2, _) = try Self.request(chain, body: "b")
        let first = try Self.tx(
            chain, chain.startInference(r1, taKey: chain.validators[0], executor: e1, model: Self.model),
            by: chain.validators[0])
        let second = try Self.tx(
            chain, chain.startInference(r2, taKey: chain.validators[0], executor: e2, model: Self.model),
            by: chain.validators[0])
        let result = try Self.block(chain, [first, second])
        #expect(result.txResults[0].error == nil)
        #expect(result.txResults[1].error?.shortDescription == "duty_tx_limit")
        // The count is per block: the next block accepts it again (the rejected tx used no sequence).
        chain.sequences[chain.validators[0].publicKey.address] = 1
        let again = try Self.block(
            chain,
            [
                try Self.tx(
                    chain, chain.startInference(r2, taKey: chain.validators[0], executor: e2, model: Self.model),
                    by: chain.validators[0])
            ])
        #expect(again.txResults[0].error == nil, "\(String(describing: again.txResults[0].error))")
    }
}
