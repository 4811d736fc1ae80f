import GonkaCore

// Module Governance (PROTOCOL §10, docs/GOVERNANCE.md): the proposal file `gonka tx gov submit`
// reads, and the answers of `/query/proposals`, `/query/proposal/{id}` and `/query/upgrade_plan`.

/// A proposal file (`gonka tx gov submit FILE.json`; docs/GOVERNANCE.md has an example per kind).
public struct ProposalFile: Codable, Hashable, Sendable {
    public var title: String
    public var summary: String
    /// The initial deposit, e.g. `"100gnk"`.
    public var deposit: Amount
    public var expedited: Bool
    public var content: ProposalContentJSON

    public init(
        title: String, summary: String = "", deposit: Amount, expedited: Bool = false, content: ProposalContentJSON
    ) {
        self.title = title
        self.summary = summary
        self.deposit = deposit
        self.expedited = expedited
        self.content = content
    }

    enum CodingKeys: String, CodingKey { case title, summary, deposit, expedited, content }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        title = try c.decode(String.self, forKey: .title)
        summary = try c.decodeIfPresent(String.self, forKey: .summary) ?? ""
        deposit = try c.decode(Amount.self, forKey: .deposit)
        expedited = try c.decodeIfPresent(Bool.self, forKey: .expedited) ?? false
        content = try c.decode(ProposalContentJSON.self, forKey: .content)
    }
}

/// What a proposal does: exactly one of the kinds is set.
public struct ProposalContentJSON: Codable, Hashable, Sendable {
    public struct Empty: Codable, Hashable, Sendable {
        public init() {}
    }
    public struct ParamChange: Codable, Hashable, Sendable {
        public var name: String
        /// A JSON integer or string, as the parameter's type (`gonka query params`).
        public var value: JSONValue
        public init(name: String, value: JSONValue) {
            self.name = name
            self.value = value
        }
    }
    public struct ParamChanges: Codable, Hashable, Sendable {
        public var changes: [ParamChange]
        public init(changes: [ParamChange]) { self.changes = changes }
    }
    public struct Spend: Codable, Hashable, Sendable {
        public var recipient: String
        /// E.g. `"1000gnk"`; answers carry ngonka as a string.
        public var amount: Amount
        public init(recipient: String, amount: Amount) {
            self.recipient = recipient
            self.amount = amount
        }
    }
    /// A model registry entry (PROTOCOL §6.2, §10); omitted strings are empty, `sampler` `native`.
    public struct Model: Codable, Hashable, Sendable {
        public var id: String
        public var tokensPerSecondPerWeight: UInt64
        public var weightsHash: String?
        public var quantization: String?
        public var contextLength: UInt64?
        public var validationThresholdPpm: UInt64
        public var sampler: String?

        public init(
            id: String, tokensPerSecondPerWeight: UInt64, weightsHash: String? = nil, quantization: String? = nil,
            contextLength: UInt64? = nil, validationThresholdPpm: UInt64, sampler: String? = nil
        ) {
            self.id = id
            self.tokensPerSecondPerWeight = tokensPerSecondPerWeight
            self.weightsHash = weightsHash
            self.quantization = quantization
            self.contextLength = contextLength
            self.validationThresholdPpm = validationThresholdPpm
            self.sampler = sampler
        }

        enum CodingKeys: String, CodingKey {
            case id, quantization, sampler
            case tokensPerSecondPerWeight = "tokens_per_second_per_weight"
            case weightsHash = "weights_hash"
            case contextLength = "context_length"
            case validationThresholdPpm = "validation_threshold_ppm"
        }
    }
    public struct Retire: Codable, Hashable, Sendable {
        public var id: String
        public init(id: String) { self.id = id }
    }
    public struct Upgrade: Codable, Hashable, Sendable {
        public var name: String
        public var height: UInt64
        /// Hex SHA-256 of the binary to run from `height` on.
        public var binarySHA256: String
        public init(name: String, height: UInt64, binarySHA256: String) {
            self.name = name
            self.height = height
            self.binarySHA256 = binarySHA256
        }
        enum CodingKeys: String, CodingKey {
            case name, height
            case binarySHA256 = "binary_sha256"
        }
    }

    public var text: Empty?
    public var paramChange: ParamChanges?
    public var trainingFundSpend: Spend?
    public var communityPoolSpend: Spend?
    public var registerModel: Model?
    public var retireModel: Retire?
    public var softwareUpgrade: Upgrade?

    public init(
        text: Empty? = nil, paramChange: ParamChanges? = nil, trainingFundSpend: Spend? = nil,
        communityPoolSpend: Spend? = nil, registerModel: Model? = nil, retireModel: Retire? = nil,
        softwareUpgrade: Upgrade? = nil
    ) {
        self.text = text
        self.paramChange = paramChange
        self.trainingFundSpend = trainingFundSpend
        self.communityPoolSpend = communityPoolSpend
        self.registerModel = registerModel
        self.retireModel = retireModel
        self.softwareUpgrade = softwareUpgrade
    }

    /// The names of the kinds that are set (a valid content has exactly one).
    public var kinds: [String] {
        [
            text.map { _ in "text" }, paramChange.map { _ in "param_change" },
            trainingFundSpend.map { _ in "training_fund_spend" },
            communityPoolSpend.map { _ in "community_pool_spend" },
            registerModel.map { _ in "register_model" }, retireModel.map { _ in "retire_model" },
            softwareUpgrade.map { _ in "software_upgrade" },
        ].compactMap { $0 }
    }

    enum CodingKeys: String, CodingKey {
        case text
        case paramChange = "param_change"
        case trainingFundSpend = "training_fund_spend"
        case communityPoolSpend = "community_pool_spend"
        case registerModel = "register_model"
        case retireModel = "retire_model"
        case softwareUpgrade = "software_upgrade"
    }
}

