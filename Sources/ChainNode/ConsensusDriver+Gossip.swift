import Consensus
import GonkaWire
import Logging
import P2P
import SwiftProtobuf

/// The consensus and evidence channels: peers' proposals and votes are checked (height, round,
/// signature, proposer) before the machine sees them, kept for re-gossip (``ConsensusGossip``),
/// and peers that send invalid ones are punished.
extension ConsensusDriver {
    func receiveConsensus(_ payload: [UInt8], from peer: PeerID) {
        guard halted == nil else { return }
        guard let envelope = try? Wire.ConsensusEnvelope(serializedBytes: payload) else {
            return punish(peer, "undecodable consensus message")
        }
        switch envelope.sum {
        case .proposal(let wire):
            guard let message = try? Consensus.ProposalMessage(wire: wire) else {
                return punish(peer, "malformed proposal")
            }
            let p = message.signed.proposal
            guard admit(height: p.height, round: p.round, payload: payload, from: peer) else { return }
            guard gossip.markSeen(message.signed.signature) else { return }
            guard p.proposer == machine.proposer(round: p.round),
                // The set of the machine's height: after a commit the tip has moved on while the
                // machine still collects that height's votes.
                let validator = app.validatorSet(forHeight: machine.height).validator(p.proposer),
                message.signed.hasValidSignature(by: validator.publicKey, chainID: configuration.chainID),
                Consensus.blockID(of: message.block) == p.blockID
            else {
                gossip.forget(message.signed.signature)
                return punish(peer, "invalid proposal at \(p.height)/\(p.round)")
            }
            gossip.keepProposal(payload, round: p.round)
            input(.proposal(message))
        case .vote(let wire):
            guard let vote = try? Consensus.SignedVote(wire: wire) else { return punish(peer, "malformed vote") }
            let v = vote.vote
            guard admit(height: v.height, round: v.round, payload: payload, from: peer) else { return }
            guard !machine.contains(vote), gossip.markSeen(vote.signature) else { return }
            guard let validator = app.validatorSet(forHeight: machine.height).validator(v.validator),
                vote.hasValidSignature(by: validator.publicKey, chainID: configuration.chainID)
            else {
                gossip.forget(vote.signature)
                return punish(peer, "invalid vote at \(v.height)/\(v.round)")
            }
            gossip.keepVote(payload)
            input(.vote(vote))
        case nil:
            punish(peer, "empty consensus message")
        }
    }

    /// See ``ConsensusGossip/admit(height:round:payload:from:machineHeight:machineRound:)``.
    private func admit(height: UInt64, round: Int, payload: [UInt8], from peer: PeerID) -> Bool {
        gossip.admit(
            height: height, round: round, payload: payload, from: peer, machineHeight: machine.height,
            machineRound: machine.round)
    }

    func receiveEvidence(_ payload: [UInt8], from peer: PeerID) {
        guard let envelope = try? Wire.EvidenceEnvelope(serializedBytes: payload),
            let evidence = try? Consensus.DuplicateVoteEvidence(wire: envelope.duplicateVote)
        else { return punish(peer, "undecodable evidence") }
        let signers = app.validatorSet(forHeight: evidence.key.height)
        guard (try? evidence.verify(validators: signers, chainID: configuration.chainID)) != nil else {
            return punish(peer, "invalid evidence")
        }
        // Valid but not usable (already punished, too old) is no fault of the peer: it is dropped.
        let dropped = app.addEvidence(evidence)
        logger.warning(
            "peer reported duplicate vote evidence",
            metadata: [
                "peer": "\(peer)", "validator": "\(evidence.key.validator)", "height": "\(evidence.key.height)",
                "evidence.dropped": "\(dropped ?? "no")",
            ])
    }
}
