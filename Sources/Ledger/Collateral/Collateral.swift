import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

extension StateKey {
    static let collateralPrefix = Array("collateral/record/".utf8)

    /// `Wire.CollateralRecord` of a participant.
    static func collateral(_ address: Address) -> [UInt8] { collateralPrefix + address.bytes }
}

/// Module Collateral (PROTOCOL §5.6, §9): deposits that back PoC weight, withdrawals that unbond
/// for `collateral_unbonding_epochs` while staying slashable, the release at an epoch start, and
/// the one function every slash goes through (``slash(_:ppm:reason:offence:context:jailed:tombstoned:state:)``).
///
/// Coins: deposits and unbonding amounts sit in the `collateral` module account; the invariant
/// ``checkInvariant(in:)`` (after every block) says that account holds exactly Σ deposit + Σ unbonding.
enum Collateral {
    /// Why collateral was slashed (the `reason` of a slash record).
    enum Reason: String, Sendable {
        case invalid
        case downtime
        case doubleSign = "double_sign"
        case liveness
    }

    // MARK: Records

    static func record(_ address: Address, in state: StateContext) throws(LedgerError) -> Wire.CollateralRecord {
        try state.record(Wire.CollateralRecord.self, at: StateKey.collateral(address), what: "collateral record")
            ?? Wire.CollateralRecord.with { $0.address = address.description }
    }

    private static func save(
        _ record: Wire.CollateralRecord, _ address: Address, in state: StateContext
    )
        throws(LedgerError)
    {
        if record.deposit == 0 && record.unbonding.isEmpty {
            state.delete(StateKey.collateral(address))
        } else {
            try state.setRecord(record, at: StateKey.collateral(address))
        }
    }

    /// The deposit that backs weight (unbonding amounts do not).
    static func deposit(of address: Address, in state: StateContext) throws(LedgerError) -> Amount {
        Amount(ngonka: try record(address, in: state).deposit)
    }

    // MARK: Messages

    /// `MsgDepositCollateral` (§9): balance → the `collateral` module account, added to the deposit.
    static func handle(_ msg: Wire.MsgDepositCollateral, in state: StateContext) throws(LedgerError) -> [LedgerEvent] {
        let participant = try parseAddress(msg.participant, field: "participant")
        guard msg.amount > 0 else { throw .invalidAmount("amount must be positive") }
        let amount = Amount(ngonka: msg.amount)
        try Bank.transfer(from: participant, to: Bank.ModuleAccount.collateral.address, amount: amount, in: state)
        var record = try record(participant, in: state)
        let (sum, overflow) = record.deposit.addingReportingOverflow(msg.amount)
        guard !overflow else { throw .overflow("collateral deposit of \(participant)") }
        record.deposit = sum
        try save(record, participant, in: state)
        return [.collateralDeposited(participant: participant, amount: amount)]
    }

    /// `MsgWithdrawCollateral` (§9): moves `amount` of the deposit into unbonding, paid back at the
    /// end of ``releaseHeight(requestedAt:params:)``. Above the deposit: refused, nothing changes.
    static func handle(
        _ msg: Wire.MsgWithdrawCollateral, context: BlockContext, params: ChainParams, in state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let participant = try parseAddress(msg.participant, field: "participant")
        guard msg.amount > 0 else { throw .invalidAmount("amount must be positive") }
        var record = try record(participant, in: state)
        guard msg.amount <= record.deposit else {
            throw .insufficientCollateral(
                address: participant, need: Amount(ngonka: msg.amount), have: Amount(ngonka: record.deposit))
        }
        record.deposit -= msg.amount
        let release = releaseHeight(requestedAt: context.height, params: params)
        record.unbonding.append(
            Wire.UnbondingEntry.with {
                $0.amount = msg.amount
                $0.releaseHeight = release
                $0.requestedHeight = context.height
            })
        try save(record, participant, in: state)
        return [
            .collateralUnbonding(participant: participant, amount: Amount(ngonka: msg.amount), releaseHeight: release)
        ]
    }

    /// The first epoch start at least `collateral_unbonding_epochs` × `epoch_length` blocks after
    /// the request: ⌈(h + U·L) / L⌉ · L.
    static func releaseHeight(requestedAt height: UInt64, params: ChainParams) -> UInt64 {
        let length = params.epochs.epochLength
        let earliest = height &+ params.collateral.unbondingEpochs &* length
        return (earliest + length - 1) / length * length
    }

    // MARK: End of block

