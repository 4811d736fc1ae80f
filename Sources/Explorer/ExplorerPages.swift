// What each page shows, as plain values the templates read (Mustache looks fields up by name).
// Every string here may come from the chain: the templates write them with `{{…}}`, which
// HTML-escapes; no field is ever written unescaped.

/// The frame every page shares: title, the chain's id and the node's height in the header.
struct PageFrame: Sendable {
    var title: String
    var chainID: String
    var height: String
    var nav: [NavItem]

    /// `tab` is the navigation entry this page belongs to (none for an error page).
    init(title: String, chainID: String, height: String, tab: String) {
        self.title = title
        self.chainID = chainID
        self.height = height
        nav = NavItem.all.map { NavItem(name: $0.name, href: $0.href, current: $0.name == tab) }
    }
}

/// One entry of the navigation bar.
struct NavItem: Sendable {
    var name: String
    var href: String
    var current: Bool

    static let all = [
        NavItem(name: "Overview", href: "/", current: false),
        NavItem(name: "Participants", href: "/explorer/participants", current: false),
        NavItem(name: "Blocks", href: "/explorer/blocks", current: false),
        NavItem(name: "Proposals", href: "/explorer/proposals", current: false),
    ]
}

/// `GET /`: the chain at a glance.
struct OverviewPage: Sendable {
    var frame: PageFrame
    var height: String
    var blockTime: String
    var blockInterval: String
    var blockIntervalMs: String
    var epoch: String
    var stage: String
    var nextStage: String
    var nextStageHeight: String
    var blocksToNextStage: String
    var countdown: String
    var activeEpoch: String
    var validators: [ValidatorRow]
    var validatorCount: String
    var totalPower: String
    var totalWeight: String
    var participantCount: String
    var models: [ModelRow]
    var servedThisEpoch: String
    var trafficLastEpoch: String
    var supply: SupplyFacts?
    var recentBlocks: [BlockRow]
}

struct ValidatorRow: Sendable {
    var address: String
    var power: String
    var share: String
}

struct ModelRow: Sendable {
    var id: String
    var price: String
    var utilisation: String
    var capacity: String
    var contextLength: String
}

struct SupplyFacts: Sendable {
    var minted: String
    var burned: String
    var circulating: String
}

/// `GET /explorer/participants`.
struct ParticipantsPage: Sendable {
    var frame: PageFrame
    var epoch: String
    var participants: [ParticipantRow]
}

/// One participant's line; collateral, jail and the last settlement come from modules Collateral,
/// Slashing and Rewards ("—" when the node cannot say); health from its API node's `/health`.
struct ParticipantRow: Sendable {
    var address: String
    var url: String
    var weight: String
    var votingPower: String
    var reputation: String
    var status: String
    var validationStatus: String
    var invalid: Bool
    var served: String
    var missed: String
    var invalidated: String
    var collateral: String
    /// `no`, `jailed until H` (the first height it may unjail) or `tombstoned`.
    var jailed: String
    var isJailed: Bool
    var lastSettlement: String
    /// `ok, 3 ms`, `down`, `no answer`, `HTTP 503`, or "—" where not probed.
    var health: String
    var healthy: Bool
}

/// `GET /explorer/participant/{address}`.
struct ParticipantPage: Sendable {
    var frame: PageFrame
    var row: ParticipantRow
    var registeredHeight: String
    var consensusKey: String
    var missesReported: String
    var missesExpired: String
    var missesLastHeight: String
    var llr: String
    var llrThreshold: String
    var checked: String
    var validationsDone: String
    var history: [EpochHistoryRow]
    /// Weight, reward and invalid rate per epoch (empty without any epoch).
    var charts: [HistoryChart]
}

/// One epoch of a participant's history.
struct EpochHistoryRow: Sendable {
    var epoch: String
    var weight: String
    var status: String
    var served: String
    var invalidated: String
    var invalidRate: String
    var reward: String
}

/// One bar chart of a participant's history, a bar per epoch (inline SVG; all numbers computed
/// here, in integers).
struct HistoryChart: Sendable {
    /// The element id (`weight-chart`, `reward-chart`, `invalid-chart`).
    var id: String
    /// What a bar measures, shown above the chart and in each bar's tooltip.
    var caption: String
    var width: String
    var height: String
    var bars: [ChartBar]
}

