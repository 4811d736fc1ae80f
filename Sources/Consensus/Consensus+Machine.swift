import GonkaCore

extension Consensus {
    /// The Tendermint algorithm of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic
    /// 2018) for one height at a time, as a pure value: each input returns the actions the shell
    /// must perform, in order. Rule numbers in comments are the paper's line numbers.
    ///
    /// The shell's contract:
    /// * write every input to the WAL (fsync'd) before handing it in;
    /// * perform ``Action/persistSignState(_:)`` durably before any later broadcast in the same list,
    ///   and write our own signed messages to the WAL as inputs before sending them;
    /// * answer ``Action/requestProposal(height:round:)`` with ``Input/proposalBlock(height:round:block:)``
    ///   and ``Action/validate(height:blockID:block:)`` with ``Input/validated(blockID:valid:)``;
    /// * after ``Action/commit(_:)``, wait ``Timeouts/commit`` and call ``advance(height:validators:lastBlockTime:)``.
    public struct Machine: Sendable {
        /// Deliberate bugs, used only to prove the simulator catches unsafe machines.
        public struct Defects: Sendable, Hashable {
            /// Prevote for any valid proposal, ignoring lockedValue/lockedRound (rules 22 and 28).
            public var ignoreLock: Bool
            /// Count votes one per validator instead of by voting power.
            public var countByValidators: Bool

            public init(ignoreLock: Bool = false, countByValidators: Bool = false) {
                self.ignoreLock = ignoreLock
                self.countByValidators = countByValidators
            }

            public static let none = Defects()
        }

        public struct Configuration: Sendable {
            public var chainID: String
            public var timeouts: Timeouts
            public var verifier: Verifier
            public var defects: Defects

            public init(
                chainID: String, timeouts: Timeouts = .devnet, verifier: Verifier = .ed25519, defects: Defects = .none
            ) {
                self.chainID = chainID
                self.timeouts = timeouts
                self.verifier = verifier
                self.defects = defects
            }
        }

        /// Everything the machine reacts to. Each is written to the WAL before it is handled.
        public enum Input: Sendable, Hashable {
            case proposal(ProposalMessage)
            case vote(SignedVote)
            case timeout(Timeout)
            /// The application's `processProposal` verdict on a block.
            case validated(blockID: Hash, valid: Bool)
            /// The block the application prepared after ``Action/requestProposal(height:round:)``.
            case proposalBlock(height: UInt64, round: Int, block: [UInt8])
        }

        /// A decided block with the precommits that decided it.
        public struct Decision: Sendable, Hashable {
            public let height: UInt64
            public let round: Int
            public let blockID: Hash
            public let block: [UInt8]
            public let commit: Commit
        }

        /// What the shell must do.
        public enum Action: Sendable, Equatable {
            case broadcastProposal(ProposalMessage)
            case broadcastVote(SignedVote)
            /// Persist (fsync) before the following broadcast leaves the node.
            case persistSignState(SignState)
            case schedule(Timeout)
            /// Ask the application for a block (`prepareProposal`).
            case requestProposal(height: UInt64, round: Int)
            /// Ask the application whether a proposed block is valid (`processProposal`).
            case validate(height: UInt64, blockID: Hash, block: [UInt8])
            case commit(Decision)
            /// A validator signed two different votes for one (height, round, type).
            case evidence(DuplicateVoteEvidence)
            /// The sign-state forbade a signature (after a restart); nothing was sent.
            case refusedToSign(height: UInt64, round: Int, step: Step)
        }

        public let configuration: Configuration
        private let signer: Signer?

        public private(set) var height: UInt64
        public private(set) var validators: ValidatorSet
        public private(set) var lastBlockTime: Timestamp
        public private(set) var round = 0
        public private(set) var step = Step.propose
        public private(set) var lockedValue: Hash?
        public private(set) var lockedRound = -1
        public private(set) var validValue: Hash?
        public private(set) var validRound = -1
        public private(set) var decision: Decision?
        public private(set) var signState: SignState

        private var started = false
        private var now: Timestamp = 0
        private var proposals: [Int: SignedProposal] = [:]
        /// Every block id the rightful proposer proposed per round (more than one: it equivocated).
        private var proposalIDs: [Int: [Hash]] = [:]
        private var blocks: [Hash: [UInt8]] = [:]
        private var validity: [Hash: Bool] = [:]
        private var validationRequested: Set<Hash> = []
        private var prevotes: [Int: VoteSet] = [:]
        private var precommits: [Int: VoteSet] = [:]
        private var roundSenders: [Int: Set<Address>] = [:]
        private var roundWeight: [Int: UInt64] = [:]
        private var prevoteWaitScheduled: Set<Int> = []
        private var precommitWaitScheduled: Set<Int> = []
        private var polSeen: Set<Int> = []
        private var proposedRounds: Set<Int> = []
        private var proposerByRound: [Int: Address] = [:]

