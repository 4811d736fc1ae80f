import Consensus
import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

/// A deterministic, seeded simulation of a validator network running ``Consensus/Machine``:
/// random powers, message delay / drop / duplication / reordering, partitions that heal at GST,
/// crashes with restart from the WAL (torn tails included), and byzantine validators (< 1/3 of the
/// power) that equivocate or go silent. Invariants are checked as events happen; the first
/// violation stops the run and names its seed. Same seed, same run.
public struct ConsensusSimulation {
    /// What to simulate.
    public struct Configuration: Sendable {
        public var validatorCount: ClosedRange<Int> = 4...7
        /// Powers to use instead of random ones (also fixes the validator count).
        public var powers: [UInt64]?
        /// Byzantine validators by index instead of a random choice (may exceed the 1/3 bound:
        /// only for tests that expect a violation).
        public var byzantine: [Int]?
        public var heights: UInt64 = 3
        public var gst: Int64 = 4_000
        public var dropPercent = 15
        public var duplicatePercent = 10
        public var maxDelayBeforeGST: Int64 = 1_200
        public var maxDelayAfterGST: Int64 = 150
        public var partitions = true
        public var crashes = true
        public var byzantineFaults = true
        /// Honest nodes relay the byzantine validators' messages (gossip). Off lets the two halves
        /// of an equivocation stay apart, the strongest split an asynchronous network allows.
        public var relayByzantine = true
        /// How often each node re-sends its own messages, its evidence and its height (ms).
        public var gossipInterval: Int64 = 1_000
        /// After GST, a height that starts later than `gst + settle` must decide within this many
        /// rounds (0 = validator count + 2).
        public var roundBound = 0
        public var settle: Int64 = 8_000
        /// The whole run must finish by `gst + deadline` virtual milliseconds.
        public var deadline: Int64 = 120_000
        public var defects: Consensus.Machine.Defects = .none
        public var timeouts: Consensus.Timeouts = .devnet

        public init() {}

        /// The `make test` configuration: small networks, three heights.
        public static let fast = Configuration()

        /// A heavier mix for `make sim`.
        public static var thorough: Configuration {
            var c = Configuration()
            c.validatorCount = 4...10
            c.heights = 5
            c.gst = 8_000
            c.dropPercent = 25
            return c
        }
    }

    /// A broken invariant, with the seed that replays it.
    public struct Violation: Error, CustomStringConvertible, Sendable, Hashable {
        public var seed: UInt64
        public var invariant: String
        public var detail: String
        public var time: Int64
        public var description: String {
            "simulation seed \(seed): \(invariant) violated at t=\(time)ms: \(detail) (replay: SEED=\(seed) make sim)"
        }
    }

    /// What a run did.
    public struct Report: Sendable, Hashable {
        public var seed: UInt64
        public var validators: Int
        public var byzantine: Int
        public var heights: UInt64
        public var maxRound: Int
        public var events: Int
        public var messages: Int
        public var crashes: Int
        public var evidenceCommitted: Int
        public var refusedSignatures: Int
        public var endTime: Int64
        /// A digest of every commit (node, height, block, time): equal digests, equal runs.
        public var digest: UInt64
    }

    public let seed: UInt64
    public let configuration: Configuration

    public init(seed: UInt64, configuration: Configuration = .fast) {
        self.seed = seed
        self.configuration = configuration
    }

    /// Runs to completion or to the first violation.
    public func run() -> Result<Report, Violation> {
        var world = World(seed: seed, configuration: configuration)
        do {
            try world.run()
            return .success(world.report)
        } catch {
            return .failure(error)
        }
    }

    /// Runs `seeds` and returns the first violation (by seed order), or how many passed.
    public static func run(
        seeds: some Sequence<UInt64>, configuration: Configuration = .fast
    ) -> Result<[Report], Violation> {
        var reports: [Report] = []
        for seed in seeds {
            switch ConsensusSimulation(seed: seed, configuration: configuration).run() {
            case .success(let report): reports.append(report)
            case .failure(let violation): return .failure(violation)
            }
        }
        return .success(reports)
    }
}

// MARK: - the world

/// A cache of signature checks shared by the nodes of one run (every node checks the same
/// gossiped bytes). Only ever touched from the single simulation thread.
private final class VerifyCache: @unchecked Sendable {
    var valid: Set<[UInt8]> = []
}