    /// At an epoch start (`height` a multiple of `epoch_length`): pays back every unbonding entry
    /// whose release height has come. Walks the collateral records once per epoch.
    static func endBlock(
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError)
        -> [LedgerEvent]
    {
        let h = context.height
        guard h > 0, h % params.epochs.epochLength == 0 else { return [] }
        var events: [LedgerEvent] = []
        for var record in try state.records(
            Wire.CollateralRecord.self, withPrefix: StateKey.collateralPrefix, what: "collateral record")
        {
            let due = record.unbonding.filter { $0.releaseHeight <= h }
            guard !due.isEmpty else { continue }
            let address = try parseAddress(record.address, field: "collateral address")
            let total = due.reduce(UInt64(0)) { $0 &+ $1.amount }
            record.unbonding.removeAll { $0.releaseHeight <= h }
            if total > 0 {
                try Bank.transfer(
                    from: Bank.ModuleAccount.collateral.address, to: address, amount: Amount(ngonka: total), in: state)
                events.append(.collateralReleased(participant: address, amount: Amount(ngonka: total)))
            }
            try save(record, address, in: state)
        }
        return events
    }

    // MARK: Slashing

    /// Burns ⌊deposit × ppm⌋ and ⌊entry × ppm⌋ of every unbonding entry of `address` from the
    /// `collateral` module account (Bank.burn) and records the slash (`slashing/slash/{sequence}`,
    /// `/query/slashes`). The one place a slash happens; a participant without collateral gets a
    /// record with nothing burned. `offence` is the offence's height (double sign) or epoch.
    @discardableResult
    static func slash(
        _ address: Address, ppm: UInt64, reason: Reason, offence: UInt64, context: BlockContext,
        jailed: Bool = false, tombstoned: Bool = false, state: StateContext
    ) throws(LedgerError) -> LedgerEvent {
        var record = try record(address, in: state)
        func cut(_ value: UInt64) -> UInt64 { UInt64(UInt128(value) * UInt128(min(ppm, 1_000_000)) / 1_000_000) }
        let fromDeposit = cut(record.deposit)
        record.deposit -= fromDeposit
        var fromUnbonding: UInt64 = 0
        for i in record.unbonding.indices {
            let part = cut(record.unbonding[i].amount)
            record.unbonding[i].amount -= part
            fromUnbonding += part
        }
        record.unbonding.removeAll { $0.amount == 0 }
        let total = Amount(ngonka: fromDeposit + fromUnbonding)
        if total > .zero { try Bank.burn(total, from: Bank.ModuleAccount.collateral.address, in: state) }
        try save(record, address, in: state)
        try SlashLog.append(
            Wire.SlashRecord.with {
                $0.address = address.description
                $0.reason = reason.rawValue
                $0.ppm = ppm
                $0.burnedDeposit = fromDeposit
                $0.burnedUnbonding = fromUnbonding
                $0.height = context.height
                $0.offence = offence
                $0.jailed = jailed
                $0.tombstoned = tombstoned
            }, in: state)
        return .slashed(
            participant: address, reason: reason.rawValue, amount: total, jailed: jailed, tombstoned: tombstoned)
    }

    // MARK: Invariant

    /// The `collateral` module account holds exactly Σ deposit + Σ unbonding (checked after every
    /// block beside the supply). Returns the violation, or `nil`.
    static func checkInvariant(in state: StateContext) throws(LedgerError) -> String? {
        var total: UInt128 = 0
        for record in try state.records(
            Wire.CollateralRecord.self, withPrefix: StateKey.collateralPrefix, what: "collateral record")
        {
            total += UInt128(record.deposit)
            for entry in record.unbonding { total += UInt128(entry.amount) }
        }
        let held = UInt128(try Bank.balance(of: Bank.ModuleAccount.collateral.address, in: state).ngonka)
        guard held != total else { return nil }
        return "the collateral account holds \(held) ngonka but deposits + unbonding = \(total) ngonka"
    }
}

/// The slash records (`slashing/slash/{sequence}`), in the order they happened.
enum SlashLog {
    static let prefix = Array("slashing/slash/".utf8)
    static let countKey = Array("slashing/slash_count".utf8)

    static func append(_ record: Wire.SlashRecord, in state: StateContext) throws(LedgerError) {
        let sequence =
            try state.get(countKey).map { raw throws(LedgerError) in
                try BigEndian.decode(raw, what: "slash count")
            } ?? 0
        var record = record
        record.sequence = sequence
        try state.setRecord(record, at: prefix + BigEndian.encode(sequence))
        state.set(countKey, BigEndian.encode(sequence + 1))
    }

    /// Every slash (of `address` only, when given), oldest first.
    static func all(of address: Address? = nil, in state: StateContext) throws(LedgerError) -> [Wire.SlashRecord] {
        let records = try state.records(Wire.SlashRecord.self, withPrefix: prefix, what: "slash record")
        guard let address else { return records }
        let text = address.description
        return records.filter { $0.address == text }
    }
}
