import Consensus
import Foundation
import GonkaCore
import Storage
import Testing

@Suite struct WALTests {
    typealias MemoryWAL = Consensus.WAL<Consensus.InMemoryWALStorage>
    let net = Net()

    var entries: [MemoryWAL.Entry] {
        let block = net.block("a")
        return [
            .input(.proposal(net.proposal(block: block)), now: 1),
            .input(.validated(blockID: Consensus.blockID(of: block), valid: true), now: 2),
            .input(.vote(net.vote(.prevote, by: 1, Consensus.blockID(of: block))), now: 3),
            .input(.timeout(.init(height: 1, round: 0, step: .prevote, duration: 500)), now: 4),
            .input(.proposalBlock(height: 1, round: 2, block: block), now: 5),
            .endHeight(1),
            .input(.vote(net.vote(.precommit, by: 2, nil, height: 2)), now: 6),
        ]
    }

    @Test func replaysEverythingWritten() throws {
        var wal = MemoryWAL(storage: .init())
        for e in entries { try wal.append(e) }
        #expect(wal.storage.syncs == entries.count)
        var reopened = MemoryWAL(storage: wal.storage)
        let replay = try reopened.open()
        #expect(replay.entries == entries)
        #expect(replay.truncatedBytes == 0)
        #expect(MemoryWAL.inputs(of: replay.entries, height: 1).count == 5)
        #expect(MemoryWAL.inputs(of: replay.entries, height: 2).count == 1)
    }

    @Test(arguments: [1, 5, 8, 20, 60]) func truncatesATornTail(keep: Int) throws {
        var wal = MemoryWAL(storage: .init())
        try wal.append(contentsOf: entries)
        let clean = wal.storage.bytes.count
        let torn = MemoryWAL.frame(.input(.vote(net.vote(.prevote, by: 3, nil)), now: 9))
        var storage = wal.storage
        storage.appendTorn(torn, keeping: keep)
        var reopened = MemoryWAL(storage: storage)
        let replay = try reopened.open()
        #expect(replay.entries == entries)
        #expect(replay.truncatedBytes == storage.bytes.count - clean)
        #expect(reopened.storage.bytes.count == clean)
        // Appending after the cut gives a clean log again.
        try reopened.append(.endHeight(2))
        var again = MemoryWAL(storage: reopened.storage)
        #expect(try again.open().entries == entries + [.endHeight(2)])
    }

    @Test func aCorruptLastRecordIsCutToo() throws {
        var wal = MemoryWAL(storage: .init())
        try wal.append(contentsOf: entries)
        var bytes = wal.storage.bytes
        bytes[bytes.count - 1] ^= 0xFF
        var reopened = MemoryWAL(storage: .init(bytes: bytes))
        let replay = try reopened.open()
        #expect(replay.entries == Array(entries.dropLast()))
        #expect(replay.truncatedBytes > 0)
    }

    @Test func crcMatchesZlib() {
        #expect(Consensus.CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func fileWALReplaysAndCutsATornTail() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cs.wal").path
        do {
            var wal = Consensus.WAL(storage: try ConsensusWALFile(path: path))
            try wal.append(contentsOf: entries)
            let torn = Consensus.WAL<ConsensusWALFile>.frame(.endHeight(7))
            try wal.storage.append(Array(torn.prefix(5)))
        }
        var wal = Consensus.WAL(storage: try ConsensusWALFile(path: path))
        let replay = try wal.open()
        #expect(replay.entries == entries)
        #expect(replay.truncatedBytes == 5)
        try wal.append(.endHeight(2))
        var again = Consensus.WAL(storage: try ConsensusWALFile(path: path))
        #expect(try again.open().entries == entries + [.endHeight(2)])
    }

