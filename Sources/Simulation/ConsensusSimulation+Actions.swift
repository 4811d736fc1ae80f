import Consensus
import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

extension World {
    // MARK: actions

    mutating func perform(
        _ i: Int, _ actions: [Consensus.Machine.Action], replaying: Bool = false
    )
        throws(ConsensusSimulation.Violation)
    {
        for action in actions {
            guard !nodes[i].crashed else { return }
            switch action {
            case .persistSignState(let state):
                if nodes[i].behaviour == .honest { try? nodes[i].signStore.save(state) }
            case .broadcastProposal(let message):
                try? nodes[i].wal.append(.input(.proposal(message), now: clock))
                try checkSigned(
                    i, height: message.signed.proposal.height, round: message.signed.proposal.round, step: 1,
                    message.signed.proposal.blockID)
                nodes[i].ownMessages.append(.proposal(message))
                sendProposal(message, from: i)
            case .broadcastVote(let vote):
                try? nodes[i].wal.append(.input(.vote(vote), now: clock))
                try checkSigned(
                    i, height: vote.vote.height, round: vote.vote.round, step: vote.vote.type.rawValue + 1,
                    vote.vote.blockID)
                nodes[i].ownMessages.append(.vote(vote))
                sendVote(vote, from: i)
            case .schedule(let timeout):
                schedule(timeout.duration, .timeout(node: i, epoch: nodes[i].epoch, timeout))
            case .requestProposal(let h, let r):
                let block = makeBlock(i, height: h, round: r, variant: 0)
                try input(i, .proposalBlock(height: h, round: r, block: block))
            case .validate(_, let id, let block):
                try input(i, .validated(blockID: id, valid: isValid(block, at: i)))
            case .commit(let decision):
                maxRound = max(maxRound, decision.round)
                try commitBlock(
                    i, height: decision.height, round: decision.round, id: decision.blockID, block: decision.block,
                    commit: decision.commit, synced: false)
            case .evidence(let e):
                addEvidence(e, at: i)
                if nodes[i].behaviour != .silent { broadcast(.evidence(e), from: i) }
            case .refusedToSign:
                refused += 1
            }
        }
    }

    mutating func checkSigned(
        _ i: Int, height: UInt64, round: Int, step: Int, _ id: Hash?
    ) throws(ConsensusSimulation.Violation) {
        guard nodes[i].behaviour == .honest else { return }
        let key = SignKey(validator: i, height: height, round: round, step: step)
        if let previous = honestSigned[key] {
            if previous != id {
                throw violation(
                    "no honest double-sign", "node \(i) signed two values at \(height)/\(round)/step \(step)")
            }
        } else {
            honestSigned[key] = id
        }
    }

    /// The byzantine validators collude: per (height, round) they know every proposal any of them
    /// made or saw, and show one side of the network the first value and the other side the second.
    func side(_ j: Int, height: UInt64, round: Int) -> Int { (j + Int(height % 2) + round) % 2 }

    mutating func noteByzantineValue(_ id: Hash, height: UInt64, round: Int) {
        let key = SignKey(validator: -1, height: height, round: round, step: 0)
        if !byzantineValues[key, default: []].contains(id) { byzantineValues[key, default: []].append(id) }
    }

    /// Honest: to everyone. Equivocating: one value to each side (a second proposal, else nil or a
    /// bogus id), only up to the target height so the evidence can settle. Silent: nothing.
    mutating func sendVote(_ vote: Consensus.SignedVote, from i: Int) {
        switch nodes[i].behaviour {
        case .honest: broadcast(.vote(vote), from: i)
        case .silent: return
        case .equivocate:
            let v = vote.vote
            guard v.height <= config.heights else { return broadcast(.vote(vote), from: i) }
            let known = byzantineValues[SignKey(validator: -1, height: v.height, round: v.round, step: 0)] ?? []
            var first = v
            var second = v
            if known.count >= 2 {
                first.blockID = known[0]
                second.blockID = known[1]
            } else {
                second.blockID = v.blockID == nil ? Hash.sha256("bogus \(v.height)/\(v.round)") : nil
            }
            let votes = [first, second].map { Consensus.SignedVote.sign($0, chainID: chainID, signer: nodes[i].signer) }
            for j in nodes.indices { send(.vote(votes[side(j, height: v.height, round: v.round)]), from: i, to: j) }
        }
    }

    mutating func sendProposal(_ message: Consensus.ProposalMessage, from i: Int) {
        switch nodes[i].behaviour {
        case .honest: broadcast(.proposal(message), from: i)
        case .silent: return
        case .equivocate:
            let p = message.signed.proposal
            guard p.height <= config.heights else { return broadcast(.proposal(message), from: i) }
            let block = makeBlock(i, height: p.height, round: p.round, variant: rng.chance(30) ? 2 : 1)
            var other = p
            other.blockID = Consensus.blockID(of: block)
            other.polRound = -1
            let twin = Consensus.ProposalMessage(
                signed: Consensus.SignedProposal.sign(other, chainID: chainID, signer: nodes[i].signer), block: block)
            noteByzantineValue(p.blockID, height: p.height, round: p.round)
            noteByzantineValue(other.blockID, height: p.height, round: p.round)
            let messages = [message, twin]
            for j in nodes.indices {
                send(.proposal(messages[side(j, height: p.height, round: p.round)]), from: i, to: j)
            }
        }
    }

