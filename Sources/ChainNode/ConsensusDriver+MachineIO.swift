import Consensus
import GonkaCore
import GonkaWire
import Logging
import P2P
import Storage
import SwiftProtobuf

/// The machine's I/O: every input goes to the WAL (fsync'd) before the machine sees it, and each
/// action the machine returns is carried out here, in order.
extension ConsensusDriver {
    /// Hands an input to the machine after writing it to the WAL. An input produced while another
    /// is being handled (a proposal block, a validation) waits its turn, so the WAL's order is the
    /// machine's.
    func input(_ input: Consensus.Machine.Input) {
        pendingInputs.append(input)
        guard pendingInputs.count == 1 else { return }
        while let next = pendingInputs.first {
            guard halted == nil else {
                pendingInputs = []
                return
            }
            let now = Self.nowMs
            do {
                try wal.append(.input(next, now: now))
            } catch {
                pendingInputs = []
                return halt("wal append: \(error)")
            }
            perform(machine.handle(next, now: now))
            pendingInputs.removeFirst()
        }
    }

    /// Carries out the machine's actions in order; the sign-state is saved before anything signed
    /// is sent, and what is sent is in the WAL first.
    func perform(_ actions: [Consensus.Machine.Action]) {
        for action in actions {
            guard halted == nil else { return }
            switch action {
            case .persistSignState(let state):
                do {
                    try signStore.save(state)
                } catch {
                    return halt("sign state: \(error)")
                }
            case .broadcastProposal(let message):
                do {
                    try wal.append(.input(.proposal(message), now: Self.nowMs))
                } catch {
                    return halt("wal append: \(error)")
                }
                let payload = Self.envelope(proposal: message)
                gossip.markSeen(message.signed.signature)
                gossip.keepProposal(payload, round: message.signed.proposal.round)
                host.broadcast(payload, on: .consensus)
                logger.debug(
                    "proposed",
                    metadata: [
                        "height": "\(message.signed.proposal.height)", "round": "\(message.signed.proposal.round)",
                        "block.bytes": "\(message.block.count)",
                    ])
            case .broadcastVote(let vote):
                do {
                    try wal.append(.input(.vote(vote), now: Self.nowMs))
                } catch {
                    return halt("wal append: \(error)")
                }
                let payload = Self.envelope(vote: vote)
                gossip.markSeen(vote.signature)
                gossip.keepVote(payload)
                host.broadcast(payload, on: .consensus)
            case .schedule(let timeout):
                schedule(timeout)
            case .requestProposal(let height, let round):
                guard let signer, height == app.tip.height + 1 else { continue }
                let txs = app.prepareProposal(
                    txs: mempool.reap(
                        maxCount: configuration.limits.maxBlockTxs, maxBytes: configuration.limits.maxBlockBytes))
                let block = app.makeBlock(proposer: signer.address, txs: txs)
                input(.proposalBlock(height: height, round: round, block: block))
            case .validate(let height, let blockID, let block):
                guard height == app.tip.height + 1 else { continue }
                let verdict = app.check(block)
                if case .failure(let rejection) = verdict {
                    logger.warning(
                        "rejected a proposed block",
                        metadata: [
                            "height": "\(height)", "reason": "\(rejection)", "block": "\(blockID.hex.prefix(12))",
                        ])
                }
                input(.validated(blockID: blockID, valid: (try? verdict.get()) != nil))
            case .commit(let decision):
                commitDecision(decision)
            case .evidence(let evidence):
                // Pooled for this node's next proposal and gossiped so every proposer learns of it.
                let dropped = app.addEvidence(evidence)
                logger.warning(
                    "duplicate vote evidence",
                    metadata: [
                        "validator": "\(evidence.key.validator)", "height": "\(evidence.key.height)",
                        "round": "\(evidence.key.round)", "evidence.dropped": "\(dropped ?? "no")",
                    ])
                let envelope = Wire.EvidenceEnvelope.with { $0.duplicateVote = evidence.wire }
                if let payload = try? envelope.serializedBytes() as [UInt8] {
                    host.broadcast(payload, on: .evidence)
                }
            case .refusedToSign(let height, let round, let step):
                // Expected while replaying the WAL: the sign-state is already past a step the replay
                // re-derives, and the vote that was sent then is replayed from the WAL right after.
                logger.log(
                    level: replaying ? .debug : .warning,
                    "refused to sign: the sign-state already holds a different message",
                    metadata: ["height": "\(height)", "round": "\(round)", "step": "\(step)"])
            }
        }
        publishStatus()
    }

    private func schedule(_ timeout: Consensus.Timeout) {
        timers[timeout]?.cancel()
        timers[timeout] = Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(timeout.duration))
            guard !Task.isCancelled else { return }
            await self?.fire(timeout)
        }
    }

    private func fire(_ timeout: Consensus.Timeout) {
        timers[timeout] = nil
        guard halted == nil, timeout.height == machine.height else { return }
        input(.timeout(timeout))
    }

    static func envelope(proposal: Consensus.ProposalMessage) -> [UInt8] {
        (try? Wire.ConsensusEnvelope.with { $0.proposal = proposal.wire }.serializedBytes()) ?? []
    }

    static func envelope(vote: Consensus.SignedVote) -> [UInt8] {
        (try? Wire.ConsensusEnvelope.with { $0.vote = vote.wire }.serializedBytes()) ?? []
    }
}
