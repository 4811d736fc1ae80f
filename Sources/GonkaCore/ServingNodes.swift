/// Which of a participant's ML nodes keep serving inference through a sprint instead of mining
/// (PROTOCOL §5.7), implemented once for the ledger (carried weight, refusing batches from serving
/// nodes) and the PoC orchestrator (which nodes it sends to mine):
///
/// * seed = SHA-256(`"{epoch}/{participant}/{model}"`): the epoch of the sprint in decimal, the
///   participant's bech32 address, the inference model id;
/// * the node indices `0..<n` shuffled by ``DeterministicRandomSource/shuffle(_:)`` over a
///   ``PhiloxStream`` keyed by the seed; the first ⌊n/2⌋ serve (returned ascending), the rest mine.
///
/// With one node nothing serves: it mines. Node `i` of the nonce lattice (`n = i + k × node_count`,
/// §5.2) is the same index: the lattice spans all `n` nodes, the serving ones leave theirs unused.
public enum ServingNodes {
    public static func seed(epoch: UInt64, participant: String, model: String) -> Hash {
        Hash.sha256("\(epoch)/\(participant)/\(model)")
    }

    /// The indices (ascending) of the ⌊nodeCount/2⌋ nodes that keep serving.
    public static func serving(epoch: UInt64, participant: String, model: String, nodeCount: UInt64) -> [UInt64] {
        guard nodeCount >= 2 else { return [] }
        var order = Array(0..<nodeCount)
        var random = PhiloxStream(seed: seed(epoch: epoch, participant: participant, model: model))
        random.shuffle(&order)
        return order[..<Int(nodeCount / 2)].sorted()
    }

    /// The indices (ascending) of the nodes that mine: every one not serving.
    public static func mining(epoch: UInt64, participant: String, model: String, nodeCount: UInt64) -> [UInt64] {
        let serving = Set(serving(epoch: epoch, participant: participant, model: model, nodeCount: nodeCount))
        return (0..<nodeCount).filter { !serving.contains($0) }
    }

    /// The weight the serving nodes carry into the new epoch: the participant's previous raw weight
    /// spread evenly over the `previousNodeCount` nodes it had then (the chain keeps no per-node
    /// weight), times the nodes serving now. Integer arithmetic, rounded down.
    public static func carriedWeight(
        previousRawWeight: UInt64, previousNodeCount: UInt64, servingCount: UInt64
    ) -> UInt64 {
        guard servingCount > 0, previousRawWeight > 0 else { return 0 }
        let perNode = UInt128(previousRawWeight) / UInt128(max(previousNodeCount, 1))
        let carried = perNode * UInt128(servingCount)
        return carried > UInt128(UInt64.max) ? UInt64.max : UInt64(carried)
    }
}
