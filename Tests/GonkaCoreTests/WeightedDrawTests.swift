import GonkaCore
import Testing

/// A source that replays given values, to force the rejection path.
struct ScriptedSource: DeterministicRandomSource {
    var values: [UInt64]
    var used = 0

    init(_ values: [UInt64]) {
        self.values = values
    }

    mutating func nextUInt64() -> UInt64 {
        defer { used += 1 }
        return values[used]
    }
}

/// Pearson's χ² of observed counts against expected proportions.
func chiSquare(observed: [Int], weights: [UInt64]) -> Double {
    let n = Double(observed.reduce(0, +))
    let total = Double(weights.reduce(0, +))
    var chi2 = 0.0
    for (count, weight) in zip(observed, weights) where weight > 0 {
        let expected = n * Double(weight) / total
        chi2 += (Double(count) - expected) * (Double(count) - expected) / expected
    }
    return chi2
}

@Suite("WeightedDraw")
struct WeightedDrawTests {
    static let two64 = UInt128(1) << 64

    @Test(
        "rejectionStart = 2⁶⁴ − (2⁶⁴ mod total), nil when total divides 2⁶⁴",
        arguments: [
            1, 2, 3, 5, 6, 7, 10, 1 << 32, (1 << 32) + 1, 1 << 63, (1 << 63) + 1, UInt64.max, UInt64.max - 1,
            1_000_000_000_000_000_000,
        ] as [UInt64])
    func rejectionStartMatchesDefinition(_ total: UInt64) {
        let remainder = Self.two64 % UInt128(total)
        let start = WeightedDraw.rejectionStart(total: total)
        if remainder == 0 {
            #expect(start == nil)
        } else {
            #expect(start.map { UInt128($0) } == Self.two64 - remainder)
        }
        // The accepted values 0..<accepted are a whole number of rounds of every residue, and fewer
        // than `total` values are thrown away.
        let accepted = start.map { UInt128($0) } ?? Self.two64
        #expect(accepted % UInt128(total) == 0)
        #expect(Self.two64 - accepted < UInt128(total))
    }

    @Test("rejectionStart by hand")
    func rejectionStartByHand() {
        #expect(WeightedDraw.rejectionStart(total: 3) == UInt64.max)  // 2⁶⁴ ≡ 1 (mod 3)
        #expect(WeightedDraw.rejectionStart(total: 10) == 18_446_744_073_709_551_610)  // 2⁶⁴ ≡ 6 (mod 10)
        #expect(WeightedDraw.rejectionStart(total: (1 << 63) + 1) == (UInt64(1) << 63) + 1)  // rejects almost half
        #expect(WeightedDraw.rejectionStart(total: 1 << 40) == nil)
        #expect(WeightedDraw.rejectionStart(total: 1) == nil)
    }

    @Test("the biased tail is rejected and the next value used")
    func rejectionPath() throws {
        // total 3: UInt64.max is the one rejected value; 4 mod 3 = 1 → second item.
        var source = ScriptedSource([UInt64.max, 4])
        #expect(try WeightedDraw.index(weights: [1, 1, 1], using: &source) == 1)
        #expect(source.used == 2)

        // total 10: the first rejected value is exactly 2⁶⁴ − 6; one below it is accepted.
        source = ScriptedSource([18_446_744_073_709_551_610, 3])
        #expect(try WeightedDraw.index(weights: [5, 5], using: &source) == 0)
        #expect(source.used == 2)
        source = ScriptedSource([18_446_744_073_709_551_609])  // ≡ 9 (mod 10)
        #expect(try WeightedDraw.index(weights: [5, 5], using: &source) == 1)
        #expect(source.used == 1)

        // total 2⁶³ + 1: values ≥ 2⁶³ + 1 are rejected; 2⁶³ lands on the last unit of weight.
        source = ScriptedSource([UInt64.max, (1 << 63) + 1, 1 << 63])
        #expect(try WeightedDraw.index(weights: [1 << 63, 1], using: &source) == 1)
        #expect(source.used == 3)

        // A power-of-two total rejects nothing, not even UInt64.max.
        source = ScriptedSource([UInt64.max])
        #expect(try WeightedDraw.index(weights: [1, 1], using: &source) == 1)
        #expect(source.used == 1)
    }

    @Test("the walk: first item whose cumulative weight exceeds the value")
    func cumulativeWalk() throws {
        // weights [2, 0, 3]: values 0, 1 → item 0; 2, 3, 4 → item 2; the zero-weight item never wins.
        for (value, expected) in [(0, 0), (1, 0), (2, 2), (3, 2), (4, 2)] as [(UInt64, Int)] {
            var source = ScriptedSource([value])
            #expect(try WeightedDraw.index(weights: [2, 0, 3], using: &source) == expected, "value \(value)")
        }
    }

    @Test("empty or all-zero weights give nil and draw nothing")
    func nothingToDraw() throws {
        var source = ScriptedSource([])
        #expect(try WeightedDraw.index(weights: [], using: &source) == nil)
        #expect(try WeightedDraw.index(weights: [0, 0, 0], using: &source) == nil)
        let none: String? = try WeightedDraw.draw(from: [("a", 0), ("b", 0)], using: &source)
        #expect(none == nil)
        #expect(source.used == 0)
    }

