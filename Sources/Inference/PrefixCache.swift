/// KV rows of prompt prefixes kept across requests, so a shared system prompt is computed once.
///
/// A prompt is cut into blocks of `blockSize` positions; block i is keyed by a hash chained over
/// every token of blocks 0…i (and checked against its own tokens and its parent's key on a hit), so
/// a block is only ever reused after the very same prefix. Stored blocks are copies of the keys and
/// values of their positions in every layer; the least recently used go when the copies would
/// exceed `budgetBytes`. A position's keys and values depend only on the tokens up to it, so a
/// request that starts from cached rows computes the same as one that prefills them.
///
/// Not thread-safe: one owner (the batch engine's loop).
public final class PrefixCache {
    /// Positions per block.
    public let blockSize: Int
    /// Bytes the stored blocks may take together.
    public let budgetBytes: Int
    private let layers: Int
    private let kvWidth: Int
    private var blocks: [UInt64: Block] = [:]
    private var clock: UInt64 = 0

    private final class Block {
        let parent: UInt64
        let tokens: [Int]
        /// Per layer: `blockSize` key rows, then `blockSize` value rows.
        let storage: UnsafeMutablePointer<Float>
        var lastUse: UInt64

        init(parent: UInt64, tokens: [Int], floats: Int, lastUse: UInt64) {
            self.parent = parent
            self.tokens = tokens
            storage = .allocate(capacity: floats)
            self.lastUse = lastUse
        }

        deinit { storage.deallocate() }
    }

    /// A cache for `config`'s layers keeping at most `budgetBytes` of blocks of `blockSize` positions.
    public init(config: LlamaConfig, budgetBytes: Int, blockSize: Int = 16) {
        self.blockSize = max(1, blockSize)
        self.budgetBytes = max(0, budgetBytes)
        layers = config.layers
        kvWidth = config.kvWidth
    }

    /// Bytes one block takes.
    public var blockBytes: Int { layers * 2 * blockSize * kvWidth * MemoryLayout<Float>.stride }

    /// Blocks stored now.
    public var storedBlocks: Int { blocks.count }

    /// Copies the longest stored prefix of `prompt` into `cache` (which must be empty) and returns
    /// its length: whole blocks, and never the prompt's last position (its logits are needed).
    public func restore(_ prompt: [Int], into cache: KVCache) -> Int {
        guard cache.count == 0, budgetBytes > 0 else { return 0 }
        let usable = min(prompt.count - 1, cache.capacity) / blockSize
        var parent: UInt64 = Self.root
        var matched = 0
        for index in 0..<max(0, usable) {
            let tokens = Array(prompt[index * blockSize..<(index + 1) * blockSize])
            let key = Self.key(parent: parent, tokens: tokens)
            guard let block = blocks[key], block.parent == parent, block.tokens == tokens else { break }
            clock += 1
            block.lastUse = clock
            copy(block, into: cache, at: index * blockSize)
            parent = key
            matched += blockSize
        }
        cache.count = matched
        return matched
    }

    /// Stores the whole blocks of `prompt` that `cache` holds (its first positions are the prompt's)
    /// and are not stored yet, then drops least recently used blocks beyond the budget.
    public func store(_ prompt: [Int], from cache: KVCache) {
        guard budgetBytes >= blockBytes else { return }
        let whole = min(prompt.count, cache.count) / blockSize
        var parent: UInt64 = Self.root
        for index in 0..<whole {
            let tokens = Array(prompt[index * blockSize..<(index + 1) * blockSize])
            let key = Self.key(parent: parent, tokens: tokens)
            clock += 1
            if let block = blocks[key] {
                guard block.parent == parent, block.tokens == tokens else { break }  // a hash collision: stop
                block.lastUse = clock
            } else {
                let block = Block(
                    parent: parent, tokens: tokens, floats: layers * 2 * blockSize * kvWidth, lastUse: clock)
                let rows = blockSize * kvWidth
                for layer in 0..<layers {
                    let base = block.storage + layer * 2 * rows
                    base.update(from: cache.keys[layer] + index * rows, count: rows)
                    (base + rows).update(from: cache.values[layer] + index * rows, count: rows)
                }
                blocks[key] = block
            }
            parent = key
        }
        evict()
    }

    /// Drops the least recently used blocks until the rest fit the budget (every touch of a block
    /// takes the next tick of `clock`, so there are no ties).
    private func evict() {
        let limit = budgetBytes / blockBytes
        guard blocks.count > limit else { return }
        let order = blocks.sorted { $0.value.lastUse < $1.value.lastUse }
        for (key, _) in order.prefix(blocks.count - limit) { blocks[key] = nil }
    }

    private func copy(_ block: Block, into cache: KVCache, at position: Int) {
        let rows = blockSize * kvWidth
        for layer in 0..<layers {
            let base = block.storage + layer * 2 * rows
            (cache.keys[layer] + position * kvWidth).update(from: base, count: rows)
            (cache.values[layer] + position * kvWidth).update(from: base + rows, count: rows)
        }
    }

    private static let root: UInt64 = 0xcbf2_9ce4_8422_2325

    /// FNV-1a over the parent's key and the block's tokens (8 bytes each).
    static func key(parent: UInt64, tokens: [Int]) -> UInt64 {
        var hash = root
        func mix(_ value: UInt64) {
            var v = value
            for _ in 0..<8 {
                hash = (hash ^ (v & 0xff)) &* 0x100_0000_01b3
                v >>= 8
            }
        }
        mix(parent)
        for token in tokens { mix(UInt64(bitPattern: Int64(token))) }
        return hash
    }
}