private enum Message {
    case proposal(Consensus.ProposalMessage)
    case vote(Consensus.SignedVote)
    case evidence(Consensus.DuplicateVoteEvidence)
    case status(height: UInt64)
    case block(height: UInt64, block: [UInt8], commit: Consensus.Commit)
}

private enum EventKind {
    case deliver(from: Int, to: Int, Message)
    case timeout(node: Int, epoch: Int, Consensus.Timeout)
    case advance(node: Int, epoch: Int, height: UInt64)
    case gossip(node: Int)
    case crash(node: Int)
    case restart(node: Int)
}

private struct Event {
    var time: Int64
    var seq: Int
    var kind: EventKind
}

/// A binary min-heap on (time, seq).
private struct EventQueue {
    private var heap: [Event] = []
    var isEmpty: Bool { heap.isEmpty }

    private static func less(_ a: Event, _ b: Event) -> Bool { (a.time, a.seq) < (b.time, b.seq) }

    mutating func push(_ e: Event) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Event? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < heap.count, Self.less(heap[l], heap[m]) { m = l }
            if r < heap.count, Self.less(heap[r], heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }
}

private enum Behaviour { case honest, equivocate, silent }

private struct CommittedBlock {
    var id: Hash
    var block: [UInt8]
    var commit: Consensus.Commit
    var time: Int64
    var evidence: [Consensus.DuplicateVoteEvidence.Key]
}

private struct Node {
    var index: Int
    var key: SigningKey
    var signer: Consensus.Signer
    var behaviour: Behaviour
    var machine: Consensus.Machine?
    var wal = Consensus.WAL(storage: Consensus.InMemoryWALStorage())
    var signStore = Consensus.InMemorySignStateStore()
    var chain: [CommittedBlock] = []
    var evidencePool: [Consensus.DuplicateVoteEvidence] = []
    var ownMessages: [Message] = []
    var relayMessages: [Message] = []
    var relayed: Set<[UInt8]> = []
    var future: [(height: UInt64, message: Message)] = []
    var epoch = 0
    var crashed: Bool { machine == nil }
    var height: UInt64 { UInt64(chain.count) + 1 }
}

private struct SignKey: Hashable {
    var validator: Int
    var height: UInt64
    var round: Int
    var step: Int
}

private struct World {
    let seed: UInt64
    let config: Configuration
    typealias Configuration = ConsensusSimulation.Configuration
    var rng: SplitMix64
    var now: Int64 = 0
    var seq = 0
    var queue = EventQueue()
    var nodes: [Node] = []
    var validators: Consensus.ValidatorSet
    let chainID = "sim"
    let genesisTime: Int64 = 1_700_000_000_000
    var machineConfig: Consensus.Machine.Configuration
    var partition: [Int]?  // group of each node before GST
    var decided: [UInt64: Hash] = [:]
    var heightStart: [UInt64: Int64] = [:]
    var honestSigned: [SignKey: Hash?] = [:]
    var evidenceSeen: [Consensus.DuplicateVoteEvidence.Key: Int64] = [:]
    var evidenceCommitted: Set<Consensus.DuplicateVoteEvidence.Key> = []
    var events = 0
    var messages = 0
    var crashCount = 0
    var refused = 0
    var maxRound = 0
    var digest: UInt64 = 0xcbf2_9ce4_8422_2325
    var pendingInputs: [(Int, Consensus.Machine.Input)] = []
    var byzantineValues: [SignKey: [Hash]] = [:]
    var byzantineAddresses: Set<Address> = []

