import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

extension Consensus {
    /// One validator: consensus key, voting power, and its proposer priority.
    public struct Validator: Sendable, Hashable {
        public let publicKey: PublicKey
        public let address: Address
        public var power: UInt64
        public var proposerPriority: Int64

        public init(publicKey: PublicKey, power: UInt64, proposerPriority: Int64 = 0) {
            self.publicKey = publicKey
            self.address = publicKey.address
            self.power = power
            self.proposerPriority = proposerPriority
        }
    }

    /// A change returned by the application: `power == 0` removes the validator.
    public struct ValidatorUpdate: Sendable, Hashable {
        public var publicKey: PublicKey
        public var power: UInt64

        public init(publicKey: PublicKey, power: UInt64) {
            self.publicKey = publicKey
            self.power = power
        }
    }

    /// The validators of one height, sorted by address, with CometBFT's weighted round-robin
    /// proposer selection: each step every priority grows by its power, the highest priority
    /// proposes (ties: lower address) and drops by the total power; before the steps priorities
    /// are scaled into a window of 2×total power and re-centred on zero.
    public struct ValidatorSet: Sendable, Hashable {
        /// Largest total power allowed (CometBFT's bound, keeps priority arithmetic in range).
        public static let maxTotalPower = UInt64(Int64.max / 8)
        /// Priorities are kept within `windowFactor × totalPower` of each other.
        public static let windowFactor: Int64 = 2

        public private(set) var validators: [Validator]
        public let totalPower: UInt64
        /// Index in `validators` of the proposer of the current round.
        public private(set) var proposerIndex: Int
        private let indexByAddress: [Address: Int]

        /// A genesis set: priorities start at zero and advance once, as in CometBFT.
        public init(_ members: [(publicKey: PublicKey, power: UInt64)]) throws(ConsensusError) {
            try self.init(
                validators: members.map { Validator(publicKey: $0.publicKey, power: $0.power) }, advance: true)
        }

        private init(validators unsorted: [Validator], advance: Bool) throws(ConsensusError) {
            guard !unsorted.isEmpty else { throw .invalidValidatorSet("empty") }
            let sorted = unsorted.sorted { $0.address < $1.address }
            var index: [Address: Int] = [:]
            var total: UInt64 = 0
            for (i, v) in sorted.enumerated() {
                guard v.power > 0 else { throw .invalidValidatorSet("zero power") }
                guard index.updateValue(i, forKey: v.address) == nil else { throw .duplicateValidator }
                let (sum, overflow) = total.addingReportingOverflow(v.power)
                guard !overflow, sum <= Self.maxTotalPower else { throw .invalidValidatorSet("total power too large") }
                total = sum
            }
            validators = sorted
            totalPower = total
            indexByAddress = index
            proposerIndex = 0
            if advance {
                incrementProposerPriority(times: 1)
            } else {
                proposerIndex = Self.maxPriorityIndex(sorted)
            }
        }

        /// The validator with `address`, if a member.
        public func validator(_ address: Address) -> Validator? {
            indexByAddress[address].map { validators[$0] }
        }

        /// The position of `address` in `validators`.
        public func index(of address: Address) -> Int? { indexByAddress[address] }

        /// The proposer of the current round (round 0 of the height this set belongs to).
        public var proposer: Validator { validators[proposerIndex] }

        /// The proposer of `round` of this set's height: a copy advanced `round` times.
        public func proposer(round: Int) -> Validator {
            guard round > 0 else { return proposer }
            var copy = self
            copy.incrementProposerPriority(times: round)
            return copy.proposer
        }

        /// The proposer-priority step of CometBFT's `IncrementProposerPriority`: rescale into the
        /// window, re-centre on the average, then `times` rounds of (add power, pick max, subtract
        /// total).
        public mutating func incrementProposerPriority(times: Int) {
            guard times > 0 else { return }
            rescalePriorities(window: Self.windowFactor * Int64(totalPower))
            shiftByAveragePriority()
            for _ in 0..<times {
                for i in validators.indices {
                    validators[i].proposerPriority = Self.clip(
                        Int128(validators[i].proposerPriority) + Int128(validators[i].power))
                }
                let best = Self.maxPriorityIndex(validators)
                validators[best].proposerPriority = Self.clip(
                    Int128(validators[best].proposerPriority) - Int128(totalPower))
                proposerIndex = best
            }
        }

