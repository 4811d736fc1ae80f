/// The nonces one ML node may use (PROTOCOL §5.2): `n = nodeIndex + k × nodeCount`, k = 0, 1, 2, …,
/// so a participant's `nodeCount` ML nodes never duplicate work.
public struct NonceLattice: Sendable, Hashable, Codable {
    public let nodeIndex: UInt64
    public let nodeCount: UInt64

    /// Throws unless `nodeCount > 0` and `nodeIndex < nodeCount`.
    public init(nodeIndex: UInt64, nodeCount: UInt64) throws(PocError) {
        guard nodeCount > 0, nodeIndex < nodeCount else {
            throw .invalidLattice(index: nodeIndex, count: nodeCount)
        }
        self.nodeIndex = nodeIndex
        self.nodeCount = nodeCount
    }

    /// The whole lattice (one node).
    public static let all = NonceLattice(unchecked: 0, 1)

    private init(unchecked index: UInt64, _ count: UInt64) {
        nodeIndex = index
        nodeCount = count
    }

    /// The `k`-th nonce, or `nil` once it would pass `UInt64.max` (the lattice is finite).
    public func nonce(at k: UInt64) -> UInt64? {
        let (product, overflow) = k.multipliedReportingOverflow(by: nodeCount)
        guard !overflow else { return nil }
        let (sum, overflow2) = product.addingReportingOverflow(nodeIndex)
        return overflow2 ? nil : sum
    }

    /// Whether `nonce` lies on this lattice.
    public func contains(_ nonce: UInt64) -> Bool { nonce % nodeCount == nodeIndex }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let index = try container.decode(UInt64.self, forKey: .nodeIndex)
        let count = try container.decode(UInt64.self, forKey: .nodeCount)
        do {
            try self.init(nodeIndex: index, nodeCount: count)
        } catch {
            throw DecodingError.dataCorruptedError(
                forKey: .nodeIndex, in: container, debugDescription: error.description)
        }
    }

    enum CodingKeys: String, CodingKey {
        case nodeIndex = "node_index"
        case nodeCount = "node_count"
    }
}
