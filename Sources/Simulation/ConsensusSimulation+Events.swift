import Consensus
import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

extension World {
    // MARK: run

    mutating func run() throws(ConsensusSimulation.Violation) {
        for i in nodes.indices {
            start(i)
            schedule(Int64(500 + rng.below(500)), .gossip(node: i))
        }
        if config.crashes {
            let candidates = honest
            for _ in 0..<rng.below(3) {
                let victim = candidates[rng.below(candidates.count)]
                let at = Int64(rng.below(Int(max(config.gst, 1))))
                seq += 1
                queue.push(Event(time: at, seq: seq, kind: .crash(node: victim)))
                seq += 1
                queue.push(
                    Event(
                        time: at + 1 + Int64(rng.below(Int(max(config.gst - at, 1)))), seq: seq,
                        kind: .restart(node: victim)))
            }
        }
        while let event = queue.pop() {
            now = event.time
            events += 1
            if now > config.gst + config.deadline {
                let heights = honest.map { nodes[$0].chain.count }
                let states = nodes.map { n in
                    guard let m = n.machine else { return "\(n.index):down" }
                    return
                        "\(n.index)\(n.behaviour == .honest ? "" : "*"):h\(m.height)r\(m.round)\(m.step) lock\(m.lockedRound) valid\(m.validRound)"
                }
                let heightsReached = honest.allSatisfy { UInt64(nodes[$0].chain.count) >= config.heights }
                throw violation(
                    heightsReached ? "evidence committed" : "liveness",
                    "honest heights \(heights) after the deadline (target \(config.heights)); \(states.joined(separator: ", ")); powers \(validators.validators.map(\.power))"
                )
            }
            try handle(event.kind)
            if finished { return }
        }
        throw violation("liveness", "no more events")
    }

    var finished: Bool {
        for i in honest where UInt64(nodes[i].chain.count) < config.heights { return false }
        // Settled once its validator is punished (the ledger tombstones at the first evidence).
        for key in evidenceSeen.keys where !evidenceCommitted.contains(where: { $0.validator == key.validator }) {
            return false
        }
        return true
    }

    mutating func handle(_ kind: EventKind) throws(ConsensusSimulation.Violation) {
        switch kind {
        case .deliver(let from, let to, let message):
            guard !nodes[to].crashed else { return }
            try receive(message, from: from, at: to)
        case .timeout(let i, let epoch, let timeout):
            guard !nodes[i].crashed, nodes[i].epoch == epoch else { return }
            try input(i, .timeout(timeout))
        case .advance(let i, let epoch, let height):
            guard !nodes[i].crashed, nodes[i].epoch == epoch, nodes[i].machine?.height == height else { return }
            try advance(i)
        case .gossip(let i):
            schedule(config.gossipInterval, .gossip(node: i))
            guard !nodes[i].crashed else { return }
            gossip(i)
        case .crash(let i):
            guard !nodes[i].crashed else { return }
            crashCount += 1
            nodes[i].machine = nil
            nodes[i].epoch += 1
            nodes[i].future = []
            if rng.chance(50) {
                // A record half-written when the power went: never acted upon.
                let torn = Consensus.WAL<Consensus.InMemoryWALStorage>.frame(
                    .input(.timeout(Consensus.Timeout(height: 9, round: 9, step: .propose, duration: 9)), now: now))
                var storage = nodes[i].wal.storage
                storage.appendTorn(torn, keeping: 10 + rng.below(80))
                nodes[i].wal = Consensus.WAL(storage: storage)
            }
        case .restart(let i):
            guard nodes[i].crashed else { return }
            try restart(i)
        }
    }

    // MARK: nodes

    /// Wall-clock time as the nodes see it.
    var clock: Int64 { genesisTime + now }

    func lastTime(_ i: Int) -> Int64 { nodes[i].chain.last?.time ?? genesisTime }

    mutating func start(_ i: Int) {
        var machine = Consensus.Machine(
            configuration: machineConfig, signer: nodes[i].signer, height: nodes[i].height, validators: validators,
            lastBlockTime: lastTime(i), signState: (try? nodes[i].signStore.load()) ?? .empty)
        let actions = machine.start()
        nodes[i].machine = machine
        noteHeightStart(nodes[i].height)
        try? perform(i, actions)
    }

    mutating func noteHeightStart(_ h: UInt64) {
        if heightStart[h] == nil { heightStart[h] = now }
    }

    mutating func restart(_ i: Int) throws(ConsensusSimulation.Violation) {
        let replay: Consensus.WAL<Consensus.InMemoryWALStorage>.Replay
        do { replay = try nodes[i].wal.open() } catch { throw violation("wal", "open failed: \(error)") }
        if case .some = replay.entries.last, replay.truncatedBytes < 0 { throw violation("wal", "negative truncation") }
        let height = nodes[i].height
        var machine = Consensus.Machine(
            configuration: machineConfig, signer: nodes[i].signer, height: height, validators: validators,
            lastBlockTime: lastTime(i), signState: (try? nodes[i].signStore.load()) ?? .empty)
        var actions = machine.start()
        for (input, time) in Consensus.WAL<Consensus.InMemoryWALStorage>.inputs(of: replay.entries, height: height) {
            actions += machine.handle(input, now: time)
        }
        nodes[i].machine = machine
        // Our own messages are already in the WAL; what replay re-derived is sent again.
        try perform(i, actions, replaying: true)
    }

