import ChainRPCTypes
import Foundation
import GonkaCore
import GonkaTestKit
import Ledger
import Storage
import Testing

@testable import ChainNode

/// A query for an inference the chain no longer holds says that records are pruned by rule
/// (PROTOCOL §3.3) once any epoch's claim window has closed, instead of a bare null.
@Suite struct PrunedQueryTests {
    @Test func anAbsentInferenceCarriesThePrunedNoteOnceEpochsArePruned() throws {
        var params = ChainParams.devnet
        params.epochs = .short
        let chain = try TestChain(
            accounts: 2, params: params, validatorPowers: [10, 20],
            models: [Genesis.Model(id: "m", tokensPerSecondPerWeight: 1, validationThresholdPpm: 50_000)],
            moduleAccounts: [.init(name: "mining_pool", balance: Amount(gnk: 1_000_000)!)])
        let id = String(repeating: "ab", count: 32)
        func query(_ path: QueryPath) throws -> QueryResult {
            try QueryEngine.run(path, height: nil, state: chain.store, latest: chain.ledger.height ?? 0)
        }
        func advance(to height: UInt64) throws {
            while (chain.ledger.height ?? 0) < height {
                try chain.finalize(
                    [], time: 1_800_000_000_000_000_000 + Int64((chain.ledger.height ?? 0) + 1) * 1_000_000_000)
            }
        }
        // Nothing pruned yet: an unknown id is a plain null.
        try advance(to: 5)
        #expect(try query(.inference(id)).value.isNull)
        #expect(try query(.inference(id)).pruned == nil)
        // Epoch 0's claim window closes when epoch 3 begins (short epochs: height 110).
        try advance(to: 110)
        let answer = try query(.inference(id))
        #expect(answer.value.isNull)
        let note = try #require(answer.pruned)
        #expect(note.hasPrefix("pruned:"), "\(note)")
        #expect(note.contains("before 1"), "\(note)")
        #expect(try query(.validation(id)).pruned != nil)
    }
}
