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

    /// §6.2 step 3: a failover never draws an executor an earlier attempt drew while another
    /// eligible one remains; attempt k is the k-th of the same sequence whichever way it is asked.
    @Test func attemptsDrawWithoutReplacement() throws {
        let ta = keys[0]
        let three = keys[1...3].enumerated().map { ExecutorDraw.Candidate(address: $1, weight: UInt64($0 + 1)) }
        let two = Array(three.prefix(2))
        for i in 0..<300 {
            let id = Hash.sha256("failover \(i)").hex
            let drawn = try ExecutorDraw.executors(
                inferenceID: id, epochSeed: .zero, through: 2, transferAgent: ta,
                candidates: three + [.init(address: ta, weight: 9)])
            #expect(Set(drawn).count == 3, "attempts of \(id) repeat an executor: \(drawn)")
            for attempt: UInt32 in 0..<3 {
                let one = try ExecutorDraw.executor(
                    inferenceID: id, epochSeed: .zero, attempt: attempt, transferAgent: ta,
                    candidates: three.reversed() + [.init(address: ta, weight: 9)])
                #expect(one == drawn[Int(attempt)])
            }
            // Two eligible: the first two differ, the third is drawn from both again.
            let pair = try ExecutorDraw.executors(
                inferenceID: id, epochSeed: .zero, through: 2, transferAgent: ta, candidates: two)
            #expect(pair.count == 3 && pair[0] != pair[1] && Set(pair).isSubset(of: two.map(\.address)))
        }
        // Attempt 0 is the plain weighted draw of §6.2 (the draw of every later attempt depends on it).
        let first = try ExecutorDraw.executor(
            inferenceID: "x", epochSeed: .zero, attempt: 0, transferAgent: ta, candidates: three)
        let plain = try WeightedDraw.draw(
            from: ExecutorDraw.eligible(three, transferAgent: ta).map { (item: $0.address, weight: $0.weight) },
            seed: ExecutorDraw.seed(inferenceID: "x", epochSeed: .zero, attempt: 0))
        #expect(first == plain)
    }

    @Test func seedLayout() {
        let seed = ExecutorDraw.seed(inferenceID: "abc", epochSeed: .zero, attempt: 2)
        #expect(seed == Hash.sha256("abc/\(Hash.zero.hex)/2"))
    }
}
