import GonkaCore
import Testing

/// PROTOCOL §5.7: which ML nodes keep serving through a sprint, and the weight they carry.
@Suite struct ServingNodesTests {
    static let owner = "gonka1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v7"

    @Test(arguments: [UInt64(0), 1, 2, 3, 4, 5, 8, 17])
    func halfTheNodesServeRoundedDown(nodeCount: UInt64) {
        let serving = ServingNodes.serving(epoch: 7, participant: Self.owner, model: "m", nodeCount: nodeCount)
        let mining = ServingNodes.mining(epoch: 7, participant: Self.owner, model: "m", nodeCount: nodeCount)
        #expect(serving.count == Int(nodeCount / 2))
        #expect(serving == serving.sorted() && Set(serving).count == serving.count)
        #expect(serving.allSatisfy { $0 < nodeCount })
        // Serving and mining split the nodes.
        #expect(Set(serving).isDisjoint(with: mining))
        #expect((serving + mining).sorted() == Array(0..<nodeCount))
    }

    @Test func oneNodeMines() {
        #expect(ServingNodes.serving(epoch: 3, participant: Self.owner, model: "m", nodeCount: 1).isEmpty)
        #expect(ServingNodes.mining(epoch: 3, participant: Self.owner, model: "m", nodeCount: 1) == [0])
    }

    /// The same inputs give the same pick, and it is the first ⌊n/2⌋ of the Philox permutation keyed
    /// by SHA-256("{epoch}/{addr}/{model}") (checked through `permutation(count:)`, another path).
    @Test func deterministicAndSeededAsSpecified() {
        for epoch in UInt64(1)...20 {
            let a = ServingNodes.serving(epoch: epoch, participant: Self.owner, model: "m", nodeCount: 6)
            let b = ServingNodes.serving(epoch: epoch, participant: Self.owner, model: "m", nodeCount: 6)
            #expect(a == b)
            var stream = PhiloxStream(seed: Hash.sha256("\(epoch)/\(Self.owner)/m"))
            let permutation = stream.permutation(count: 6)
            #expect(a == permutation.prefix(3).map { UInt64($0) }.sorted())
        }
        #expect(ServingNodes.seed(epoch: 5, participant: "a", model: "b") == Hash.sha256("5/a/b"))
    }

    /// Over many epochs each of four nodes serves about half the time, and the pick moves with the
    /// epoch, the participant and the model.
    @Test func everyNodeTakesItsTurn() {
        var counts = [Int](repeating: 0, count: 4)
        var picks: Set<[UInt64]> = []
        for epoch in UInt64(0)..<400 {
            let serving = ServingNodes.serving(epoch: epoch, participant: Self.owner, model: "m", nodeCount: 4)
            picks.insert(serving)
            for i in serving { counts[Int(i)] += 1 }
        }
        #expect(picks.count == 6, "every 2-of-4 pick occurs")
        #expect(counts.allSatisfy { (150...250).contains($0) }, "\(counts)")
        let byModel = (0..<UInt64(50)).filter {
            ServingNodes.serving(epoch: $0, participant: Self.owner, model: "m", nodeCount: 4)
                != ServingNodes.serving(epoch: $0, participant: Self.owner, model: "other", nodeCount: 4)
        }
        #expect(!byModel.isEmpty)
    }

    @Test func carriedWeight() {
        // 90 over 3 nodes = 30 each; 2 serve now → 60.
        #expect(ServingNodes.carriedWeight(previousRawWeight: 90, previousNodeCount: 3, servingCount: 2) == 60)
        // Rounded down per node: 10 over 3 = 3 each.
        #expect(ServingNodes.carriedWeight(previousRawWeight: 10, previousNodeCount: 3, servingCount: 1) == 3)
        // Nothing serves, or nothing to carry.
        #expect(ServingNodes.carriedWeight(previousRawWeight: 90, previousNodeCount: 3, servingCount: 0) == 0)
        #expect(ServingNodes.carriedWeight(previousRawWeight: 0, previousNodeCount: 3, servingCount: 2) == 0)
        // An unknown previous node count counts as one node.
        #expect(ServingNodes.carriedWeight(previousRawWeight: 10, previousNodeCount: 0, servingCount: 1) == 10)
        // Saturates instead of overflowing.
        #expect(
            ServingNodes.carriedWeight(previousRawWeight: .max, previousNodeCount: 1, servingCount: 4) == .max)
    }
}
