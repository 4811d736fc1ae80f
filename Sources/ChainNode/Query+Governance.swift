import ChainRPCTypes
import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage

/// Module Governance's records as the RPC's types (`/query/proposals`, `/query/proposal/{id}`,
/// `/query/upgrade_plan`), read through the ledger's own queries over one committed version.
struct GovernanceReader {
    let state: AuthenticatedStore
    let version: UInt64

    private var view: VersionedStateView { VersionedStateView(state: state, version: version) }

    private func run<T>(_ body: () throws(LedgerError) -> T) throws(QueryError) -> T {
        do { return try body() } catch { throw .internal("state read failed: \(error)") }
    }

    func answer(_ path: QueryPath) throws(QueryError) -> QueryResult {
        let view = view
        switch path {
        case .proposals(let status):
            let list = try run { () throws(LedgerError) in try GovernanceQueries.proposals(status: status, in: view) }
            return QueryResult(
                height: version, key: Array("gov/proposal/".utf8), value: try QueryEngine.value(list.map(Self.info)),
                proof: .null)
        case .proposal(let id):
            let params = try EpochReader(state: state, version: version).params()
            let found = try run { () throws(LedgerError) in
                try GovernanceQueries.proposal(id, height: version, params: params, in: view)
            }
            let value = try found.map { found throws(QueryError) in try QueryEngine.value(detail(found)) } ?? .null
            return QueryResult(height: version, key: Array("gov/proposal/".utf8), value: value, proof: .null)
        case .upgradePlan:
            let plan = try run { () throws(LedgerError) in try GovernanceQueries.upgradePlan(in: view) }
            let value =
                try plan.map { p throws(QueryError) in
                    try QueryEngine.value(
                        UpgradePlanInfo(
                            name: p.name, height: p.height, binarySHA256: p.binarySha256, proposalID: p.proposalID))
                } ?? .null
            return QueryResult(height: version, key: Array("gov/upgrade_plan".utf8), value: value, proof: .null)
        default:
            throw .notFound("not a governance query")
        }
    }

    private func detail(_ found: GovernanceQueries.ProposalView) -> ProposalDetail {
        let p = found.proposal
        let end: UInt64? =
            switch p.status {
            case .depositPeriod: p.depositEndHeight
            case .votingPeriod: p.votingEndHeight
            default: nil
            }
        return ProposalDetail(
            proposal: Self.info(p),
            votes: found.votes.map { .init(voter: $0.voter, option: $0.option, height: $0.height, power: $0.power) },
            tally: Self.tally(found.tally), outcomeNow: found.outcomeNow,
            blocksLeft: end.map { $0 >= version ? $0 - version : 0 } ?? 0)
    }

    static func tally(_ t: Wire.TallyResult) -> TallyInfo {
        TallyInfo(
            yes: t.yes, abstain: t.abstain, no: t.no, noWithVeto: t.noWithVeto, totalPower: t.totalPower, epoch: t.epoch
        )
    }

    static func info(_ p: Wire.GovProposal) -> ProposalInfo {
        ProposalInfo(
            id: p.id, proposer: p.proposer, title: p.title, summary: p.summary,
            kind: GovernanceQueries.kind(p.content), content: content(p.content), expedited: p.expedited,
            convertedFromExpedited: p.convertedFromExpedited, status: GovernanceQueries.statusName(p.status),
            submitHeight: p.submitHeight, depositEndHeight: p.depositEndHeight, votingStartHeight: p.votingStartHeight,
            votingEndHeight: p.votingEndHeight, totalDeposit: Amount(ngonka: p.totalDeposit),
            deposits: p.deposits.map { .init(depositor: $0.depositor, amount: Amount(ngonka: $0.amount)) },
            finalTally: tally(p.finalTally), outcome: p.outcome, depositFate: p.depositFate)
    }

    /// A proposal's content in the proposal-file form (docs/GOVERNANCE.md).
    static func content(_ c: Wire.ProposalContent) -> ProposalContentJSON {
        var out = ProposalContentJSON()
        switch c.kind {
        case .text: out.text = .init()
        case .paramChange(let change):
            out.paramChange = .init(
                changes: change.changes.map { change in
                    .init(name: change.name, value: (try? JSONValue(parsing: change.value)) ?? .string(change.value))
                })
        case .trainingFundSpend(let s):
            out.trainingFundSpend = .init(recipient: s.recipient, amount: Amount(ngonka: s.amount))
        case .communityPoolSpend(let s):
            out.communityPoolSpend = .init(recipient: s.recipient, amount: Amount(ngonka: s.amount))
        case .registerModel(let r):
            let m = r.model
            out.registerModel = .init(
                id: m.id, tokensPerSecondPerWeight: m.tokensPerSecondPerWeight, weightsHash: m.weightsHash,
                quantization: m.quantization, contextLength: m.contextLength,
                validationThresholdPpm: m.validationThresholdPpm, sampler: m.sampler)
        case .retireModel(let r): out.retireModel = .init(id: r.modelID)
        case .softwareUpgrade(let u):
            out.softwareUpgrade = .init(name: u.name, height: u.height, binarySHA256: u.binarySha256)
        case nil: break
        }
        return out
    }
}
