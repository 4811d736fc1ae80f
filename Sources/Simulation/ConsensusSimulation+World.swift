import Consensus
import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

// MARK: - the world

/// A cache of signature checks shared by the nodes of one run (every node checks the same
/// gossiped bytes). Only ever touched from the single simulation thread.
final class VerifyCache: @unchecked Sendable {
    var valid: Set<[UInt8]> = []
}

enum Message {
    case proposal(Consensus.ProposalMessage)
    case vote(Consensus.SignedVote)
    case evidence(Consensus.DuplicateVoteEvidence)
    case status(height: UInt64)
    case block(height: UInt64, block: [UInt8], commit: Consensus.Commit)
}

enum EventKind {
    case deliver(from: Int, to: Int, Message)
    case timeout(node: Int, epoch: Int, Consensus.Timeout)
    case advance(node: Int, epoch: Int, height: UInt64)
    case gossip(node: Int)
    case crash(node: Int)
    case restart(node: Int)
}

struct Event {
    var time: Int64
    var seq: Int
    var kind: EventKind
}

/// A binary min-heap on (time, seq).
struct EventQueue {
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

enum Behaviour { case honest, equivocate, silent }

struct CommittedBlock {
    var id: Hash
    var block: [UInt8]
    var commit: Consensus.Commit
    var time: Int64
    var evidence: [Consensus.DuplicateVoteEvidence.Key]
}

struct Node {
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

struct SignKey: Hashable {
    var validator: Int
    var height: UInt64
    var round: Int
    var step: Int
}

struct World {
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
}
