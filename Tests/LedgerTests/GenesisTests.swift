import Foundation
import GonkaCore
import GonkaTestKit
import Storage
import Testing

@testable import Ledger

@Suite struct GenesisTests {
    let validator = TestChain.key(seed: 3, index: 0)
    let alice = TestChain.key(seed: 4, index: 0)

    var good: Genesis {
        Genesis(
            chainID: "t1", genesisTime: "2026-01-01T00:00:00Z",
            accounts: [.init(address: alice.publicKey.address, balance: Amount(gnk: 100)!)],
            moduleAccounts: [.init(name: "community_pool", balance: Amount(gnk: 5)!)],
            validators: [TestChain.validatorEntry(validator)])
    }

    @Test func initChainMintsRegistersAndCommitsVersionZero() throws {
        let ledger = try Ledger(store: try AuthenticatedStore(inMemory: "test"))
        let result = try ledger.initChain(good)
        #expect(ledger.height == 0)
        #expect(result.appHash == ledger.appHash)
        #expect(result.validators.map(\.power) == [10])
        #expect(result.validators.first?.consensusKey == validator.publicKey)
        #expect(try ledger.balance(of: alice.publicKey.address) == Amount(gnk: 100)!)
        #expect(try ledger.balance(of: Ledger.moduleAddress("community_pool")!) == Amount(gnk: 5)!)
        #expect(try ledger.supply().minted == Amount(gnk: 105)!)
        #expect(try ledger.participant(validator.publicKey.address) != nil)
        #expect(throws: LedgerError.self) { try ledger.initChain(good) }
    }

    @Test func jsonRoundTrip() throws {
        let decoded = try Genesis.decode(json: try good.encodedJSON())
        #expect(decoded == good)
        let text = String(decoding: try good.encodedJSON(), as: UTF8.self)
        #expect(text.contains("\"chain_id\" : \"t1\""))
        #expect(text.contains("\"balance\" : \"100000000000\""))  // amounts as exact strings
    }

    @Test(arguments: [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[]", "wrong type"),
        ("{\"genesis_time\": \"x\"}", "missing field \"chain_id\""),
    ])
    func malformedJSONSaysWhy(json: String, expected: String) {
        let error = #expect(throws: LedgerError.self) { try Genesis.decode(json: Array(json.utf8)) }
        #expect(error?.shortDescription == "invalid_genesis")
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }

    @Test func badValuesSayWhy() throws {
        func expectInvalid(
            _ mutate: (inout Genesis) -> Void, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            var genesis = good
            mutate(&genesis)
            let error = #expect(throws: LedgerError.self, sourceLocation: sourceLocation) {
                try Genesis.decode(json: try genesis.encodedJSON())
            }
            #expect(
                error?.description.contains(expected) == true, "\(String(describing: error))",
                sourceLocation: sourceLocation)
        }
        expectInvalid({ $0.chainID = "Bad Chain" }, "chain_id")
        expectInvalid({ $0.accounts.append($0.accounts[0]) }, "listed twice")
        expectInvalid({ $0.validators = [] }, "at least one validator")
        expectInvalid({ $0.validators[0].power = 0 }, "power 0")
        expectInvalid({ $0.validators[0].consensusPubkey = "abcd" }, "consensus_pubkey")
        expectInvalid({ $0.validators[0].url = "nope" }, "url")
        expectInvalid({ $0.moduleAccounts = [.init(name: "treasure", balance: .zero)] }, "unknown module account")
        expectInvalid(
            { $0.accounts.append(.init(address: self.validator.publicKey.address, balance: Amount(ngonka: .max))) },
            "overflows")
        expectInvalid(
            { $0.accounts.append(.init(address: Ledger.moduleAddress("fee_collector")!, balance: Amount(ngonka: 1))) },
            "module account")
    }

    @Test func badAddressInJSONSaysWhere() {
        let json = """
            {"chain_id":"t1","genesis_time":"x","accounts":[{"address":"gonka1zzzz","balance":"1"}],"validators":[]}
            """
        let error = #expect(throws: LedgerError.self) { try Genesis.decode(json: Array(json.utf8)) }
        #expect(error?.description.contains("invalid address") == true, "\(String(describing: error))")
        #expect(error?.description.contains("accounts") == true, "\(String(describing: error))")
    }

    @Test func reopeningAStoreWithoutChainIDIsAnError() throws {
        let store = try AuthenticatedStore(inMemory: "test")
        try store.set(Array("junk".utf8), [1])
        _ = try store.commit(version: 0)
        #expect(throws: LedgerError.self) { try Ledger(store: store) }
    }
}