/// Voting power per option (epoch weight units) and the total weight of the epoch that counts.
public struct TallyInfo: Codable, Hashable, Sendable {
    public var yes: UInt64
    public var abstain: UInt64
    public var no: UInt64
    public var noWithVeto: UInt64
    public var totalPower: UInt64
    public var epoch: UInt64

    public init(yes: UInt64, abstain: UInt64, no: UInt64, noWithVeto: UInt64, totalPower: UInt64, epoch: UInt64) {
        self.yes = yes
        self.abstain = abstain
        self.no = no
        self.noWithVeto = noWithVeto
        self.totalPower = totalPower
        self.epoch = epoch
    }

    enum CodingKeys: String, CodingKey {
        case yes, abstain, no, epoch
        case noWithVeto = "no_with_veto"
        case totalPower = "total_power"
    }
}

/// A governance proposal as stored (`/query/proposals`).
public struct ProposalInfo: Codable, Hashable, Sendable {
    public struct Deposit: Codable, Hashable, Sendable {
        public var depositor: String
        @AmountText public var amount: Amount
        public init(depositor: String, amount: Amount) {
            self.depositor = depositor
            self.amount = amount
        }
    }

    public var id: UInt64
    public var proposer: String
    public var title: String
    public var summary: String
    public var kind: String
    public var content: ProposalContentJSON
    public var expedited: Bool
    public var convertedFromExpedited: Bool
    /// `deposit_period`, `voting_period`, `passed`, `rejected` or `failed`.
    public var status: String
    public var submitHeight: UInt64
    public var depositEndHeight: UInt64
    public var votingStartHeight: UInt64
    public var votingEndHeight: UInt64
    @AmountText public var totalDeposit: Amount
    public var deposits: [Deposit]
    /// The final tally once decided (zeros before).
    public var finalTally: TallyInfo
    /// Why it ended so (`passed`, `quorum_not_reached`, `vetoed`, `threshold_not_reached`,
    /// `deposit_period_ended`, `execution_failed: …`); empty while open.
    public var outcome: String
    /// `refunded` or `burned` once decided.
    public var depositFate: String

    public init(
        id: UInt64, proposer: String, title: String, summary: String, kind: String, content: ProposalContentJSON,
        expedited: Bool, convertedFromExpedited: Bool, status: String, submitHeight: UInt64, depositEndHeight: UInt64,
        votingStartHeight: UInt64, votingEndHeight: UInt64, totalDeposit: Amount, deposits: [Deposit],
        finalTally: TallyInfo, outcome: String, depositFate: String
    ) {
        self.id = id
        self.proposer = proposer
        self.title = title
        self.summary = summary
        self.kind = kind
        self.content = content
        self.expedited = expedited
        self.convertedFromExpedited = convertedFromExpedited
        self.status = status
        self.submitHeight = submitHeight
        self.depositEndHeight = depositEndHeight
        self.votingStartHeight = votingStartHeight
        self.votingEndHeight = votingEndHeight
        self.totalDeposit = totalDeposit
        self.deposits = deposits
        self.finalTally = finalTally
        self.outcome = outcome
        self.depositFate = depositFate
    }

    enum CodingKeys: String, CodingKey {
        case id, proposer, title, summary, kind, content, expedited, status, deposits, outcome
        case convertedFromExpedited = "converted_from_expedited"
        case submitHeight = "submit_height"
        case depositEndHeight = "deposit_end_height"
        case votingStartHeight = "voting_start_height"
        case votingEndHeight = "voting_end_height"
        case totalDeposit = "total_deposit"
        case finalTally = "final_tally"
        case depositFate = "deposit_fate"
    }
}

/// One proposal with who voted what (`/query/proposal/{id}`).
public struct ProposalDetail: Codable, Hashable, Sendable {
    public struct Vote: Codable, Hashable, Sendable {
        public var voter: String
        /// `yes`, `abstain`, `no` or `no_with_veto`.
        public var option: String
        public var height: UInt64
        /// The voter's weight in the epoch that counts now (at the tally for a decided proposal
        /// the final tally is what counted).
        public var power: UInt64
        public init(voter: String, option: String, height: UInt64, power: UInt64) {
            self.voter = voter
            self.option = option
            self.height = height
            self.power = power
        }
    }

    public var proposal: ProposalInfo
    public var votes: [Vote]
    /// The final tally once decided; while the vote runs, the tally the votes give now.
    public var tally: TallyInfo
    /// What the tally decides now (or decided).
    public var outcomeNow: String
    /// Blocks until the current period ends (0 once decided).
    public var blocksLeft: UInt64

    public init(proposal: ProposalInfo, votes: [Vote], tally: TallyInfo, outcomeNow: String, blocksLeft: UInt64) {
        self.proposal = proposal
        self.votes = votes
        self.tally = tally
        self.outcomeNow = outcomeNow
        self.blocksLeft = blocksLeft
    }

    enum CodingKeys: String, CodingKey {
        case proposal, votes, tally
        case outcomeNow = "outcome_now"
        case blocksLeft = "blocks_left"
    }
}

/// The scheduled software upgrade (`/query/upgrade_plan`).
public struct UpgradePlanInfo: Codable, Hashable, Sendable {
    public var name: String
    public var height: UInt64
    public var binarySHA256: String
    public var proposalID: UInt64

    public init(name: String, height: UInt64, binarySHA256: String, proposalID: UInt64) {
        self.name = name
        self.height = height
        self.binarySHA256 = binarySHA256
        self.proposalID = proposalID
    }

    enum CodingKeys: String, CodingKey {
        case name, height
        case binarySHA256 = "binary_sha256"
        case proposalID = "proposal_id"
    }
}
