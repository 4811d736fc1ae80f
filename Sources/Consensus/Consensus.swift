import GonkaCore
import GonkaWire

/// Tendermint BFT (PROTOCOL §3.1) as pure values: the round state machine, vote sets, validator
/// sets with proposer priorities, commit verification, sign-state and WAL records. Nothing here
/// reads a clock, draws randomness or touches a file: time arrives with each input, I/O is done by
/// a shell through the small protocols ``WALStorage`` and ``SignStateStore``.
public enum Consensus {}

extension Consensus {
    /// Milliseconds since the Unix epoch. Always supplied by the caller.
    public typealias Timestamp = Int64

    /// The two kinds of votes.
    public enum VoteType: Int, Sendable, Hashable, CaseIterable {
        case prevote = 1
        case precommit = 2
    }

    /// The step of a round. Ordered: `propose < prevote < precommit < commit`.
    public enum Step: Int, Sendable, Hashable, Comparable {
        case propose = 1
        case prevote = 2
        case precommit = 3
        case commit = 4

        public static func < (lhs: Step, rhs: Step) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// A timer the machine asks its shell to run; when it fires the shell hands it back as
    /// ``Machine/Input/timeout(_:)``.
    public struct Timeout: Sendable, Hashable, CustomStringConvertible {
        public var height: UInt64
        public var round: Int
        /// `.propose`, `.prevote` or `.precommit`: which wait this is.
        public var step: Step
        /// How long to wait, in milliseconds.
        public var duration: Int64

        public init(height: UInt64, round: Int, step: Step, duration: Int64) {
            self.height = height
            self.round = round
            self.step = step
            self.duration = duration
        }

        public var description: String { "timeout(\(height)/\(round)/\(step) \(duration)ms)" }
    }

    /// Timeout lengths; each grows linearly with the round number (PROTOCOL §3.1).
    public struct Timeouts: Sendable, Hashable {
        public var propose: Int64
        public var proposeDelta: Int64
        public var prevote: Int64
        public var prevoteDelta: Int64
        public var precommit: Int64
        public var precommitDelta: Int64
        /// The pause after a commit before the next height starts (collects late precommits).
        public var commit: Int64

        public init(
            propose: Int64, proposeDelta: Int64, prevote: Int64, prevoteDelta: Int64, precommit: Int64,
            precommitDelta: Int64, commit: Int64
        ) {
            self.propose = propose
            self.proposeDelta = proposeDelta
            self.prevote = prevote
            self.prevoteDelta = prevoteDelta
            self.precommit = precommit
            self.precommitDelta = precommitDelta
            self.commit = commit
        }

        /// devnet: propose 1000 ms (+500/round), prevote 500 (+250), precommit 500 (+250), commit 500.
        public static let devnet = Timeouts(
            propose: 1000, proposeDelta: 500, prevote: 500, prevoteDelta: 250, precommit: 500, precommitDelta: 250,
            commit: 500)

        /// mainnet: 3000/1000/1000/1000 ms as CometBFT, with CometBFT's per-round increments.
        public static let mainnet = Timeouts(
            propose: 3000, proposeDelta: 500, prevote: 1000, prevoteDelta: 500, precommit: 1000,
            precommitDelta: 500, commit: 1000)

        /// The wait for `step` in `round`.
        public func duration(_ step: Step, round: Int) -> Int64 {
            let r = Int64(max(round, 0))
            switch step {
            case .propose: return propose + proposeDelta * r
            case .prevote: return prevote + prevoteDelta * r
            case .precommit: return precommit + precommitDelta * r
            case .commit: return commit
            }
        }
    }

    /// Produces signatures with the validator's consensus key. A closure so tests can count calls;
    /// production uses ``init(key:)``.
    public struct Signer: Sendable {
        public let publicKey: PublicKey
        public let address: Address
        private let signClosure: @Sendable ([UInt8]) -> [UInt8]

        /// Signs with an Ed25519 key (deterministic, RFC 8032).
        public init(key: SigningKey) {
            publicKey = key.publicKey
            address = key.publicKey.address
            signClosure = { key.signature(for: $0) }
        }

        /// The signature of `message` (already domain-separated sign bytes).
        public func sign(_ message: [UInt8]) -> [UInt8] { signClosure(message) }
    }

    /// Checks signatures. ``ed25519`` in production; the simulator wraps it with a cache because
    /// every node verifies the same gossiped message.
    public struct Verifier: Sendable {
        private let check: @Sendable (PublicKey, [UInt8], [UInt8]) -> Bool

        public init(_ check: @escaping @Sendable (_ key: PublicKey, _ signature: [UInt8], _ message: [UInt8]) -> Bool) {
            self.check = check
        }

        /// Plain Ed25519 verification.
        public static let ed25519 = Verifier { key, signature, message in
            key.isValidSignature(signature, for: message)
        }

