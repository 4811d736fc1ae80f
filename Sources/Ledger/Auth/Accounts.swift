import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

/// Account records: the public key an address signs with (learned from its first transaction)
/// and the sequence number that makes every transaction single-use (PROTOCOL §3.4).
enum Accounts {
    static func account(_ address: Address, in state: StateContext) throws(LedgerError) -> Wire.Account {
        guard let raw = try state.get(StateKey.account(address)) else {
            var fresh = Wire.Account()
            fresh.address = address.description
            return fresh
        }
        do {
            return try Wire.Account(serializedBytes: raw)
        } catch {
            throw .storage(StateCorruption(what: "account \(address)"))
        }
    }

    static func save(_ account: Wire.Account, address: Address, in state: StateContext) throws(LedgerError) {
        do {
            state.set(StateKey.account(address), try account.serializedBytes())
        } catch {
            throw .storage(error)
        }
    }
}