        /// A machine for `height` (not yet started). `signer == nil` follows consensus without
        /// voting; so does a signer outside `validators`.
        public init(
            configuration: Configuration, signer: Signer?, height: UInt64, validators: ValidatorSet,
            lastBlockTime: Timestamp, signState: SignState = .empty
        ) {
            self.configuration = configuration
            self.signer = signer
            self.height = height
            self.validators = validators
            self.lastBlockTime = lastBlockTime
            self.signState = signState
        }

        /// Enters round 0 (rule 10, StartRound(0)).
        public mutating func start() -> [Action] {
            guard !started else { return [] }
            started = true
            now = lastBlockTime + 1
            var actions = startRound(0)
            actions += evaluate()
            return actions
        }

        /// Moves to the next height after a commit and starts it.
        public mutating func advance(height: UInt64, validators: ValidatorSet, lastBlockTime: Timestamp) -> [Action] {
            self = Machine(
                configuration: configuration, signer: signer, height: height, validators: validators,
                lastBlockTime: lastBlockTime, signState: signState)
            return start()
        }

        /// Handles one input at time `now` (used only for timestamps of what we sign).
        public mutating func handle(_ input: Input, now: Timestamp) -> [Action] {
            self.now = now
            var actions: [Action]
            switch input {
            case .proposal(let message): actions = receive(message)
            case .vote(let vote): actions = receive(vote)
            case .timeout(let timeout): actions = expired(timeout)
            case .validated(let blockID, let valid):
                if validity[blockID] == nil { validity[blockID] = valid }
                actions = []
            case .proposalBlock(let h, let r, let block):
                actions = []
                if h == height, r == round, step == .propose, decision == nil, isProposer(r), started {
                    let id = Consensus.blockID(of: block)
                    validity[id] = true
                    actions = propose(block: block, blockID: id, polRound: -1)
                }
            }
            actions += evaluate()
            return actions
        }

        /// The precommits gathered so far for the decided block (grows until ``advance``).
        public var decidedCommit: Commit? {
            guard let decision, let set = precommits[decision.round] else { return nil }
            return Commit(
                height: height, round: decision.round, blockID: decision.blockID,
                precommits: set.votes(for: decision.blockID))
        }

        /// The proposer of `round` at this height.
        public mutating func proposer(round r: Int) -> Address {
            if let cached = proposerByRound[r] { return cached }
            let address = validators.proposer(round: r).address
            proposerByRound[r] = address
            return address
        }

        private mutating func isProposer(_ r: Int) -> Bool {
            guard let signer else { return false }
            return proposer(round: r) == signer.address
        }

        // MARK: inputs

        private mutating func receive(_ message: ProposalMessage) -> [Action] {
            let p = message.signed.proposal
            let known = proposalIDs[p.round] ?? []
            guard p.height == height, p.round >= 0, !known.contains(p.blockID),
                known.count < VoteSet.maxValuesPerValidator
            else { return [] }
            guard proposer(round: p.round) == p.proposer, let validator = validators.validator(p.proposer),
                message.signed.hasValidSignature(
                    by: validator.publicKey, chainID: configuration.chainID, verifier: configuration.verifier),
                Consensus.blockID(of: message.block) == p.blockID
            else { return [] }
            if proposals[p.round] == nil { proposals[p.round] = message.signed }
            proposalIDs[p.round, default: []].append(p.blockID)
            blocks[p.blockID] = message.block
            return requestValidation(p.blockID)
        }

        private mutating func requestValidation(_ id: Hash) -> [Action] {
            guard validity[id] == nil, let block = blocks[id], validationRequested.insert(id).inserted else {
                return []
            }
            return [.validate(height: height, blockID: id, block: block)]
        }

        private mutating func receive(_ signed: SignedVote) -> [Action] {
            let vote = signed.vote
            guard vote.height == height, vote.round >= 0, let validator = validators.validator(vote.validator) else {
                return []
            }
            if voteSet(vote.type, vote.round)?.contains(signed) == true { return [] }
            guard
                signed.hasValidSignature(
                    by: validator.publicKey, chainID: configuration.chainID, verifier: configuration.verifier)
            else { return [] }
            return add(signed, power: validator.power)
        }