    /// A machine rebuilt from the WAL reaches the same state and acts the same afterwards.
    @Test func replayRebuildsTheMachine() throws {
        let me = net.follower
        var wal = MemoryWAL(storage: .init())
        var live = net.machine(for: me)
        _ = live.start()
        let block = net.block("a")
        let id = Consensus.blockID(of: block)
        var inputs: [Consensus.Machine.Input] = [
            .proposal(net.proposal(block: block)), .validated(blockID: id, valid: true),
        ]
        inputs += (0..<4).filter { $0 != me }.prefix(2).map { .vote(net.vote(.prevote, by: $0, id)) }
        var store = Consensus.InMemorySignStateStore()
        for input in inputs {
            try wal.append(.input(input, now: 50))
            for action in live.handle(input, now: 50) {
                switch action {
                case .persistSignState(let s): try store.save(s)
                case .broadcastVote(let v): try wal.append(.input(.vote(v), now: 50))
                default: break
                }
            }
        }
        #expect(live.lockedRound == 0)
        var replayWAL = MemoryWAL(storage: wal.storage)
        let replay = try replayWAL.open()
        var restarted = net.machine(for: me, signState: try store.load() ?? .empty)
        _ = restarted.start()
        var refused = 0
        for (input, now) in MemoryWAL.inputs(of: replay.entries, height: 1) {
            for action in restarted.handle(input, now: now) {
                if case .refusedToSign = action { refused += 1 }
                if case .persistSignState = action { Issue.record("replay signed something new") }
            }
        }
        // The prevote (earlier than the stored precommit) is not signed again; its WAL copy counts.
        #expect(refused == 1)
        #expect(restarted.round == live.round && restarted.step == live.step)
        #expect(restarted.lockedValue == live.lockedValue && restarted.lockedRound == live.lockedRound)
        #expect(restarted.validValue == live.validValue)
        let more = net.vote(.precommit, by: (0..<4).first { $0 != me }!, id)
        #expect(restarted.handle(.vote(more), now: 60) == live.handle(.vote(more), now: 60))
    }
}

@Suite struct SignStateTests {
    let net = Net()

    @Test func ordersPositionsAndReusesOnlyTheSameValue() {
        let id = Hash.sha256("a")
        let s = Consensus.SignState(height: 5, round: 2, step: .prevote, blockID: id, bytes: [1], signature: [2])
        #expect(s.decide(height: 5, round: 2, step: .precommit, blockID: nil) == .sign)
        #expect(s.decide(height: 5, round: 3, step: .propose, blockID: nil) == .sign)
        #expect(s.decide(height: 6, round: 0, step: .propose, blockID: nil) == .sign)
        #expect(s.decide(height: 5, round: 2, step: .prevote, blockID: id) == .reuse(bytes: [1], signature: [2]))
        #expect(s.decide(height: 5, round: 2, step: .prevote, blockID: nil) == .refuse)
        #expect(s.decide(height: 5, round: 1, step: .precommit, blockID: id) == .refuse)
        #expect(s.decide(height: 4, round: 9, step: .precommit, blockID: id) == .refuse)
        #expect((try? Consensus.SignState(encoded: s.encoded)) == s)
    }

    /// The validator prevoted A, then lost its WAL but not its sign state. Restarted, it is shown
    /// proposal B for the same round: it refuses to prevote B, and re-sends A's exact bytes when
    /// asked to prevote A again.
    @Test func aRestartedValidatorNeverSignsAConflictingVote() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ss-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var store = SignStateFile(url: dir.appendingPathComponent("sign_state"))
        let me = net.follower
        var m = net.machine(for: me)
        _ = m.start()
        let a = net.block("a")
        var sent: [Consensus.SignedVote] = []
        for input: Consensus.Machine.Input in [
            .proposal(net.proposal(block: a)), .validated(blockID: Consensus.blockID(of: a), valid: true),
        ] {
            for action in m.handle(input, now: 10) {
                if case .persistSignState(let s) = action { try store.save(s) }
                if case .broadcastVote(let v) = action { sent.append(v) }
            }
        }
        #expect(sent.count == 1)

        // Restart: sign state from disk, no WAL.
        let loaded = try #require(try store.load())
        var restarted = net.machine(for: me, signState: loaded)
        _ = restarted.start()
        let b = net.block("b")
        var actions = restarted.handle(.proposal(net.proposal(block: b)), now: 20)
        actions += restarted.handle(.validated(blockID: Consensus.blockID(of: b), valid: true), now: 20)
        #expect(actions.votes.isEmpty)
        #expect(actions.contains(.refusedToSign(height: 1, round: 0, step: .prevote)))

        var again = net.machine(for: me, signState: loaded)
        _ = again.start()
        var resent = again.handle(.proposal(net.proposal(block: a)), now: 30)
        resent += again.handle(.validated(blockID: Consensus.blockID(of: a), valid: true), now: 30)
        #expect(resent.contains(.broadcastVote(sent[0])))
        #expect(!resent.contains { if case .persistSignState = $0 { true } else { false } })
    }
}
