import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import SwiftProtobuf
import Testing

@testable import Ledger

/// The transaction pipeline of PROTOCOL §3.4: what passes, and every class of rejection, each of
/// which must leave the state exactly as it was.
@Suite struct TxPipelineTests {
    @Test func sendMovesCoinsTakesFeeAndBumpsSequence() throws {
        let chain = try TestChain()
        let before0 = try chain.balance(0)
        let before1 = try chain.balance(1)
        let tx = try chain.send(from: 0, to: 1, amount: 5_000)
        let fee = Amount(ngonka: chain.genesis.params.minGasPrice * 2_000)
        let result = try chain.finalize([tx])
        let outcome = try #require(result.txResults.first)
        #expect(outcome.error == nil)
        #expect(outcome.hash == Hash.sha256(tx))
        #expect(try chain.balance(0) == Amount(ngonka: before0.ngonka - 5_000 - fee.ngonka))
        #expect(try chain.balance(1) == Amount(ngonka: before1.ngonka + 5_000))
        #expect(try chain.ledger.balance(of: Ledger.moduleAddress("fee_collector")!) == fee)
        #expect(try chain.ledger.account(chain.address(0)).sequence == 1)
        #expect(try chain.ledger.account(chain.address(0)).pubkey == Data(chain.accounts[0].publicKey.bytes))
        #expect(
            outcome.events == [
                .feePaid(payer: chain.address(0), amount: fee),
                .transfer(from: chain.address(0), to: chain.address(1), amount: Amount(ngonka: 5_000)),
            ])
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
        #expect(result.appHash == chain.ledger.appHash)
    }

    /// Runs one block holding only `tx` and checks that it was rejected with `code` and that the
    /// committed state did not change at all (same root, same balances, same sequences).
    func expectRejected(
        _ chain: TestChain, _ tx: [UInt8], _ code: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let rootBefore = chain.ledger.appHash
        let balances = try (0..<chain.accounts.count).map { try chain.balance($0) }
        let sequences = try (0..<chain.accounts.count).map { try chain.ledger.account(chain.address($0)).sequence }
        let result = try chain.finalize([tx])
        let error = try #require(result.txResults.first?.error, sourceLocation: sourceLocation)
        #expect(error.shortDescription == code, "\(error)", sourceLocation: sourceLocation)
        #expect(!error.description.isEmpty, sourceLocation: sourceLocation)
        #expect(result.txResults.first?.events == [], sourceLocation: sourceLocation)
        #expect(chain.ledger.appHash == rootBefore, "state root changed", sourceLocation: sourceLocation)
        #expect(
            try (0..<chain.accounts.count).map { try chain.balance($0) } == balances, sourceLocation: sourceLocation)
        #expect(
            try (0..<chain.accounts.count).map { try chain.ledger.account(chain.address($0)).sequence } == sequences,
            sourceLocation: sourceLocation)
        // The mempool says the same.
        #expect(chain.ledger.checkTx(tx).error?.shortDescription == code, sourceLocation: sourceLocation)
    }

    @Test func badSignatureIsRejected() throws {
        let chain = try TestChain()
        var tx = try Wire.Tx(serializedBytes: try chain.send(from: 0, to: 1, amount: 1))
        var signature = Array(tx.signature)
        signature[10] ^= 0x01
        tx.signature = Data(signature)
        try expectRejected(chain, Array(try tx.serializedData()), "bad_signature")
    }

    @Test func bodyChangedAfterSigningIsRejected() throws {
        let chain = try TestChain()
        let tx = try Wire.Tx(serializedBytes: try chain.send(from: 0, to: 1, amount: 1))
        var body = try Wire.TxBody(serializedBytes: tx.bodyBytes)
        body.messages = [.send(from: chain.address(0), to: chain.address(1), amount: 1_000_000)]
        var forged = tx
        forged.bodyBytes = try body.serializedData()
        try expectRejected(chain, Array(try forged.serializedData()), "bad_signature")
    }

    @Test func signatureFromAnotherKeyIsRejected() throws {
        let chain = try TestChain()
        // Account 1 signs a body claiming to be account 0's: the key does not match the signer.
        let body = chain.body(
            [.send(from: chain.address(0), to: chain.address(1), amount: 1)], signer: chain.accounts[0])
        try expectRejected(chain, try chain.sign(body, by: chain.accounts[1]), "signer_mismatch")
    }

    @Test func malformedSignerKeyIsRejected() throws {
        let chain = try TestChain()
        var tx = try Wire.Tx(serializedBytes: try chain.send(from: 0, to: 1, amount: 1))
        tx.signerPubkey = Data(repeating: 0xFF, count: 31)
        try expectRejected(chain, Array(try tx.serializedData()), "invalid_public_key")
        // 32 bytes that are no curve point (y ≥ p): refused before any signature check.
        tx.signerPubkey = Data([0xEE] + [UInt8](repeating: 0xFF, count: 30) + [0x7F])
        try expectRejected(chain, Array(try tx.serializedData()), "invalid_public_key")
    }

    @Test func wrongChainIsRejected() throws {
        let chain = try TestChain()
        var body = chain.body(
            [.send(from: chain.address(0), to: chain.address(1), amount: 1)], signer: chain.accounts[0])
        body.chainID = "other-chain"
        try expectRejected(chain, try chain.sign(body, by: chain.accounts[0]), "wrong_chain")
    }

    @Test func replayedAndFutureSequencesAreRejected() throws {
        let chain = try TestChain()
        let first = try chain.send(from: 0, to: 1, amount: 1)
        try chain.finalize([first])
        try expectRejected(chain, first, "bad_sequence")  // replay of an included tx
        let future = chain.body(
            [.send(from: chain.address(0), to: chain.address(1), amount: 1)], signer: chain.accounts[0], sequence: 7)
        try expectRejected(chain, try chain.sign(future, by: chain.accounts[0]), "bad_sequence")
    }

    @Test func emptyOrUnknownMessageIsRejected() throws {
        let chain = try TestChain()
        let empty = chain.body([Wire.Msg()], signer: chain.accounts[0], sequence: 0)
        try expectRejected(chain, try chain.sign(empty, by: chain.accounts[0]), "unknown_message")
        // A message type from the future: field 99 of Msg, which this build does not know.
        var unknown = Wire.Msg()
        unknown.unknownFields = try UnknownFieldsMaker.field(99, bytes: [1, 2, 3])
        let future = chain.body([unknown], signer: chain.accounts[0], sequence: 0)
        try expectRejected(chain, try chain.sign(future, by: chain.accounts[0]), "unknown_message")
        let none = chain.body([], signer: chain.accounts[0], sequence: 0)
        try expectRejected(chain, try chain.sign(none, by: chain.accounts[0]), "empty_tx")
    }

    @Test func oversizedIsRejected() throws {
        let chain = try TestChain()
        var body = chain.body(
            [.send(from: chain.address(0), to: chain.address(1), amount: 1)], signer: chain.accounts[0])
        body.memo = String(repeating: "x", count: 100)
        body.messages = Array(repeating: body.messages[0], count: 60)
        var big = try chain.sign(body, by: chain.accounts[0])
        big += [UInt8](repeating: 0, count: Int(chain.genesis.params.maxTxBytes))
        try expectRejected(chain, big, "oversized")
    }

    @Test(arguments: [
        [UInt8](),
        [0xFF, 0xFF, 0xFF],
        Array("not a transaction".utf8),
        [0x0A, 0x80],  // a length prefix with no bytes behind it
    ])
    func undecodableIsRejected(bytes: [UInt8]) throws {
        let chain = try TestChain()
        let result = try chain.finalize([bytes])
        let code = result.txResults.first?.error?.shortDescription
        // An empty envelope decodes to empty fields; everything else fails to decode.
        #expect(code == "undecodable" || code == "empty_tx", "got \(String(describing: code))")
    }

    @Test func unknownBodyFieldsAreRejected() throws {
        let chain = try TestChain()
        var body = chain.body(
            [.send(from: chain.address(0), to: chain.address(1), amount: 1)], signer: chain.accounts[0])
        body.unknownFields = try UnknownFieldsMaker.field(50, bytes: [7])
        try expectRejected(chain, try chain.sign(body, by: chain.accounts[0]), "undecodable")
    }

    @Test func insufficientFundsIsRejected() throws {
        let chain = try TestChain(balance: Amount(ngonka: 1_000_000))
        try expectRejected(chain, try chain.send(from: 0, to: 1, amount: 999_999), "insufficient_funds")
        // Not even the fee.
        try expectRejected(chain, try chain.send(from: 2, to: 1, amount: 1, fee: 2_000_000), "insufficient_funds")
    }

    @Test func feeBelowTheFloorIsRejected() throws {
        let chain = try TestChain()
        try expectRejected(chain, try chain.send(from: 0, to: 1, amount: 1, fee: 10), "fee_too_low")
    }

    @Test func sendingFromSomeoneElsesAccountNeedsAGrant() throws {
        let chain = try TestChain()
        let body = chain.body(
            [.send(from: chain.address(1), to: chain.address(0), amount: 1)], signer: chain.accounts[0])
        try expectRejected(chain, try chain.sign(body, by: chain.accounts[0]), "no_grant")
    }

    @Test func invalidFieldsAreRejected() throws {
        let chain = try TestChain()
        var badAddress = Wire.MsgSend()
        badAddress.fromAddress = chain.address(0).description
        badAddress.toAddress = "gonka1notanaddress"
        badAddress.amount = 1
        try expectRejected(
            chain,
            try chain.sign(
                chain.body([Wire.Msg(badAddress)], signer: chain.accounts[0], sequence: 0), by: chain.accounts[0]),
            "invalid_address")
        let zero = chain.body(
            [.send(from: chain.address(0), to: chain.address(1), amount: 0)], signer: chain.accounts[0], sequence: 0)
        try expectRejected(chain, try chain.sign(zero, by: chain.accounts[0]), "invalid_amount")
        let toModule = chain.body(
            [.send(from: chain.address(0), to: Ledger.moduleAddress("fee_collector")!, amount: 1)],
            signer: chain.accounts[0], sequence: 0)
        try expectRejected(chain, try chain.sign(toModule, by: chain.accounts[0]), "module_account_recipient")
        var memo = chain.body(
            [.send(from: chain.address(0), to: chain.address(1), amount: 1)], signer: chain.accounts[0], sequence: 0)
        memo.memo = String(repeating: "m", count: 1_000)
        try expectRejected(chain, try chain.sign(memo, by: chain.accounts[0]), "memo_too_long")
    }

    @Test func aFailingMessageUndoesTheWholeTransaction() throws {
        let chain = try TestChain(balance: Amount(ngonka: 10_000_000))
        // First message is fine, second overdraws: nothing of either may stay, fee included.
        let body = chain.body(
            [
                .send(from: chain.address(0), to: chain.address(1), amount: 1_000),
                .send(from: chain.address(0), to: chain.address(2), amount: 9_999_999),
            ], signer: chain.accounts[0])
        try expectRejected(chain, try chain.sign(body, by: chain.accounts[0]), "insufficient_funds")
    }

    @Test func checkTxChainsSequencesUntilCommit() throws {
        let chain = try TestChain()
        let first = try chain.send(from: 0, to: 1, amount: 1)
        let second = try chain.send(from: 0, to: 1, amount: 1)
        #expect(chain.ledger.checkTx(second).error?.shortDescription == "bad_sequence")
        #expect(chain.ledger.checkTx(first).isSuccess)
        #expect(chain.ledger.checkTx(first).error?.shortDescription == "bad_sequence")  // already in the mempool
        #expect(chain.ledger.checkTx(second).isSuccess)
        // checkTx never touches committed state.
        #expect(try chain.ledger.account(chain.address(0)).sequence == 0)
        let result = try chain.finalize([first, second])
        #expect(result.txResults.allSatisfy { $0.isSuccess })
        let third = try chain.send(from: 0, to: 1, amount: 1)
        #expect(chain.ledger.checkTx(third).isSuccess)
    }

    @Test func blockOrderMattersWithinABlock() throws {
        let chain = try TestChain()
        let first = try chain.send(from: 0, to: 1, amount: 1)
        let second = try chain.send(from: 0, to: 1, amount: 1)
        let result = try chain.finalize([second, first])
        #expect(result.txResults.map { $0.error?.shortDescription } == ["bad_sequence", nil])
    }
}

/// Builds protobuf unknown fields from raw wire bytes, to simulate messages from newer software.
enum UnknownFieldsMaker {
    static func field(_ number: UInt32, bytes: [UInt8]) throws -> SwiftProtobuf.UnknownStorage {
        // A length-delimited field: key = number << 3 | 2, then the length, then the bytes.
        var raw: [UInt8] = []
        var key = UInt64(number) << 3 | 2
        while key >= 0x80 { raw.append(UInt8(key & 0x7F) | 0x80); key >>= 7 }
        raw.append(UInt8(key))
        raw.append(UInt8(bytes.count))
        raw += bytes
        // Decode the bytes as an empty message to obtain its unknown-field storage.
        return try Wire.MsgRevokeOperator(serializedBytes: raw).unknownFields
    }
}
