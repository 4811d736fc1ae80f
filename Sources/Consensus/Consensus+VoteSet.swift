import GonkaCore

extension Consensus {
    /// The votes of one (height, round, type), tallied by voting power per block id.
    ///
    /// As in the paper, a vote counts toward the value it names: a validator that signs two values
    /// counts toward both (its power is under 1/3, so safety holds), which keeps honest nodes that
    /// were shown different halves of an equivocation able to see the same quorums once the
    /// votes are relayed. The second value also yields ``DuplicateVoteEvidence``. At most
    /// ``maxValuesPerValidator`` values per validator are kept (bounded memory).
    public struct VoteSet: Sendable {
        public static let maxValuesPerValidator = 3

        public let height: UInt64
        public let round: Int
        public let type: VoteType
        /// The total the thresholds are measured against.
        public let total: UInt64
        /// Every vote counts 1 instead of its power (only for the simulator's broken-machine test).
        let countByValidators: Bool

        /// The first vote of each validator.
        public private(set) var votes: [Address: SignedVote] = [:]
        /// Further votes of equivocating validators, for other values.
        public private(set) var conflicting: [Address: [SignedVote]] = [:]
        public private(set) var powerByBlock: [Hash?: UInt64] = [:]
        /// Power of the validators that voted, each counted once.
        public private(set) var powerSeen: UInt64 = 0
        private var reported: Set<Address> = []

        public init(height: UInt64, round: Int, type: VoteType, validators: ValidatorSet) {
            self.init(height: height, round: round, type: type, validators: validators, countByValidators: false)
        }

        init(height: UInt64, round: Int, type: VoteType, validators: ValidatorSet, countByValidators: Bool) {
            self.height = height
            self.round = round
            self.type = type
            self.countByValidators = countByValidators
            self.total = countByValidators ? UInt64(validators.validators.count) : validators.totalPower
        }

        /// What adding a vote did.
        public enum AddResult: Sendable, Equatable {
            case added
            /// Already known (or over the per-validator bound): nothing changed.
            case duplicate
            /// A second value of one validator, now counted too: the first evidence of it.
            case conflict(DuplicateVoteEvidence)
            /// A further value of a validator already reported; counted, no new evidence.
            case conflictAgain
        }

        /// Whether this exact signed vote is already held.
        public func contains(_ signed: SignedVote) -> Bool {
            let address = signed.vote.validator
            return votes[address] == signed || conflicting[address]?.contains(signed) == true
        }

        /// Adds a vote whose signature and membership the caller has checked; `power` is the
        /// validator's voting power.
        public mutating func add(_ signed: SignedVote, power: UInt64) -> AddResult {
            let address = signed.vote.validator
            let weight = countByValidators ? 1 : power
            guard let existing = votes[address] else {
                votes[address] = signed
                powerByBlock[signed.vote.blockID, default: 0] += weight
                powerSeen += weight
                return .added
            }
            let others = conflicting[address] ?? []
            if existing.vote.blockID == signed.vote.blockID
                || others.contains(where: { $0.vote.blockID == signed.vote.blockID })
                || others.count + 1 >= Self.maxValuesPerValidator
            {
                return .duplicate
            }
            conflicting[address, default: []].append(signed)
            powerByBlock[signed.vote.blockID, default: 0] += weight
            guard reported.insert(address).inserted, let evidence = try? DuplicateVoteEvidence(existing, signed) else {
                return .conflictAgain
            }
            return .conflict(evidence)
        }

        private func moreThanTwoThirds(_ power: UInt64) -> Bool { UInt128(power) * 3 > UInt128(total) * 2 }

        /// +2/3 of the power voted, for anything.
        public var hasTwoThirdsAny: Bool { moreThanTwoThirds(powerSeen) }

        /// +1/3 of the power voted, for anything.
        public var hasOneThirdAny: Bool { UInt128(powerSeen) * 3 > UInt128(total) }

        /// Whether +2/3 voted for `blockID` (`nil`: for nil).
        public func hasTwoThirds(for blockID: Hash?) -> Bool { moreThanTwoThirds(powerByBlock[blockID] ?? 0) }

        /// The value with +2/3, if any: `.some(nil)` means +2/3 for nil.
        public var twoThirdsMajority: Hash?? {
            for (block, power) in powerByBlock where moreThanTwoThirds(power) { return .some(block) }
            return .none
        }

        /// The votes for `blockID`, in address order.
        public func votes(for blockID: Hash?) -> [SignedVote] {
            let all =
                votes.values.filter { $0.vote.blockID == blockID }
                + conflicting.values.flatMap { $0.filter { $0.vote.blockID == blockID } }
            return all.sorted { $0.vote.validator < $1.vote.validator }
        }
    }

    /// Checks that `commit` proves `blockID` at `height` under `validators`: every precommit is for
    /// that block at the commit's (height, round), signed over its exact bytes by a distinct member,
    /// and together they carry more than two thirds of the power. Used by block sync.
    public static func verifyCommit(
        blockID: Hash, commit: Commit, validators: ValidatorSet, chainID: String, height: UInt64,
        verifier: Verifier = .ed25519
    ) throws(ConsensusError) {
        guard commit.height == height else { throw .wrongHeight(expected: height, got: commit.height) }
        guard commit.blockID == blockID else { throw .wrongBlock }
        var seen: Set<Address> = []
        var power: UInt64 = 0
        for signed in commit.precommits {
            let vote = signed.vote
            guard vote.type == .precommit else { throw .wrongVoteType }
            guard vote.height == height else { throw .wrongHeight(expected: height, got: vote.height) }
            guard vote.round == commit.round else { throw .wrongRound(expected: commit.round, got: vote.round) }
            guard vote.blockID == blockID else { throw .wrongBlock }
            guard let validator = validators.validator(vote.validator) else { throw .unknownValidator }
            guard seen.insert(vote.validator).inserted else { throw .duplicateValidator }
            guard signed.hasValidSignature(by: validator.publicKey, chainID: chainID, verifier: verifier) else {
                throw .badSignature
            }
            power += validator.power
        }
        guard validators.isTwoThirds(power) else { throw .insufficientPower(have: power, total: validators.totalPower) }
    }

    /// Block time (PROTOCOL §3.1): the voting-power-weighted median of the commit's precommit
    /// timestamps (CometBFT's `WeightedMedian`), never earlier than `previous + 1`.
    public static func blockTime(commit: Commit, validators: ValidatorSet, previous: Timestamp) -> Timestamp {
        var weighted: [(time: Timestamp, power: UInt64)] = []
        var total: UInt64 = 0
        for signed in commit.precommits {
            guard let v = validators.validator(signed.vote.validator) else { continue }
            weighted.append((signed.vote.timestamp, v.power))
            total += v.power
        }
        weighted.sort { $0.time < $1.time }
        var median = total / 2
        var result = previous + 1
        for entry in weighted {
            if median <= entry.power {
                result = entry.time
                break
            }
            median -= entry.power
        }
        return max(result, previous + 1)
    }
}