    @Test("a total over UInt64.max is an error, UInt64.max itself is fine")
    func overflow() throws {
        var stream = PhiloxStream(seedString: "gonka/overflow")
        #expect(throws: WeightedDrawError.totalOverflow) {
            try WeightedDraw.index(weights: [UInt64.max, 1], using: &stream)
        }
        #expect(throws: WeightedDrawError.totalOverflow) { try WeightedDraw.total(of: [1 << 63, 1 << 63]) }
        #expect(try WeightedDraw.total(of: [UInt64.max - 1, 1]) == UInt64.max)
        #expect(try WeightedDraw.index(weights: [UInt64.max - 1, 1], using: &stream) != nil)
        #expect(WeightedDrawError.totalOverflow.shortDescription == "total_overflow")
    }

    @Test("100k draws follow the weights (χ², 4 degrees of freedom)")
    func distribution() throws {
        let weights: [UInt64] = [1, 2, 3, 4, 0, 10]
        var stream = PhiloxStream(seedString: "gonka/distribution")
        var counts = [Int](repeating: 0, count: weights.count)
        for _ in 0..<100_000 {
            counts[try #require(try WeightedDraw.index(weights: weights, using: &stream))] += 1
        }
        #expect(counts[4] == 0)
        // P(χ²₄ > 33) ≈ 1e-6: a fair draw essentially never fails; a biased one fails by thousands.
        #expect(chiSquare(observed: counts, weights: weights) < 33, "counts \(counts)")
    }

    @Test("zero-weight items are never chosen")
    func zeroWeightsNeverWin() throws {
        let items: [(item: String, weight: UInt64)] = [("a", 0), ("b", 3), ("c", 0), ("d", 0), ("e", 5), ("f", 0)]
        var stream = PhiloxStream(seedString: "gonka/zero")
        var seen = Set<String>()
        for _ in 0..<10_000 {
            seen.insert(try #require(try WeightedDraw.draw(from: items, using: &stream)))
        }
        #expect(seen == ["b", "e"])
    }

    @Test("draws from a seed are deterministic and depend on the seed")
    func determinism() throws {
        let items: [(item: String, weight: UInt64)] = [("alice", 10), ("bob", 20), ("carol", 30), ("dave", 40)]
        var winners = Set<String>()
        for attempt in 0..<100 {
            let seed = Hash.sha256("inference-1/epoch-seed/\(attempt)")
            let first = try WeightedDraw.draw(from: items, seed: seed)
            let second = try WeightedDraw.draw(from: items, seed: seed)
            #expect(first == second)
            winners.insert(try #require(first))
        }
        #expect(winners.count == 4)
    }

    @Test("a single positive weight always wins")
    func singleWinner() throws {
        var stream = PhiloxStream(seedString: "gonka/single")
        for _ in 0..<100 {
            #expect(try WeightedDraw.index(weights: [0, 7, 0], using: &stream) == 1)
        }
    }
}

@Suite("DeterministicRandomSource draws")
struct DeterministicRandomSourceTests {
    @Test("uniformInt(below:) stays below the bound and rejects the tail")
    func uniformInt() {
        var stream = PhiloxStream(seedString: "gonka/uniform-int")
        for bound: UInt64 in [1, 2, 3, 7, 1000, UInt64.max] {
            let ok = (0..<1000).allSatisfy { _ in stream.uniformInt(below: bound) < bound }
            #expect(ok, "bound \(bound)")
        }
        var source = ScriptedSource([UInt64.max, UInt64.max - 1])
        #expect(source.uniformInt(below: 3) == (UInt64.max - 1) % 3)
        #expect(source.used == 2)
    }

    @Test("Fisher–Yates by hand: i = n−1 … 1, j = uniformInt(below: i + 1), swap")
    func fisherYatesByHand() {
        // n = 3: i = 2 draws j = 1 mod 3 = 1 → [0, 2, 1]; i = 1 draws j = 0 mod 2 = 0 → [2, 0, 1].
        var source = ScriptedSource([1, 0])
        #expect(source.permutation(count: 3) == [2, 0, 1])
        #expect(source.used == 2)
    }

    @Test("permutation(count:) is a permutation", arguments: [0, 1, 2, 10, 1000, 8196])
    func isPermutation(_ count: Int) {
        var stream = PhiloxStream(seedString: "gonka/perm/\(count)")
        let permutation = stream.permutation(count: count)
        #expect(permutation.sorted() == Array(0..<count))
    }

    @Test("permutations are deterministic per seed, and shuffle applies the same one")
    func permutationDeterminism() {
        var a = PhiloxStream(seed: Hash.sha256("H/pk/perm/7"))
        var b = PhiloxStream(seed: Hash.sha256("H/pk/perm/7"))
        var c = PhiloxStream(seed: Hash.sha256("H/pk/perm/8"))
        let pa = a.permutation(count: 100)
        #expect(pa == b.permutation(count: 100))
        #expect(pa != c.permutation(count: 100))

        var shuffler = PhiloxStream(seed: Hash.sha256("H/pk/perm/7"))
        var letters = (0..<100).map { "item\($0)" }
        let original = letters
        shuffler.shuffle(&letters)
        #expect(letters == pa.map { original[$0] })
    }

    @Test("all 6 permutations of 3 are equally likely (χ², 5 degrees of freedom)")
    func permutationUniformity() {
        var stream = PhiloxStream(seedString: "gonka/perm-uniformity")
        var counts: [[Int]: Int] = [:]
        for _ in 0..<60_000 {
            counts[stream.permutation(count: 3), default: 0] += 1
        }
        #expect(counts.count == 6)
        let observed = counts.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { counts[$0] ?? 0 }
        #expect(chiSquare(observed: observed, weights: [1, 1, 1, 1, 1, 1]) < 36, "counts \(counts)")
    }
}
