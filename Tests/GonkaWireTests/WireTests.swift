import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf
import Testing

@Suite struct WireTests {
    let key = (try? SigningKey(seed: [UInt8](repeating: 7, count: 32))) ?? SigningKey()

    func body() -> Wire.TxBody {
        var send = Wire.MsgSend()
        send.fromAddress = key.publicKey.address.description
        send.toAddress = key.publicKey.address.description
        send.amount = 42
        var body = Wire.TxBody()
        body.chainID = "t1"
        body.signer = key.publicKey.address.description
        body.sequence = 3
        body.messages = [Wire.Msg(send)]
        body.memo = "hi"
        body.fee = 100
        return body
    }

    @Test func signedTxCoversTheExactBodyBytes() throws {
        let tx = try Wire.Tx.signed(body: body(), by: key)
        let bytes: [UInt8] = try tx.serializedBytes()
        let decoded = try Wire.Tx(serializedBytes: bytes)
        #expect(decoded == tx)
        #expect(decoded.signerPubkey == Data(key.publicKey.bytes))
        let signBytes = SignBytes.make(.tx, chainID: "t1", decoded.bodyBytes)
        #expect(key.publicKey.isValidSignature(decoded.signature, for: signBytes))
        // Another chain's domain, or another kind's, does not verify.
        #expect(
            !key.publicKey.isValidSignature(
                decoded.signature, for: SignBytes.make(.tx, chainID: "t2", decoded.bodyBytes)))
        #expect(
            !key.publicKey.isValidSignature(
                decoded.signature, for: SignBytes.make(.vote, chainID: "t1", decoded.bodyBytes)))
        // One flipped bit of the body breaks it.
        var changed = Array(decoded.bodyBytes)
        changed[changed.count - 1] ^= 1
        #expect(!key.publicKey.isValidSignature(decoded.signature, for: SignBytes.make(.tx, chainID: "t1", changed)))
        #expect(try Wire.TxBody(serializedBytes: decoded.bodyBytes) == body())
    }

    @Test func serializationIsStable() throws {
        // Same message, same bytes: hashes and signatures rely on it.
        let a: [UInt8] = try body().serializedBytes()
        let b: [UInt8] = try body().serializedBytes()
        #expect(a == b)
        // Field 1 (chain_id, length-delimited) comes first.
        #expect(Array(a.prefix(4)) == [0x0A, 2, UInt8(ascii: "t"), UInt8(ascii: "1")])
    }

    @Test func messageTypeNames() {
        #expect(Wire.Msg(Wire.MsgSend()).typeName == "MsgSend")
        #expect(Wire.Msg(Wire.MsgRegisterParticipant()).typeName == "MsgRegisterParticipant")
        #expect(Wire.Msg(Wire.MsgGrantOperator()).typeName == "MsgGrantOperator")
        #expect(Wire.Msg(Wire.MsgRevokeOperator()).typeName == "MsgRevokeOperator")
        #expect(Wire.Msg(Wire.MsgCommitSeed()).typeName == "MsgCommitSeed")
        #expect(Wire.Msg(Wire.MsgSubmitPocBatch()).typeName == "MsgSubmitPocBatch")
        #expect(Wire.Msg(Wire.MsgSubmitPocValidation()).typeName == "MsgSubmitPocValidation")
        #expect(Wire.Msg(Wire.MsgStartInference()).typeName == "MsgStartInference")
        #expect(Wire.Msg(Wire.MsgFinishInference()).typeName == "MsgFinishInference")
        #expect(Wire.Msg(Wire.MsgValidation()).typeName == "MsgValidation")
        #expect(Wire.Msg(Wire.MsgSubmitProposal()).typeName == "MsgSubmitProposal")
        #expect(Wire.Msg(Wire.MsgDeposit()).typeName == "MsgDeposit")
        #expect(Wire.Msg(Wire.MsgVote()).typeName == "MsgVote")
        #expect(Wire.Msg(Wire.MsgDepositCollateral()).typeName == "MsgDepositCollateral")
        #expect(Wire.Msg(Wire.MsgWithdrawCollateral()).typeName == "MsgWithdrawCollateral")
        #expect(Wire.Msg(Wire.MsgUnjail()).typeName == "MsgUnjail")
        #expect(Wire.Msg().typeName == nil)
        #expect(Wire.Msg.knownTypeNames.count == 17)
    }

    @Test func unknownMessageTypeDecodesAsUnknown() throws {
        // Field 99 (length-delimited, 1 byte): a message type this build does not know.
        let raw: [UInt8] = [0x9A, 0x06, 0x01, 0x00]
        let msg = try Wire.Msg(serializedBytes: raw)
        #expect(msg.typeName == nil)
        #expect(!msg.unknownFields.data.isEmpty)
    }

    @Test func garbageDoesNotDecode() {
        #expect(throws: (any Error).self) { try Wire.Tx(serializedBytes: [0xFF, 0xFF, 0xFF, 0xFF] as [UInt8]) }
        #expect(throws: (any Error).self) { try Wire.TxBody(serializedBytes: [0x0A, 0x10, 0x41] as [UInt8]) }
    }
}
