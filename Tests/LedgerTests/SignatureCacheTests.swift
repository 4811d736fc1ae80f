import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf
import Testing

/// The ledger's signature cache changes speed, never results.
@Suite struct SignatureCacheTests {
    @Test func sameResultsWithAndWithoutTheCache() throws {
        let plain = try TestChain(accounts: 3)
        let cached = try TestChain(accounts: 3)
        // `[memory] signature_cache_mb` sets it in bytes: room for four entries here.
        cached.ledger.signatureCache = SignatureCache(bytes: 4 * SignatureCache.bytesPerEntry + 50)
        #expect(cached.ledger.signatureCache?.capacity == 4)
        var txs: [[UInt8]] = []
        for k in 0..<8 { txs.append(try plain.send(from: k % 3, to: (k + 1) % 3, amount: 10)) }
        // A signature that does not match its body: rejected both ways, and never cached.
        var forged = try Wire.Tx(serializedBytes: txs[0])
        forged.signature = Data(repeating: 1, count: 64)
        txs.append(try forged.serializedBytes())
        for tx in txs {
            #expect(cached.ledger.checkTx(tx).error == plain.ledger.checkTx(tx).error)
        }
        #expect(cached.ledger.signatureCache?.count == 4, "bounded by its capacity")
        let a = try plain.finalize(txs)
        let b = try cached.finalize(txs)
        #expect(a.appHash == b.appHash)
        #expect(a.txResults.map(\.error) == b.txResults.map(\.error))
        #expect(b.txResults.last?.error?.shortDescription == "bad_signature")
        // Replaying a committed tx: its signature is cached, its sequence is spent.
        #expect(cached.ledger.checkTx(txs[1]).error?.shortDescription == "bad_sequence")
    }
}
