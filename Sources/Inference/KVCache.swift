import Tensor

/// One sequence's keys and values: per layer, `capacity` rows of `kvHeads · headDim` floats each,
/// one row per position (position-major), so a chunk of positions appends contiguous rows.
///
/// Not thread-safe: one owner at a time (a ``LlamaSession`` or a batch engine's slot).
public final class KVCache {
    /// Positions the cache holds.
    public let capacity: Int
    /// Positions now in the cache.
    public internal(set) var count = 0

    let keys: [UnsafeMutablePointer<Float>]
    let values: [UnsafeMutablePointer<Float>]

    /// An empty cache of `capacity` positions for `config`'s layers. The memory is reserved, not
    /// touched: pages are committed as positions are written.
    public init(config c: LlamaConfig, capacity: Int) {
        self.capacity = max(1, capacity)
        let rowFloats = self.capacity * c.kvWidth
        keys = (0..<c.layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: rowFloats) }
        values = (0..<c.layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: rowFloats) }
    }

    deinit {
        for p in keys { p.deallocate() }
        for p in values { p.deallocate() }
    }

    /// Forgets every cached position.
    public func reset() { count = 0 }

    /// Drops cached positions after the first `keeping`.
    public func truncate(to keeping: Int) { count = max(0, min(count, keeping)) }

    /// Bytes one position takes in a cache of `config` (keys and values of every layer, Float32).
    public static func bytesPerPosition(_ config: LlamaConfig) -> Int {
        config.layers * config.kvWidth * 2 * MemoryLayout<Float>.stride
    }
}