    init(seed: UInt64, configuration: Configuration) {
        self.seed = seed
        self.config = configuration
        var rng = SplitMix64(seed: seed)
        let count =
            configuration.powers?.count
            ?? configuration.validatorCount.lowerBound
            + rng.below(configuration.validatorCount.count)
        let powers = configuration.powers ?? (0..<count).map { _ in UInt64(1 + rng.below(rng.chance(30) ? 100 : 10)) }
        var keys: [SigningKey] = []
        for _ in 0..<count {
            var seedBytes: [UInt8] = []
            for _ in 0..<4 { withUnsafeBytes(of: rng.next()) { seedBytes += $0 } }
            // 32 bytes always make a key; a failure here is a bug in this file.
            keys.append((try? SigningKey(seed: seedBytes)) ?? SigningKey())
        }
        let members = zip(keys, powers).map { (publicKey: $0.publicKey, power: $1) }
        // Powers are positive and keys distinct, so the set is valid.
        validators = (try? Consensus.ValidatorSet(members))!
        let cache = VerifyCache()
        machineConfig = Consensus.Machine.Configuration(
            chainID: chainID, timeouts: configuration.timeouts,
            verifier: Consensus.Verifier { key, signature, message in
                var entry = key.bytes + signature
                entry += message
                if cache.valid.contains(entry) { return true }
                guard key.isValidSignature(signature, for: message) else { return false }
                cache.valid.insert(entry)
                return true
            },
            defects: configuration.defects)
        // Byzantine validators: fixed, or random with less than 1/3 of the power.
        var behaviours = [Behaviour](repeating: .honest, count: count)
        if let byz = configuration.byzantine {
            for i in byz { behaviours[i] = rng.chance(80) ? .equivocate : .silent }
        } else if configuration.byzantineFaults {
            var order = Array(0..<count)
            rng.shuffle(&order)
            var power: UInt64 = 0
            let total = powers.reduce(0, +)
            let wanted = rng.below((count - 1) / 3 + 1)
            for i in order.prefix(wanted) where (power + powers[i]) * 3 < total {
                power += powers[i]
                behaviours[i] = rng.chance(75) ? .equivocate : .silent
            }
        }
        for i in 0..<count {
            nodes.append(Node(index: i, key: keys[i], signer: Consensus.Signer(key: keys[i]), behaviour: behaviours[i]))
        }
        byzantineAddresses = Set(nodes.filter { $0.behaviour != .honest }.map(\.signer.address))
        if configuration.partitions, rng.chance(50) {
            partition = (0..<count).map { _ in rng.below(2) }
        }
        self.rng = rng
    }

    var report: ConsensusSimulation.Report {
        ConsensusSimulation.Report(
            seed: seed, validators: nodes.count, byzantine: nodes.filter { $0.behaviour != .honest }.count,
            heights: nodes.filter { $0.behaviour == .honest }.map { UInt64($0.chain.count) }.min() ?? 0,
            maxRound: maxRound, events: events, messages: messages, crashes: crashCount,
            evidenceCommitted: evidenceCommitted.count, refusedSignatures: refused, endTime: now, digest: digest)
    }

    func violation(_ invariant: String, _ detail: String) -> ConsensusSimulation.Violation {
        ConsensusSimulation.Violation(seed: seed, invariant: invariant, detail: detail, time: now)
    }

    mutating func schedule(_ delay: Int64, _ kind: EventKind) {
        seq += 1
        queue.push(Event(time: now + max(delay, 0), seq: seq, kind: kind))
    }

    var honest: [Int] { nodes.indices.filter { nodes[$0].behaviour == .honest } }

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
        for key in evidenceSeen.keys where !evidenceCommitted.contains(key) { return false }
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
        for evidence in nodes[i].evidencePool where !committed(evidence.key, in: i) {
            broadcast(.evidence(evidence), from: i)
        }
        broadcast(.status(height: nodes[i].height), from: i)
    }

    func committed(_ key: Consensus.DuplicateVoteEvidence.Key, in i: Int) -> Bool {
        nodes[i].chain.contains { $0.evidence.contains(key) }
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
        var seen: Set<Consensus.DuplicateVoteEvidence.Key> = []
        block.evidence = nodes[i].evidencePool.filter {
            !committed($0.key, in: i) && $0.key.height <= height && seen.insert($0.key).inserted
        }.map(\.wire)
        return (try? block.serializedBytes()) ?? []
    }

    /// `processProposal`: the block extends this node's chain, carries a valid last commit and
    /// the block time it implies, and only valid, not yet committed evidence.
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
        var keys: Set<Consensus.DuplicateVoteEvidence.Key> = []
        for wire in block.evidence {
            guard let e = try? Consensus.DuplicateVoteEvidence(wire: wire),
                (try? e.verify(validators: validators, chainID: chainID, verifier: machineConfig.verifier)) != nil,
                e.key.height <= header.height, keys.insert(e.key).inserted, !committed(e.key, in: i)
            else { return false }
        }
        return true
    }
}
