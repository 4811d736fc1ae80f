import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

extension Consensus {
    /// A prevote or precommit. `blockID == nil` is a vote for nil.
    public struct Vote: Sendable, Hashable {
        public var type: VoteType
        public var height: UInt64
        public var round: Int
        public var blockID: Hash?
        public var timestamp: Timestamp
        public var validator: Address

        public init(
            type: VoteType, height: UInt64, round: Int, blockID: Hash?, timestamp: Timestamp, validator: Address
        ) {
            self.type = type
            self.height = height
            self.round = round
            self.blockID = blockID
            self.timestamp = timestamp
            self.validator = validator
        }

        /// Decodes and checks the fields of a wire vote.
        public init(wire: Wire.Vote) throws(ConsensusError) {
            switch wire.type {
            case .prevote: type = .prevote
            case .precommit: type = .precommit
            default: throw .wrongVoteType
            }
            height = wire.height
            round = Int(wire.round)
            blockID = try Self.blockID(wire.hasBlockID ? wire.blockID : nil)
            timestamp = wire.timestampMs
            guard let address = Address(bytes: wire.validator) else { throw .malformed("vote validator") }
            validator = address
        }

        static func blockID(_ wire: Wire.BlockID?) throws(ConsensusError) -> Hash? {
            guard let wire, !wire.hash.isEmpty else { return nil }
            guard let hash = Hash(bytes: wire.hash) else { throw .malformed("block id") }
            return hash
        }

        public var wire: Wire.Vote {
            var out = Wire.Vote()
            out.type = type == .prevote ? .prevote : .precommit
            out.height = height
            out.round = UInt32(clamping: round)
            if let blockID {
                out.blockID = Wire.BlockID.with { $0.hash = Data(blockID.bytes) }
            }
            out.timestampMs = timestamp
            out.validator = Data(validator.bytes)
            return out
        }
    }

    /// A vote with the exact bytes that were signed. Decoded once; never re-encoded to verify.
    public struct SignedVote: Sendable, Hashable {
        public let vote: Vote
        public let bytes: [UInt8]
        public let signature: [UInt8]

        /// Encodes `vote`, signs its bytes under the "vote" domain of `chainID`.
        public static func sign(_ vote: Vote, chainID: String, signer: Signer) -> SignedVote {
            let bytes = (try? vote.wire.serializedBytes() as [UInt8]) ?? []
            return SignedVote(
                vote: vote, bytes: bytes, signature: signer.sign(SignBytes.make(.vote, chainID: chainID, bytes)))
        }

        init(vote: Vote, bytes: [UInt8], signature: [UInt8]) {
            self.vote = vote
            self.bytes = bytes
            self.signature = signature
        }

        /// Decodes the vote inside a gossiped envelope (the signature is checked separately).
        public init(wire: Wire.SignedVote) throws(ConsensusError) {
            try self.init(bytes: Array(wire.vote), signature: Array(wire.signature))
        }

        /// Decodes `bytes` as a `Vote`.
        public init(bytes: [UInt8], signature: [UInt8]) throws(ConsensusError) {
            let decoded: Wire.Vote
            do {
                decoded = try Wire.Vote(serializedBytes: bytes)
            } catch {
                throw .malformed("vote bytes")
            }
            vote = try Vote(wire: decoded)
            self.bytes = bytes
            self.signature = signature
        }

        public var wire: Wire.SignedVote {
            Wire.SignedVote.with {
                $0.vote = Data(bytes)
                $0.signature = Data(signature)
            }
        }

        /// Whether the signature is `key`'s over these exact bytes on `chainID`.
        public func hasValidSignature(by key: PublicKey, chainID: String, verifier: Verifier = .ed25519) -> Bool {
            verifier.isValid(signature, of: SignBytes.make(.vote, chainID: chainID, bytes), by: key)
        }
    }

    /// A proposal of a block for (height, round); `polRound` is the round of the proof-of-lock
    /// the proposer relies on (`-1` for none).
    public struct Proposal: Sendable, Hashable {
        public var height: UInt64
        public var round: Int
        public var polRound: Int
        public var blockID: Hash
        public var timestamp: Timestamp
        public var proposer: Address

        public init(height: UInt64, round: Int, polRound: Int, blockID: Hash, timestamp: Timestamp, proposer: Address) {
            self.height = height
            self.round = round
            self.polRound = polRound
            self.blockID = blockID
            self.timestamp = timestamp
            self.proposer = proposer
        }

        public init(wire: Wire.Proposal) throws(ConsensusError) {
            height = wire.height
            round = Int(wire.round)
            polRound = Int(wire.polRound)
            guard polRound >= -1, polRound < round || polRound == -1 else { throw .malformed("proposal pol round") }
            guard let id = try Vote.blockID(wire.hasBlockID ? wire.blockID : nil) else {
                throw .malformed("proposal block id")
            }
            blockID = id
            timestamp = wire.timestampMs
            guard let address = Address(bytes: wire.proposer) else { throw .malformed("proposer") }
            proposer = address
        }

        public var wire: Wire.Proposal {
            Wire.Proposal.with {
                $0.height = height
                $0.round = UInt32(clamping: round)
                $0.polRound = Int32(clamping: polRound)
                $0.blockID = Wire.BlockID.with { $0.hash = Data(blockID.bytes) }
                $0.timestampMs = timestamp
                $0.proposer = Data(proposer.bytes)
            }
        }
    }

    /// A proposal with its signed bytes.
    public struct SignedProposal: Sendable, Hashable {
        public let proposal: Proposal
        public let bytes: [UInt8]
        public let signature: [UInt8]

