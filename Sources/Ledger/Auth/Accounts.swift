import Foundation
import GonkaCore
import GonkaWire

/// Account records: the public key an address signs with (learned from its first transaction)
/// and the sequence number that makes every transaction single-use (PROTOCOL §3.4).
enum Accounts {
    static func account(_ address: Address, in state: StateContext) throws(LedgerError) -> Wire.Account {
        if let stored = try state.record(Wire.Account.self, at: StateKey.account(address), what: "account \(address)") {
            return stored
        }
        var fresh = Wire.Account()
        fresh.address = address.description
        return fresh
    }

    static func save(_ account: Wire.Account, address: Address, in state: StateContext) throws(LedgerError) {
        try state.setRecord(account, at: StateKey.account(address))
    }
}