        private mutating func rescalePriorities(window: Int64) {
            guard window > 0 else { return }
            let priorities = validators.map(\.proposerPriority)
            guard let lo = priorities.min(), let hi = priorities.max() else { return }
            let diff = Int128(hi) - Int128(lo)
            guard diff > Int128(window) else { return }
            let ratio = (diff + Int128(window) - 1) / Int128(window)
            for i in validators.indices {
                // Go's integer division truncates toward zero, as Swift's does.
                validators[i].proposerPriority = Int64(Int128(validators[i].proposerPriority) / ratio)
            }
        }

        private mutating func shiftByAveragePriority() {
            let sum = validators.reduce(Int128(0)) { $0 + Int128($1.proposerPriority) }
            let n = Int128(validators.count)
            // big.Int.Div is Euclidean: rounds toward negative infinity for a positive divisor.
            var average = sum / n
            if sum % n != 0 && sum < 0 { average -= 1 }
            for i in validators.indices {
                validators[i].proposerPriority = Self.clip(Int128(validators[i].proposerPriority) - average)
            }
        }

        private static func maxPriorityIndex(_ validators: [Validator]) -> Int {
            var best = 0
            for i in validators.indices.dropFirst() {
                let v = validators[i]
                let b = validators[best]
                if v.proposerPriority > b.proposerPriority
                    || (v.proposerPriority == b.proposerPriority && v.address < b.address)
                {
                    best = i
                }
            }
            return best
        }

        private static func clip(_ value: Int128) -> Int64 {
            if value > Int128(Int64.max) { return Int64.max }
            if value < Int128(Int64.min) { return Int64.min }
            return Int64(value)
        }

        /// The set after `updates` (power 0 removes). New validators start with priority
        /// −1.125 × total power, as in CometBFT, so joining does not jump the queue.
        public func applying(_ updates: [ValidatorUpdate]) throws(ConsensusError) -> ValidatorSet {
            var byAddress: [Address: Validator] = [:]
            for v in validators { byAddress[v.address] = v }
            var newTotal = totalPower
            for u in updates {
                let address = u.publicKey.address
                if let old = byAddress[address] { newTotal -= old.power }
                if u.power > 0 { newTotal += u.power }
            }
            let start = -(Int64(clamping: newTotal) + Int64(clamping: newTotal) / 8)
            for u in updates {
                let address = u.publicKey.address
                if u.power == 0 {
                    byAddress[address] = nil
                } else if var old = byAddress[address] {
                    old.power = u.power
                    byAddress[address] = old
                } else {
                    byAddress[address] = Validator(publicKey: u.publicKey, power: u.power, proposerPriority: start)
                }
            }
            return try ValidatorSet(validators: Array(byAddress.values), advance: false)
        }

        /// SHA-256 over each validator's key and power (big-endian), in address order: the
        /// header's `validators_hash`.
        public var hash: Hash {
            var parts: [[UInt8]] = []
            for v in validators {
                parts.append(v.publicKey.bytes)
                parts.append(withUnsafeBytes(of: v.power.bigEndian, Array.init))
            }
            return Hash.sha256(parts: parts)
        }

        public var wire: Wire.ValidatorSet {
            Wire.ValidatorSet.with {
                $0.validators = validators.map { v in
                    Wire.Validator.with {
                        $0.pubKey = Data(v.publicKey.bytes)
                        $0.power = v.power
                    }
                }
            }
        }

        /// True when `power` is more than two thirds of the total.
        public func isTwoThirds(_ power: UInt64) -> Bool {
            UInt128(power) * 3 > UInt128(totalPower) * 2
        }
    }
}