        public static func sign(_ proposal: Proposal, chainID: String, signer: Signer) -> SignedProposal {
            let bytes = (try? proposal.wire.serializedBytes() as [UInt8]) ?? []
            return SignedProposal(
                proposal: proposal, bytes: bytes,
                signature: signer.sign(SignBytes.make(.proposal, chainID: chainID, bytes)))
        }

        init(proposal: Proposal, bytes: [UInt8], signature: [UInt8]) {
            self.proposal = proposal
            self.bytes = bytes
            self.signature = signature
        }

        public init(bytes: [UInt8], signature: [UInt8]) throws(ConsensusError) {
            let decoded: Wire.Proposal
            do {
                decoded = try Wire.Proposal(serializedBytes: bytes)
            } catch {
                throw .malformed("proposal bytes")
            }
            proposal = try Proposal(wire: decoded)
            self.bytes = bytes
            self.signature = signature
        }

        public var wire: Wire.SignedProposal {
            Wire.SignedProposal.with {
                $0.proposal = Data(bytes)
                $0.signature = Data(signature)
            }
        }

        public func hasValidSignature(by key: PublicKey, chainID: String, verifier: Verifier = .ed25519) -> Bool {
            verifier.isValid(signature, of: SignBytes.make(.proposal, chainID: chainID, bytes), by: key)
        }
    }

    /// A signed proposal travelling with the block it names.
    public struct ProposalMessage: Sendable, Hashable {
        public let signed: SignedProposal
        public let block: [UInt8]

        public init(signed: SignedProposal, block: [UInt8]) {
            self.signed = signed
            self.block = block
        }

        public init(wire: Wire.ProposalMessage) throws(ConsensusError) {
            signed = try SignedProposal(bytes: Array(wire.proposal.proposal), signature: Array(wire.proposal.signature))
            block = Array(wire.block)
        }

        public var wire: Wire.ProposalMessage {
            Wire.ProposalMessage.with {
                $0.proposal = signed.wire
                $0.block = Data(block)
            }
        }
    }

    /// The identity of a block: SHA-256 of its bytes as proposed.
    public static func blockID(of block: [UInt8]) -> Hash { Hash.sha256(block) }

    /// +2/3 precommits for one block at one (height, round).
    public struct Commit: Sendable, Hashable {
        public var height: UInt64
        public var round: Int
        public var blockID: Hash
        public var precommits: [SignedVote]

        public init(height: UInt64, round: Int, blockID: Hash, precommits: [SignedVote]) {
            self.height = height
            self.round = round
            self.blockID = blockID
            self.precommits = precommits
        }

        public init(wire: Wire.Commit) throws(ConsensusError) {
            height = wire.height
            round = Int(wire.round)
            guard let id = try Vote.blockID(wire.hasBlockID ? wire.blockID : nil) else {
                throw .malformed("commit block id")
            }
            blockID = id
            var votes: [SignedVote] = []
            for precommit in wire.precommits { votes.append(try SignedVote(wire: precommit)) }
            precommits = votes
        }

        public var wire: Wire.Commit {
            Wire.Commit.with {
                $0.height = height
                $0.round = UInt32(clamping: round)
                $0.blockID = Wire.BlockID.with { $0.hash = Data(blockID.bytes) }
                $0.precommits = precommits.map(\.wire)
            }
        }

        /// SHA-256 over the signed precommit bytes and signatures, in order (the header's
        /// `last_commit_hash`).
        public var hash: Hash {
            Hash.sha256(parts: precommits.flatMap { [$0.bytes, $0.signature] })
        }
    }

    /// Two conflicting signed votes of one validator for the same (height, round, type), kept in a
    /// canonical order (`voteA.bytes < voteB.bytes`) so every detector builds the same evidence.
    public struct DuplicateVoteEvidence: Sendable, Hashable {
        public let voteA: SignedVote
        public let voteB: SignedVote

        /// Pairs two votes; throws unless they are by one validator for one (height, round, type)
        /// with different block ids.
        public init(_ one: SignedVote, _ two: SignedVote) throws(ConsensusError) {
            let a = one.vote
            let b = two.vote
            guard a.validator == b.validator, a.height == b.height, a.round == b.round, a.type == b.type,
                a.blockID != b.blockID
            else { throw .notConflicting }
            if one.bytes.lexicographicallyPrecedes(two.bytes) {
                voteA = one
                voteB = two
            } else {
                voteA = two
                voteB = one
            }
        }

        public init(wire: Wire.DuplicateVoteEvidence) throws(ConsensusError) {
            try self.init(SignedVote(wire: wire.voteA), SignedVote(wire: wire.voteB))
        }

        public var wire: Wire.DuplicateVoteEvidence {
            Wire.DuplicateVoteEvidence.with {
                $0.voteA = voteA.wire
                $0.voteB = voteB.wire
            }
        }

        /// Identifies the offence: (validator, height, round, type).
        public struct Key: Sendable, Hashable {
            public let validator: Address
            public let height: UInt64
            public let round: Int
            public let type: VoteType
        }

        public var key: Key {
            Key(
                validator: voteA.vote.validator, height: voteA.vote.height, round: voteA.vote.round,
                type: voteA.vote.type)
        }

        /// Checks both signatures against the validator's key in `validators` (the set of the
        /// evidence's height).
        public func verify(
            validators: ValidatorSet, chainID: String, verifier: Verifier = .ed25519
        ) throws(ConsensusError) {
            guard let validator = validators.validator(voteA.vote.validator) else { throw .unknownValidator }
            guard voteA.hasValidSignature(by: validator.publicKey, chainID: chainID, verifier: verifier),
                voteB.hasValidSignature(by: validator.publicKey, chainID: chainID, verifier: verifier)
            else { throw .badSignature }
        }
    }
}