    mutating func commitBlock(
        _ i: Int, height: UInt64, round: Int, id: Hash, block: [UInt8], commit: Consensus.Commit, synced: Bool
    ) throws(ConsensusSimulation.Violation) {
        guard height == nodes[i].height else { return }
        let honestNode = nodes[i].behaviour == .honest
        if honestNode {
            if let agreed = decided[height], agreed != id {
                throw violation(
                    "agreement",
                    "node \(i) committed \(id.hex.prefix(8)) at height \(height), others \(agreed.hex.prefix(8))")
            }
            decided[height] = id
            guard isValid(block, at: i) else {
                throw violation("validity", "node \(i) committed an invalid block at \(height)")
            }
            if !synced, let started = heightStart[height], started >= config.gst + config.settle {
                let bound = config.roundBound > 0 ? config.roundBound : nodes.count + 2
                if round > bound {
                    throw violation(
                        "liveness", "height \(height) started after GST took \(round) rounds (bound \(bound))")
                }
            }
        }
        let decoded = try? Wire.Block(serializedBytes: block)
        var keys: [Consensus.DuplicateVoteEvidence.Key] = []
        for e in decoded?.evidence ?? [] {
            if let ev = try? Consensus.DuplicateVoteEvidence(wire: e) { keys.append(ev.key) }
        }
        if honestNode { for k in keys { evidenceCommitted.insert(k) } }
        let time = decoded?.header.timeMs ?? 0
        nodes[i].chain.append(CommittedBlock(id: id, block: block, commit: commit, time: time, evidence: keys))
        for byte in id.bytes.prefix(8) + [UInt8(i)] { digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3 }
        schedule(synced ? 0 : config.timeouts.commit, .advance(node: i, epoch: nodes[i].epoch, height: height))
    }

    mutating func advance(_ i: Int) throws(ConsensusSimulation.Violation) {
        guard var machine = nodes[i].machine, let last = nodes[i].chain.last else { return }
        // The commit carried into the next block: everything gathered until now.
        if let gathered = machine.decidedCommit, gathered.blockID == last.id,
            gathered.precommits.count > last.commit.precommits.count
        {
            nodes[i].chain[nodes[i].chain.count - 1].commit = gathered
        }
        try? nodes[i].wal.append(.endHeight(machine.height))
        nodes[i].ownMessages = []
        nodes[i].relayMessages = []
        nodes[i].relayed = []
        let actions = machine.advance(height: nodes[i].height, validators: validators, lastBlockTime: lastTime(i))
        nodes[i].machine = machine
        noteHeightStart(nodes[i].height)
        try perform(i, actions)
        let ready = nodes[i].future.filter { $0.height == machine.height }.map(\.message)
        nodes[i].future.removeAll { $0.height <= machine.height }
        for message in ready where nodes[i].machine?.height == machine.height {
            try receive(message, from: i, at: i)
        }
    }

    // MARK: the application

    /// `variant` 0: what an honest proposer builds; 1: a different valid block; 2: an invalid one.
    mutating func makeBlock(_ i: Int, height: UInt64, round: Int, variant: Int) -> [UInt8] {
        var block = Wire.Block()
        var header = Wire.Header()
        header.chainID = chainID
        header.height = variant == 2 ? height + 7 : height
        header.proposer = Data(nodes[i].signer.address.bytes)
        header.validatorsHash = Data(validators.hash.bytes)
        if let last = nodes[i].chain.last {
            header.lastBlockID = Wire.BlockID.with { $0.hash = Data(last.id.bytes) }
            header.lastCommitHash = Data(last.commit.hash.bytes)
            header.timeMs = Consensus.blockTime(commit: last.commit, validators: validators, previous: last.time)
            block.lastCommit = last.commit.wire
        } else {
            header.timeMs = genesisTime + 1
        }
        block.header = header
        block.txs = [Data("tx \(i)/\(height)/\(round)/\(variant)".utf8)]
        // The node's rules (LedgerApplication.check): one piece per validator per block, none
        // against a validator already punished.
        var seen: Set<Address> = []
        block.evidence = nodes[i].evidencePool.filter {
            !punished($0.key.validator, in: i) && $0.key.height <= height && seen.insert($0.key.validator).inserted
        }.map(\.wire)
        return (try? block.serializedBytes()) ?? []
    }

    /// `processProposal`: the block extends this node's chain, carries a valid last commit and
    /// the block time it implies, and only valid evidence against validators not yet punished, one
    /// piece per validator (the node's `LedgerApplication.check`).
    func isValid(_ bytes: [UInt8], at i: Int) -> Bool {
        guard let block = try? Wire.Block(serializedBytes: bytes) else { return false }
        let header = block.header
        guard header.chainID == chainID, header.height == nodes[i].height else { return false }
        if let last = nodes[i].chain.last {
            guard header.lastBlockID.hash == Data(last.id.bytes),
                let commit = try? Consensus.Commit(wire: block.lastCommit),
                (try? Consensus.verifyCommit(
                    blockID: last.id, commit: commit, validators: validators, chainID: chainID,
                    height: header.height - 1,
                    verifier: machineConfig.verifier)) != nil
            else { return false }
            guard header.timeMs == Consensus.blockTime(commit: commit, validators: validators, previous: last.time),
                header.timeMs > last.time
            else { return false }
        } else {
            guard header.timeMs == genesisTime + 1 else { return false }
        }
        var punishedHere: Set<Address> = []
        for wire in block.evidence {
            guard let e = try? Consensus.DuplicateVoteEvidence(wire: wire),
                (try? e.verify(validators: validators, chainID: chainID, verifier: machineConfig.verifier)) != nil,
                e.key.height <= header.height, punishedHere.insert(e.key.validator).inserted,
                !punished(e.key.validator, in: i)
            else { return false }
        }
        return true
    }
}
