import GonkaCore
import Ledger
import Testing

@Suite struct ExecutorDrawTests {
    let keys: [Address]

    init() throws {
        keys = try (1...4).map { try SigningKey(seed: [UInt8](repeating: UInt8($0), count: 32)).publicKey.address }
    }

    @Test func sameInputsSameExecutorWhateverTheCandidateOrder() throws {
        let candidates = keys.enumerated().map { ExecutorDraw.Candidate(address: $1, weight: UInt64($0 + 1) * 10) }
        let id = Hash.sha256("request").hex
        for attempt: UInt32 in 0..<3 {
            let a = try ExecutorDraw.executor(
                inferenceID: id, epochSeed: .zero, attempt: attempt, transferAgent: keys[0], candidates: candidates)
            let b = try ExecutorDraw.executor(
                inferenceID: id, epochSeed: .zero, attempt: attempt, transferAgent: keys[0],
                candidates: candidates.reversed())
            #expect(a == b)
            #expect(a != keys[0])
        }
    }

    @Test func transferAgentOnlyWhenAlone() throws {
        let ta = keys[0]
        let alone = [ExecutorDraw.Candidate(address: ta, weight: 5)]
        #expect(
            try ExecutorDraw.executor(
                inferenceID: "x", epochSeed: .zero, attempt: 0, transferAgent: ta, candidates: alone) == ta)
        let withZero = alone + [ExecutorDraw.Candidate(address: keys[1], weight: 0)]
        #expect(
            try ExecutorDraw.executor(
                inferenceID: "x", epochSeed: .zero, attempt: 0, transferAgent: ta, candidates: withZero) == ta)
        #expect(
            try ExecutorDraw.executor(inferenceID: "x", epochSeed: .zero, attempt: 0, transferAgent: ta, candidates: [])
                == nil)
    }

    @Test func drawFollowsWeights() throws {
        // Weights 1:3 between two non-TA candidates over 4,000 ids: the heavier wins about 3/4.
        let candidates = [
            ExecutorDraw.Candidate(address: keys[1], weight: 1), ExecutorDraw.Candidate(address: keys[2], weight: 3),
            ExecutorDraw.Candidate(address: keys[0], weight: 100),
        ]
        var heavy = 0
        for i in 0..<4_000 {
            let winner = try ExecutorDraw.executor(
                inferenceID: Hash.sha256("id\(i)").hex, epochSeed: Hash.sha256("epoch"), attempt: 0,
                transferAgent: keys[0], candidates: candidates)
            if winner == keys[2] { heavy += 1 }
        }
        #expect((2_850...3_150).contains(heavy), "heavier candidate won \(heavy) of 4000")
    }

    @Test func seedLayout() {
        let seed = ExecutorDraw.seed(inferenceID: "abc", epochSeed: .zero, attempt: 2)
        #expect(seed == Hash.sha256("abc/\(Hash.zero.hex)/2"))
    }
}