struct ChartBar: Sendable {
    var x: String
    var y: String
    var width: String
    var height: String
    var labelX: String
    var labelY: String
    var label: String
    var value: String
}

/// `GET /explorer/inference/{id}`.
struct InferencePage: Sendable {
    var frame: PageFrame
    var id: String
    var status: String
    var requester: String
    var transferAgent: String
    var executor: String
    var attempt: String
    var model: String
    var promptTokens: String
    var completionTokens: String
    var maxTokens: String
    var price: String
    var escrow: String
    var cost: String
    var refund: String
    var startHeight: String
    var finishHeight: String
    var epoch: String
    var validations: [ValidationRow]
    var voting: VotingFacts?
    var outcome: String
}

struct ValidationRow: Sendable {
    var validator: String
    var passed: Bool
    var reason: String
    var distancePpm: String
    var samplerMisses: String
    var height: String
    var vote: Bool
}

struct VotingFacts: Sendable {
    var firstValidator: String
    var firstReason: String
    var deadlineHeight: String
    var outcome: String
    var revalidators: [RevalidatorRow]
}

struct RevalidatorRow: Sendable {
    var address: String
    var weight: String
    var vote: String
}

/// `GET /explorer/blocks`.
struct BlocksPage: Sendable {
    var frame: PageFrame
    var blocks: [BlockRow]
    var olderLink: String?
}

struct BlockRow: Sendable {
    var height: String
    var time: String
    var proposer: String
    var txs: String
    var hash: String
    var shortHash: String
}

/// `GET /explorer/block/{height}`.
struct BlockPage: Sendable {
    var frame: PageFrame
    var height: String
    var hash: String
    var time: String
    var proposer: String
    var appHash: String
    var lastBlockHash: String
    var round: String
    var signers: [String]
    var txs: [TxRow]
    var previous: String?
    var next: String?
}

struct TxRow: Sendable {
    var hash: String
    var shortHash: String
}

/// `GET /explorer/tx/{hash}`.
struct TxPage: Sendable {
    var frame: PageFrame
    var hash: String
    var height: String
    var index: String
    var code: String
    var ok: Bool
    var log: String
    var events: [TxEventRow]
}

struct TxEventRow: Sendable {
    var type: String
    var attributes: [Attribute]
}

struct Attribute: Sendable {
    var key: String
    var value: String
}

/// `GET /explorer/proposals`: every proposal (PROTOCOL §10), newest first, with the tally the
/// votes give now while the vote runs and the final one after.
struct ProposalsPage: Sendable {
    var frame: PageFrame
    var proposals: [ProposalRow]
}

struct ProposalRow: Sendable {
    var id: String
    var title: String
    var kind: String
    var status: String
    var open: Bool
    var deposit: String
    var votingEndHeight: String
    var tally: TallyFacts
}

/// A tally in voting power (epoch weight) with each option's share of the epoch's total power.
struct TallyFacts: Sendable {
    var counted: Bool
    var epoch: String
    var totalPower: String
    var yes: String
    var yesShare: String
    var no: String
    var noShare: String
    var abstain: String
    var abstainShare: String
    var veto: String
    var vetoShare: String
    var turnout: String
}

/// `GET /explorer/proposal/{id}`.
struct ProposalPage: Sendable {
    var frame: PageFrame
    var id: String
    var title: String
    var summary: String
    var kind: String
    var content: String
    var proposer: String
    var status: String
    var open: Bool
    var expedited: Bool
    var outcomeNow: String
    var outcome: String
    var depositFate: String
    var submitHeight: String
    var depositEndHeight: String
    var votingStartHeight: String
    var votingEndHeight: String
    var blocksLeft: String
    var totalDeposit: String
    var deposits: [ProposalDepositRow]
    var tally: TallyFacts
    var votes: [ProposalVoteRow]
}

struct ProposalDepositRow: Sendable {
    var depositor: String
    var amount: String
}

struct ProposalVoteRow: Sendable {
    var voter: String
    var option: String
    var power: String
    var height: String
}

/// A 400/404/502 page.
struct ErrorPage: Sendable {
    var frame: PageFrame
    var status: String
    var heading: String
    var message: String
}
