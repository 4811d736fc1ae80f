import GonkaCore
import GonkaWire

/// Module Bank: balances, transfers, module accounts, minting, burning and the supply invariant
/// (PROTOCOL §8.1).
enum Bank {
    /// Accounts owned by the protocol itself; nobody holds their keys and users cannot send to
    /// them directly. Later modules add theirs here.
    enum ModuleAccount: String, CaseIterable, Sendable {
        case feeCollector = "fee_collector"
        case communityPool = "community_pool"
        case trainingFund = "training_fund"
        /// Inference escrow (PROTOCOL §6.4) and the costs of finished inferences until their epoch
        /// is settled (§8.3).
        case inference = "inference"
        /// The 680 M GNK reward allowance (§8.1) that issuance R(e) pays out of, and where an
        /// epoch's tx fees and every unpaid share go back to.
        case miningPool = "mining_pool"
        /// Settlements recorded and not yet claimed or burned (§8.4).
        case rewards = "rewards"
        /// Proposal deposits in escrow (PROTOCOL §10) until they are refunded or burned.
        case governance = "gov"
        /// Collateral deposits and unbonding withdrawals (PROTOCOL §9).
        case collateral = "collateral"

        var address: Address { Address.module(rawValue) }
    }

    static let moduleAddresses: Set<Address> = Set(ModuleAccount.allCases.map(\.address))

    static func balance(of address: Address, in state: StateContext) throws(LedgerError) -> Amount {
        guard let raw = try state.get(StateKey.balance(address)) else { return .zero }
        return Amount(ngonka: try BigEndian.decode(raw, what: "balance of \(address)"))
    }

    static func setBalance(_ amount: Amount, of address: Address, in state: StateContext) {
        if amount == .zero {
            state.delete(StateKey.balance(address))
        } else {
            state.set(StateKey.balance(address), BigEndian.encode(amount.ngonka))
        }
    }

    /// Moves `amount` from one account to another, or throws `insufficientFunds` changing nothing.
    static func transfer(
        from: Address, to: Address, amount: Amount, in state: StateContext
    ) throws(LedgerError) {
        let have = try balance(of: from, in: state)
        guard amount <= have else { throw .insufficientFunds(address: from, need: amount, have: have) }
        setBalance(Amount(ngonka: have.ngonka - amount.ngonka), of: from, in: state)
        let received = try balance(of: to, in: state)
        do {
            setBalance(try received.adding(amount), of: to, in: state)
        } catch {
            throw .overflow("balance of \(to)")
        }
    }

    /// Creates `amount` new ngonka in `address`, growing the minted supply.
    static func mint(_ amount: Amount, to address: Address, in state: StateContext) throws(LedgerError) {
        let have = try balance(of: address, in: state)
        do {
            setBalance(try have.adding(amount), of: address, in: state)
        } catch {
            throw .overflow("balance of \(address)")
        }
        try addSupply(StateKey.minted, amount, in: state)
    }

    /// Destroys `amount` from `address`; the burned counter keeps the supply invariant whole.
    static func burn(_ amount: Amount, from address: Address, in state: StateContext) throws(LedgerError) {
        let have = try balance(of: address, in: state)
        guard amount <= have else { throw .insufficientFunds(address: address, need: amount, have: have) }
        setBalance(Amount(ngonka: have.ngonka - amount.ngonka), of: address, in: state)
        try addSupply(StateKey.burned, amount, in: state)
    }

    static func minted(in state: StateContext) throws(LedgerError) -> Amount {
        try counter(StateKey.minted, in: state)
    }

    static func burned(in state: StateContext) throws(LedgerError) -> Amount {
        try counter(StateKey.burned, in: state)
    }

    private static func counter(_ key: [UInt8], in state: StateContext) throws(LedgerError) -> Amount {
        guard let raw = try state.get(key) else { return .zero }
        return Amount(ngonka: try BigEndian.decode(raw, what: "supply counter"))
    }

    private static func addSupply(_ key: [UInt8], _ amount: Amount, in state: StateContext) throws(LedgerError) {
        do {
            state.set(key, BigEndian.encode(try counter(key, in: state).adding(amount).ngonka))
        } catch {
            throw .overflow("supply counter")
        }
    }

    /// `MsgSend` (user message): moves coins between accounts; module accounts cannot be targeted.
    static func handle(_ msg: Wire.MsgSend, in state: StateContext) throws(LedgerError) -> [LedgerEvent] {
        let from = try parseAddress(msg.fromAddress, field: "from_address")
        let to = try parseAddress(msg.toAddress, field: "to_address")
        guard msg.amount > 0 else { throw .invalidAmount("amount must be positive") }
        guard !moduleAddresses.contains(to) else { throw .moduleAccountRecipient(to) }
        let amount = Amount(ngonka: msg.amount)
        try transfer(from: from, to: to, amount: amount, in: state)
        return [.transfer(from: from, to: to, amount: amount)]
    }

    /// The supply invariant (PROTOCOL §8.1): Σ accounts + Σ module accounts + burned == minted.
    /// Returns a description of the violation, or `nil` when the books balance.
    static func checkSupplyInvariant(in state: StateContext) throws(LedgerError) -> String? {
        var accounts: UInt128 = 0
        var modules: UInt128 = 0
        for entry in try state.entries(withPrefix: StateKey.balancePrefix) {
            let value = UInt128(try BigEndian.decode(entry.value, what: "balance"))
            if let address = Address(bytes: entry.key.dropFirst(StateKey.balancePrefix.count)),
                moduleAddresses.contains(address)
            {
                modules += value
            } else {
                accounts += value
            }
        }
        let burned = UInt128(try burned(in: state).ngonka)
        let minted = UInt128(try minted(in: state).ngonka)
        guard accounts + modules + burned != minted else { return nil }
        return "accounts \(accounts) + module accounts \(modules) + burned \(burned) = "
            + "\(accounts + modules + burned) ngonka, but minted = \(minted) ngonka"
    }
}

/// Parses a bech32 address from a message field, naming the field in the error.
func parseAddress(_ text: String, field: String) throws(LedgerError) -> Address {
    do {
        return try Address(text)
    } catch {
        throw .invalidAddress(field: field, reason: error.description)
    }
}