        private mutating func add(_ signed: SignedVote, power: UInt64) -> [Action] {
            let vote = signed.vote
            let result: VoteSet.AddResult
            let byCount = configuration.defects.countByValidators
            switch vote.type {
            case .prevote:
                var set =
                    prevotes[vote.round]
                    ?? VoteSet(
                        height: height, round: vote.round, type: .prevote, validators: validators,
                        countByValidators: byCount)
                result = set.add(signed, power: power)
                prevotes[vote.round] = set
            case .precommit:
                var set =
                    precommits[vote.round]
                    ?? VoteSet(
                        height: height, round: vote.round, type: .precommit, validators: validators,
                        countByValidators: byCount)
                result = set.add(signed, power: power)
                precommits[vote.round] = set
            }
            if roundSenders[vote.round, default: []].insert(vote.validator).inserted {
                roundWeight[vote.round, default: 0] += byCount ? 1 : power
            }
            if case .conflict(let evidence) = result { return [.evidence(evidence)] }
            return []
        }

        private func voteSet(_ type: VoteType, _ r: Int) -> VoteSet? {
            type == .prevote ? prevotes[r] : precommits[r]
        }

        private mutating func expired(_ timeout: Timeout) -> [Action] {
            guard started, timeout.height == height, timeout.round == round, decision == nil else { return [] }
            switch timeout.step {
            case .propose:
                // Rule 57: OnTimeoutPropose.
                guard step == .propose else { return [] }
                step = .prevote
                return vote(.prevote, nil)
            case .prevote:
                // Rule 61: OnTimeoutPrevote.
                guard step == .prevote else { return [] }
                step = .precommit
                return vote(.precommit, nil)
            case .precommit:
                // Rule 65: OnTimeoutPrecommit.
                return startRound(round + 1)
            case .commit:
                return []
            }
        }

        // MARK: the rules

        private mutating func startRound(_ r: Int) -> [Action] {
            round = r
            step = .propose
            var actions: [Action] = [
                .schedule(
                    Timeout(
                        height: height, round: r, step: .propose,
                        duration: configuration.timeouts.duration(.propose, round: r)))
            ]
            if isProposer(r) {
                if let value = validValue, let block = blocks[value] {
                    actions += propose(block: block, blockID: value, polRound: validRound)
                } else {
                    actions.append(.requestProposal(height: height, round: r))
                }
            }
            return actions
        }

        private var totalWeight: UInt64 {
            configuration.defects.countByValidators ? UInt64(validators.validators.count) : validators.totalPower
        }

        private mutating func evaluate() -> [Action] {
            var actions: [Action] = []
            guard started else { return actions }
            var progressed = true
            while progressed && decision == nil {
                progressed = false
                // Rule 49: a proposal of any round with +2/3 precommits for it decides.
                for r in proposalIDs.keys.sorted() {
                    for id in proposalIDs[r] ?? [] where precommits[r]?.hasTwoThirds(for: id) == true {
                        guard let valid = validity[id] else {
                            actions += requestValidation(id)
                            continue
                        }
                        if valid {
                            decide(round: r, blockID: id)
                            if let decision { actions.append(.commit(decision)) }
                            return actions
                        }
                    }
                }
                // Rule 55: +1/3 of the power sent messages in a higher round: skip to it.
                let total = totalWeight
                if let skip = roundWeight.filter({ $0.key > round && UInt128($0.value) * 3 > UInt128(total) }).keys
                    .max()
                {
                    actions += startRound(skip)
                    progressed = true
                    continue
                }
                if step == .propose, let first = proposals[round]?.proposal {
                    let p = first
                    if p.polRound == -1 {
                        // Rule 22.
                        if let valid = validity[p.blockID] {
                            let free = configuration.defects.ignoreLock || lockedRound == -1 || lockedValue == p.blockID
                            step = .prevote
                            actions += vote(.prevote, valid && free ? p.blockID : nil)
                            progressed = true
                        }
                    } else if p.polRound < round, prevotes[p.polRound]?.hasTwoThirds(for: p.blockID) == true {
                        // Rule 28.
                        if let valid = validity[p.blockID] {
                            let free =
                                configuration.defects.ignoreLock || lockedRound <= p.polRound
                                || lockedValue == p.blockID
                            step = .prevote
                            actions += vote(.prevote, valid && free ? p.blockID : nil)
                            progressed = true
                        }
                    }
                }
                // Rule 34.
                if step == .prevote, prevotes[round]?.hasTwoThirdsAny == true,
                    prevoteWaitScheduled.insert(round).inserted
                {
                    actions.append(
                        .schedule(
                            Timeout(
                                height: height, round: round, step: .prevote,
                                duration: configuration.timeouts.duration(.prevote, round: round))))
                }
                // Rule 36.
                if step >= .prevote, !polSeen.contains(round),
                    let id = proposalIDs[round]?.first(where: { prevotes[round]?.hasTwoThirds(for: $0) == true })
                {
                    if validity[id] == true, polSeen.insert(round).inserted {
                        if step == .prevote {
                            lockedValue = id
                            lockedRound = round
                            step = .precommit
                            actions += vote(.precommit, id)
                        }
                        validValue = id
                        validRound = round
                        progressed = true
                    } else if validity[id] == nil {
                        actions += requestValidation(id)
                    }
                }
                // Rule 44.
                if step == .prevote, prevotes[round]?.hasTwoThirds(for: nil) == true {
                    step = .precommit
                    actions += vote(.precommit, nil)
                    progressed = true
                }
                // Rule 47.
                if precommits[round]?.hasTwoThirdsAny == true, precommitWaitScheduled.insert(round).inserted {
                    actions.append(
                        .schedule(
                            Timeout(
                                height: height, round: round, step: .precommit,
                                duration: configuration.timeouts.duration(.precommit, round: round))))
                }
            }
            return actions
        }

