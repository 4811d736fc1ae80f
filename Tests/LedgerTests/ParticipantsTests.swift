import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// Module Participants: registration and operator grants (PROTOCOL §1, §3.4).
@Suite struct ParticipantsTests {
    func register(
        _ chain: TestChain, account: Int, url: String = "https://host.example:9000", key: [UInt8]? = nil
    ) throws -> [UInt8] {
        var msg = Wire.MsgRegisterParticipant()
        msg.participant = chain.address(account).description
        msg.url = url
        msg.consensusPubkey = Data(key ?? TestChain.key(seed: 9, index: account).publicKey.bytes)
        msg.p2PPubkey = Data(TestChain.key(seed: 10, index: account).publicKey.bytes)
        return try chain.sign(chain.body([Wire.Msg(msg)], signer: chain.accounts[account]), by: chain.accounts[account])
    }

    func grant(
        _ chain: TestChain, from granter: Int, to grantee: Int, types: [String] = ["MsgSend"], expires: UInt64 = 0
    ) throws -> [UInt8] {
        var msg = Wire.MsgGrantOperator()
        msg.granter = chain.address(granter).description
        msg.grantee = chain.address(grantee).description
        msg.msgTypes = types
        msg.expiresAtHeight = expires
        return try chain.sign(chain.body([Wire.Msg(msg)], signer: chain.accounts[granter]), by: chain.accounts[granter])
    }

    func revoke(_ chain: TestChain, from granter: Int, to grantee: Int) throws -> [UInt8] {
        var msg = Wire.MsgRevokeOperator()
        msg.granter = chain.address(granter).description
        msg.grantee = chain.address(grantee).description
        return try chain.sign(chain.body([Wire.Msg(msg)], signer: chain.accounts[granter]), by: chain.accounts[granter])
    }

    /// Account `operatorIndex` signs a send out of `owner`'s account.
    func sendAsOperator(_ chain: TestChain, owner: Int, operatorIndex: Int) throws -> [UInt8] {
        let body = chain.body(
            [.send(from: chain.address(owner), to: chain.address(3), amount: 7)], signer: chain.accounts[operatorIndex])
        return try chain.sign(body, by: chain.accounts[operatorIndex])
    }

    @Test func genesisValidatorsAreParticipants() throws {
        let chain = try TestChain()
        let all = try chain.ledger.participants()
        #expect(all.map(\.address) == [chain.validator.publicKey.address.description])
    }

    @Test func registerThenQuery() throws {
        let chain = try TestChain()
        let result = try chain.finalize([try register(chain, account: 1)])
        #expect(result.txResults[0].isSuccess)
        #expect(
            result.txResults[0].events.contains(
                .participantRegistered(address: chain.address(1), url: "https://host.example:9000")))
        let record = try #require(try chain.ledger.participant(chain.address(1)))
        #expect(record.url == "https://host.example:9000")
        #expect(record.registeredHeight == 1)
        #expect(try chain.ledger.participants().count == 2)
        // Twice is refused.
        let again = try chain.finalize([try register(chain, account: 1)])
        #expect(again.txResults[0].error?.shortDescription == "already_registered")
    }

    @Test(arguments: ["", "ftp://host", "http://a b", "https://" + String(repeating: "x", count: 300)])
    func badURLIsRejected(url: String) throws {
        let chain = try TestChain()
        let result = try chain.finalize([try register(chain, account: 1, url: url)])
        #expect(result.txResults[0].error?.shortDescription == "invalid_field")
        #expect(try chain.ledger.participant(chain.address(1)) == nil)
    }

    @Test func badKeyIsRejected() throws {
        let chain = try TestChain()
        let result = try chain.finalize([try register(chain, account: 1, key: [1, 2, 3])])
        #expect(result.txResults[0].error?.shortDescription == "invalid_field")
    }

    @Test func operatorCanSendGrantedTypesUntilRevoked() throws {
        let chain = try TestChain()
        #expect(try chain.finalize([try grant(chain, from: 0, to: 1)]).txResults[0].isSuccess)
        #expect(try chain.ledger.grants(by: chain.address(0)).map(\.grantee) == [chain.address(1).description])
        let ownerBefore = try chain.balance(0)
        let operatorBefore = try chain.balance(1)
        let sent = try chain.finalize([try sendAsOperator(chain, owner: 0, operatorIndex: 1)])
        #expect(sent.txResults[0].isSuccess, "\(String(describing: sent.txResults[0].error))")
        // The owner's coins moved; the operator paid the fee.
        #expect(try chain.balance(0) == Amount(ngonka: ownerBefore.ngonka - 7))
        #expect(try chain.balance(1) < operatorBefore)
        // Not granted: registering a participant for the owner.
        var register = Wire.MsgRegisterParticipant()
        register.participant = chain.address(0).description
        register.url = "http://x"
        register.consensusPubkey = Data(chain.accounts[2].publicKey.bytes)
        register.p2PPubkey = Data(chain.accounts[2].publicKey.bytes)
        let notGranted = try chain.finalize([
            try chain.sign(chain.body([Wire.Msg(register)], signer: chain.accounts[1]), by: chain.accounts[1])
        ])
        #expect(notGranted.txResults[0].error?.shortDescription == "no_grant")
        chain.sequences[chain.address(1), default: 1] -= 1  // that tx was rejected: its sequence is unused
        #expect(try chain.finalize([try revoke(chain, from: 0, to: 1)]).txResults[0].isSuccess)
        let after = try chain.finalize([try sendAsOperator(chain, owner: 0, operatorIndex: 1)])
        #expect(after.txResults[0].error?.shortDescription == "no_grant")
    }

    @Test func grantsExpire() throws {
        let chain = try TestChain()
        // Height 1: grant until height 3. Height 2: still live. Height 3: expired.
        #expect(try chain.finalize([try grant(chain, from: 0, to: 1, expires: 3)]).txResults[0].isSuccess)
        #expect(try chain.finalize([try sendAsOperator(chain, owner: 0, operatorIndex: 1)]).txResults[0].isSuccess)
        let expired = try chain.finalize([try sendAsOperator(chain, owner: 0, operatorIndex: 1)])
        #expect(expired.txResults[0].error?.shortDescription == "no_grant")
    }

    @Test func grantRulesAreEnforced() throws {
        let chain = try TestChain()
        // An operator can never be given the power to grant.
        let widen = try chain.finalize([try grant(chain, from: 0, to: 1, types: ["MsgGrantOperator"])])
        #expect(widen.txResults[0].error?.shortDescription == "invalid_field")
        chain.sequences[chain.address(0), default: 1] -= 1
        let unknown = try chain.finalize([try grant(chain, from: 0, to: 1, types: ["MsgFly"])])
        #expect(unknown.txResults[0].error?.shortDescription == "invalid_field")
        chain.sequences[chain.address(0), default: 1] -= 1
        let past = try chain.finalize([try grant(chain, from: 0, to: 1, expires: 1)])
        #expect(past.txResults[0].error?.shortDescription == "invalid_field")
        chain.sequences[chain.address(0), default: 1] -= 1
        let nothing = try chain.finalize([try revoke(chain, from: 0, to: 2)])
        #expect(nothing.txResults[0].error?.shortDescription == "no_such_grant")
        #expect(try chain.ledger.grants(by: chain.address(0)).isEmpty)
    }
}