        /// Whether `signature` is `key`'s signature of `message`.
        public func isValid(_ signature: [UInt8], of message: [UInt8], by key: PublicKey) -> Bool {
            check(key, signature, message)
        }
    }
}

/// Why a consensus message, commit or record was rejected.
public struct ConsensusError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case malformed(String)
        case wrongHeight(expected: UInt64, got: UInt64)
        case wrongRound(expected: Int, got: Int)
        case wrongBlock
        case wrongVoteType
        case unknownValidator
        case duplicateValidator
        case badSignature
        case insufficientPower(have: UInt64, total: UInt64)
        case invalidValidatorSet(String)
        case notConflicting
        case storage(String)
    }

    private let code: Code

    public static func malformed(_ what: String) -> Self { Self(code: .malformed(what)) }
    public static func wrongHeight(expected: UInt64, got: UInt64) -> Self {
        Self(code: .wrongHeight(expected: expected, got: got))
    }
    public static func wrongRound(expected: Int, got: Int) -> Self {
        Self(code: .wrongRound(expected: expected, got: got))
    }
    public static let wrongBlock = Self(code: .wrongBlock)
    public static let wrongVoteType = Self(code: .wrongVoteType)
    public static let unknownValidator = Self(code: .unknownValidator)
    public static let duplicateValidator = Self(code: .duplicateValidator)
    public static let badSignature = Self(code: .badSignature)
    public static func insufficientPower(have: UInt64, total: UInt64) -> Self {
        Self(code: .insufficientPower(have: have, total: total))
    }
    public static func invalidValidatorSet(_ why: String) -> Self { Self(code: .invalidValidatorSet(why)) }
    public static let notConflicting = Self(code: .notConflicting)
    public static func storage(_ why: String) -> Self { Self(code: .storage(why)) }

    /// A label without values (safe as a metric label).
    public var shortDescription: String {
        switch code {
        case .malformed: "malformed"
        case .wrongHeight: "wrong_height"
        case .wrongRound: "wrong_round"
        case .wrongBlock: "wrong_block"
        case .wrongVoteType: "wrong_vote_type"
        case .unknownValidator: "unknown_validator"
        case .duplicateValidator: "duplicate_validator"
        case .badSignature: "bad_signature"
        case .insufficientPower: "insufficient_power"
        case .invalidValidatorSet: "invalid_validator_set"
        case .notConflicting: "not_conflicting"
        case .storage: "storage"
        }
    }

    public var description: String {
        switch code {
        case .malformed(let what): "malformed \(what)"
        case .wrongHeight(let expected, let got): "wrong height: expected \(expected), got \(got)"
        case .wrongRound(let expected, let got): "wrong round: expected \(expected), got \(got)"
        case .wrongBlock: "signature is for a different block"
        case .wrongVoteType: "wrong vote type"
        case .unknownValidator: "signer is not in the validator set"
        case .duplicateValidator: "validator appears twice"
        case .badSignature: "invalid signature"
        case .insufficientPower(let have, let total):
            "insufficient voting power: \(have) of \(total), need more than 2/3"
        case .invalidValidatorSet(let why): "invalid validator set: \(why)"
        case .notConflicting: "votes do not conflict"
        case .storage(let why): "storage: \(why)"
        }
    }
}

extension Consensus {
    /// What the application answers to `finalizeBlock`.
    public struct FinalizeResult: Sendable, Hashable {
        /// One result code per transaction (0 = success).
        public var txResults: [UInt32]
        /// Validator changes decided at this height; they take effect at height + 2.
        public var validatorUpdates: [ValidatorUpdate]
        /// The state root after this block.
        public var appHash: Hash

        public init(txResults: [UInt32], validatorUpdates: [ValidatorUpdate], appHash: Hash) {
            self.txResults = txResults
            self.validatorUpdates = validatorUpdates
            self.appHash = appHash
        }
    }
}

/// The ledger as consensus sees it (PROTOCOL §3.2, like ABCI++). Implemented by the ledger's
/// adapter in the node; consensus never imports the ledger.
public protocol ConsensusApplication {
    /// Checks a transaction for the mempool.
    mutating func checkTx(_ tx: [UInt8]) -> Result<Void, ConsensusError>
    /// Chooses and orders the transactions of a block this node proposes.
    mutating func prepareProposal(txs: [[UInt8]], height: UInt64) -> [[UInt8]]
    /// Accepts or rejects a proposed block.
    mutating func processProposal(_ block: Wire.Block) -> Bool
    /// Executes a decided block.
    mutating func finalizeBlock(_ block: Wire.Block) throws(ConsensusError) -> Consensus.FinalizeResult
    /// Makes the state of the last finalized block durable.
    mutating func commit() throws(ConsensusError)
}