        /// Whether this exact vote is already held (a shell may skip logging it again).
        public func contains(_ signed: SignedVote) -> Bool {
            voteSet(signed.vote.type, signed.vote.round)?.contains(signed) == true
        }

        private mutating func decide(round r: Int, blockID: Hash) {
            guard let block = blocks[blockID], let set = precommits[r] else { return }
            step = .commit
            decision = Decision(
                height: height, round: r, blockID: blockID, block: block,
                commit: Commit(height: height, round: r, blockID: blockID, precommits: set.votes(for: blockID)))
        }

        private var voteTime: Timestamp { max(now, lastBlockTime + 1) }

        private mutating func propose(block: [UInt8], blockID: Hash, polRound: Int) -> [Action] {
            guard let signer, proposedRounds.insert(round).inserted else { return [] }
            let proposal = Proposal(
                height: height, round: round, polRound: polRound, blockID: blockID, timestamp: voteTime,
                proposer: signer.address)
            let signed: SignedProposal
            var actions: [Action] = []
            switch signState.decide(height: height, round: round, step: .propose, blockID: blockID) {
            case .sign:
                signed = SignedProposal.sign(proposal, chainID: configuration.chainID, signer: signer)
                signState = SignState(
                    height: height, round: round, step: .propose, blockID: blockID, bytes: signed.bytes,
                    signature: signed.signature)
                actions.append(.persistSignState(signState))
            case .reuse(let bytes, let signature):
                guard let stored = try? SignedProposal(bytes: bytes, signature: signature) else { return [] }
                signed = stored
            case .refuse:
                return [.refusedToSign(height: height, round: round, step: .propose)]
            }
            let message = ProposalMessage(signed: signed, block: block)
            actions.append(.broadcastProposal(message))
            if proposals[round] == nil { proposals[round] = signed }
            if !(proposalIDs[round] ?? []).contains(blockID) { proposalIDs[round, default: []].append(blockID) }
            blocks[blockID] = block
            return actions
        }

        private mutating func vote(_ type: VoteType, _ blockID: Hash?) -> [Action] {
            guard let signer, let me = validators.validator(signer.address) else { return [] }
            let signStep: Step = type == .prevote ? .prevote : .precommit
            let vote = Vote(
                type: type, height: height, round: round, blockID: blockID, timestamp: voteTime, validator: me.address)
            var actions: [Action] = []
            let signed: SignedVote
            switch signState.decide(height: height, round: round, step: signStep, blockID: blockID) {
            case .sign:
                signed = SignedVote.sign(vote, chainID: configuration.chainID, signer: signer)
                signState = SignState(
                    height: height, round: round, step: signStep, blockID: blockID, bytes: signed.bytes,
                    signature: signed.signature)
                actions.append(.persistSignState(signState))
            case .reuse(let bytes, let signature):
                guard let stored = try? SignedVote(bytes: bytes, signature: signature) else { return [] }
                signed = stored
            case .refuse:
                return [.refusedToSign(height: height, round: round, step: signStep)]
            }
            actions.append(.broadcastVote(signed))
            actions += add(signed, power: me.power)
            return actions
        }
    }
}
