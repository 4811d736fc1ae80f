import GonkaCore

/// State keys of module Governance (PROTOCOL §10). Ids and heights are 8-byte big-endian so
/// prefix scans come back in numeric order.
extension StateKey {
    static let proposalPrefix = Array("gov/proposal/".utf8)
    static let proposalVotePrefix = Array("gov/vote/".utf8)
    /// Index of proposals in their deposit period by the last height of it (empty values).
    static let depositEndPrefix = Array("gov/deposit_end/".utf8)
    /// Index of proposals in their voting period by the height whose end tallies them (empty values).
    static let votingEndPrefix = Array("gov/voting_end/".utf8)
    static let nextProposalID = Array("gov/next_id".utf8)
    /// Parameter changes waiting for the next epoch (`Wire.PendingParamChanges`).
    static let pendingParams = Array("gov/pending_params".utf8)
    /// The scheduled software upgrade (`Wire.UpgradePlan`).
    static let upgradePlan = Array("gov/upgrade_plan".utf8)
    static let upgradeDonePrefix = Array("gov/upgrade_done/".utf8)

    static func proposal(_ id: UInt64) -> [UInt8] { proposalPrefix + BigEndian.encode(id) }
    static func proposalVotes(_ id: UInt64) -> [UInt8] { proposalVotePrefix + BigEndian.encode(id) }
    static func proposalVote(_ id: UInt64, _ voter: Address) -> [UInt8] { proposalVotes(id) + voter.bytes }
    static func depositEnds(_ height: UInt64) -> [UInt8] { depositEndPrefix + BigEndian.encode(height) }
    static func depositEnd(_ height: UInt64, _ id: UInt64) -> [UInt8] { depositEnds(height) + BigEndian.encode(id) }
    static func votingEnds(_ height: UInt64) -> [UInt8] { votingEndPrefix + BigEndian.encode(height) }
    static func votingEnd(_ height: UInt64, _ id: UInt64) -> [UInt8] { votingEnds(height) + BigEndian.encode(id) }
    static func upgradeDone(_ name: String) -> [UInt8] { upgradeDonePrefix + Array(name.utf8) }
}