    mutating func input(_ i: Int, _ input: Consensus.Machine.Input) throws(ConsensusSimulation.Violation) {
        pendingInputs.append((i, input))
        guard pendingInputs.count == 1 else { return }
        while let (node, next) = pendingInputs.first {
            if var machine = nodes[node].machine {
                try? nodes[node].wal.append(.input(next, now: clock))
                let actions = machine.handle(next, now: clock)
                nodes[node].machine = machine
                try perform(node, actions)
            }
            pendingInputs.removeFirst()
        }
    }

    mutating func send(_ message: Message, from: Int, to: Int) {
        guard from != to else { return }
        messages += 1
        if now < config.gst {
            if let partition, partition[from] != partition[to] { return }
            if rng.chance(config.dropPercent) { return }
            schedule(1 + Int64(rng.below(Int(config.maxDelayBeforeGST))), .deliver(from: from, to: to, message))
            if rng.chance(config.duplicatePercent) {
                schedule(1 + Int64(rng.below(Int(config.maxDelayBeforeGST))), .deliver(from: from, to: to, message))
            }
        } else {
            schedule(1 + Int64(rng.below(Int(config.maxDelayAfterGST))), .deliver(from: from, to: to, message))
        }
    }

    mutating func broadcast(_ message: Message, from: Int) {
        for j in nodes.indices { send(message, from: from, to: j) }
    }

    mutating func gossip(_ i: Int) {
        for message in nodes[i].ownMessages + nodes[i].relayMessages { broadcast(message, from: i) }
        for evidence in nodes[i].evidencePool where !punished(evidence.key.validator, in: i) {
            broadcast(.evidence(evidence), from: i)
        }
        broadcast(.status(height: nodes[i].height), from: i)
    }

    /// Whether node `i`'s chain already carries evidence against `validator`: as in the node's
    /// ledger (PROTOCOL §9), the first evidence tombstones it and later evidence is "already punished".
    func punished(_ validator: Address, in i: Int) -> Bool {
        nodes[i].chain.contains { block in block.evidence.contains { $0.validator == validator } }
    }

    mutating func receive(_ message: Message, from: Int, at i: Int) throws(ConsensusSimulation.Violation) {
        switch message {
        case .proposal(let p):
            if bufferIfAhead(message, height: p.signed.proposal.height, at: i) { return }
            if nodes[i].behaviour == .equivocate {
                noteByzantineValue(
                    p.signed.proposal.blockID, height: p.signed.proposal.height, round: p.signed.proposal.round)
            }
            relayIfByzantine(message, sender: p.signed.proposal.proposer, at: i)
            try input(i, .proposal(p))
        case .vote(let v):
            if bufferIfAhead(message, height: v.vote.height, at: i) { return }
            guard nodes[i].machine?.contains(v) != true else { return }
            relayIfByzantine(message, sender: v.vote.validator, at: i)
            try input(i, .vote(v))
        case .evidence(let e):
            guard (try? e.verify(validators: validators, chainID: chainID, verifier: machineConfig.verifier)) != nil
            else {
                return
            }
            addEvidence(e, at: i)
        case .status(let h):
            guard h <= nodes[i].chain.count else { return }
            let b = nodes[i].chain[Int(h) - 1]
            send(.block(height: h, block: b.block, commit: b.commit), from: i, to: from)
        case .block(let h, let block, let commit):
            guard h == nodes[i].height, nodes[i].machine?.decision == nil else { return }
            let id = Consensus.blockID(of: block)
            guard
                (try? Consensus.verifyCommit(
                    blockID: id, commit: commit, validators: validators, chainID: chainID, height: h,
                    verifier: machineConfig.verifier)) != nil
            else { return }
            try commitBlock(i, height: h, round: commit.round, id: id, block: block, commit: commit, synced: true)
        }
    }

    /// A shell keeps messages for the next heights (a peer that moved on first does not send
    /// them again) and hands them in when it gets there. Bounded.
    mutating func bufferIfAhead(_ message: Message, height: UInt64, at i: Int) -> Bool {
        guard let current = nodes[i].machine?.height, height > current else { return false }
        if height <= current + 2, nodes[i].future.count < 4_096 { nodes[i].future.append((height, message)) }
        return true
    }

    /// Gossip, abridged: honest nodes relay what they receive (the paper's assumption). Honest
    /// validators already resend their own messages until they are heard, so only messages signed
    /// by byzantine validators need relaying here; relaying everything would only cost time.
    mutating func relayIfByzantine(_ message: Message, sender: Address, at i: Int) {
        guard config.relayByzantine, nodes[i].behaviour == .honest, byzantineAddresses.contains(sender) else { return }
        let key: [UInt8]
        switch message {
        case .vote(let v): key = v.signature
        case .proposal(let p): key = p.signed.signature
        default: return
        }
        guard nodes[i].relayed.insert(key).inserted else { return }
        nodes[i].relayMessages.append(message)
        broadcast(message, from: i)
    }

    mutating func addEvidence(_ e: Consensus.DuplicateVoteEvidence, at i: Int) {
        guard !nodes[i].evidencePool.contains(where: { $0.key == e.key }) else { return }
        nodes[i].evidencePool.append(e)
        if nodes[i].behaviour == .honest, evidenceSeen[e.key] == nil { evidenceSeen[e.key] = now }
    }
}
