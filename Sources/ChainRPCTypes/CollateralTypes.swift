import Foundation
import GonkaCore

// Modules Collateral and Slashing's queries (docs/RPC.md): a participant's collateral and standing,
// and the slash log (PROTOCOL §9).

/// `query collateral/{addr}`: the deposit backing weight, withdrawals unbonding, and the
/// participant's standing as a validator.
public struct CollateralInfo: Codable, Hashable, Sendable {
    public struct Unbonding: Codable, Hashable, Sendable {
        @AmountText public var amount: Amount
        /// Paid back at the end of this height (an epoch start).
        public var releaseHeight: UInt64
        public var requestedHeight: UInt64

        public init(amount: Amount, releaseHeight: UInt64, requestedHeight: UInt64) {
            self.amount = amount
            self.releaseHeight = releaseHeight
            self.requestedHeight = requestedHeight
        }

        enum CodingKeys: String, CodingKey {
            case amount
            case releaseHeight = "release_height"
            case requestedHeight = "requested_height"
        }
    }

    public var address: Address
    @AmountText public var deposit: Amount
    public var unbonding: [Unbonding]
    public var jailed: Bool
    /// The first height `MsgUnjail` is accepted (0 when not jailed).
    public var jailedUntil: UInt64
    public var tombstoned: Bool
    /// The liveness window: blocks counted since it was last reset, and missed among the last
    /// `liveness_window` of them.
    public var blocksCounted: UInt64
    public var blocksMissed: UInt64

    public init(
        address: Address, deposit: Amount, unbonding: [Unbonding], jailed: Bool, jailedUntil: UInt64,
        tombstoned: Bool, blocksCounted: UInt64, blocksMissed: UInt64
    ) {
        self.address = address
        self.deposit = deposit
        self.unbonding = unbonding
        self.jailed = jailed
        self.jailedUntil = jailedUntil
        self.tombstoned = tombstoned
        self.blocksCounted = blocksCounted
        self.blocksMissed = blocksMissed
    }

    enum CodingKeys: String, CodingKey {
        case address, deposit, unbonding, jailed, tombstoned
        case jailedUntil = "jailed_until"
        case blocksCounted = "blocks_counted"
        case blocksMissed = "blocks_missed"
    }
}

/// One entry of `query slashes[/{addr}]`.
public struct SlashInfo: Codable, Hashable, Sendable {
    public var sequence: UInt64
    public var address: String
    /// `invalid`, `downtime`, `double_sign` or `liveness`.
    public var reason: String
    public var ppm: UInt64
    @AmountText public var burnedDeposit: Amount
    @AmountText public var burnedUnbonding: Amount
    public var height: UInt64
    /// The offence's height (double sign, liveness) or epoch (invalid, downtime).
    public var offence: UInt64
    public var jailed: Bool
    public var tombstoned: Bool

    public init(
        sequence: UInt64, address: String, reason: String, ppm: UInt64, burnedDeposit: Amount,
        burnedUnbonding: Amount, height: UInt64, offence: UInt64, jailed: Bool, tombstoned: Bool
    ) {
        self.sequence = sequence
        self.address = address
        self.reason = reason
        self.ppm = ppm
        self.burnedDeposit = burnedDeposit
        self.burnedUnbonding = burnedUnbonding
        self.height = height
        self.offence = offence
        self.jailed = jailed
        self.tombstoned = tombstoned
    }

    enum CodingKeys: String, CodingKey {
        case sequence, address, reason, ppm, height, offence, jailed, tombstoned
        case burnedDeposit = "burned_deposit"
        case burnedUnbonding = "burned_unbonding"
    }
}
