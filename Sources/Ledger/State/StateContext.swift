import GonkaCore

/// The ledger's working view of state during one block (or the mempool's check state): the
/// committed store, overlaid by the block's accepted writes, overlaid by the current
/// transaction's writes. A failed transaction drops its layer, so it changes nothing.
///
/// Writes are kept in dictionaries for speed but never iterated in dictionary order: everything
/// that leaves this type (`flush`, `entries`) is sorted by key, so results are deterministic.
final class StateContext {
    private let store: any StateStore
    /// Accepted writes of this block; `nil` value = delete.
    private var block: [ByteKey: [UInt8]?] = [:]
    /// Writes of the transaction in progress.
    private var tx: [ByteKey: [UInt8]?] = [:]

    init(store: any StateStore) {
        self.store = store
    }

    func get(_ key: [UInt8]) throws(LedgerError) -> [UInt8]? {
        let wrapped = ByteKey(key)
        if let pending = tx[wrapped] { return pending }
        if let pending = block[wrapped] { return pending }
        do {
            return try store.get(key)
        } catch {
            throw .storage(error)
        }
    }

    func set(_ key: [UInt8], _ value: [UInt8]) {
        tx[ByteKey(key)] = .some(value)
    }

    func delete(_ key: [UInt8]) {
        tx[ByteKey(key)] = .some(nil)
    }

    /// Entries under `prefix` in key order, with every pending write applied.
    func entries(withPrefix prefix: [UInt8]) throws(LedgerError) -> [(key: [UInt8], value: [UInt8])] {
        var merged: [ByteKey: [UInt8]] = [:]
        do {
            for entry in try store.entries(withPrefix: prefix) { merged[ByteKey(entry.key)] = entry.value }
        } catch {
            throw .storage(error)
        }
        for layer in [block, tx] {
            for (key, value) in layer where key.bytes.starts(with: prefix) {
                merged[key] = value
            }
        }
        return merged.sorted { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }.map {
            (key: $0.key.bytes, value: $0.value)
        }
    }

    /// Runs `body` as one transaction: its writes join the block if it returns, vanish if it throws.
    /// Transactions do not nest (an inner one would drop the outer one's pending writes).
    func transaction<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        tx.removeAll(keepingCapacity: true)
        do {
            let result = try body()
            for (key, value) in tx { block[key] = value }
            tx.removeAll(keepingCapacity: true)
            return result
        } catch {
            tx.removeAll(keepingCapacity: true)
            throw error
        }
    }

    /// Hands the block's writes to the store in key order (deterministic across machines).
    func flush() throws(LedgerError) {
        precondition(tx.isEmpty, "flush inside a transaction")
        // Handed over or failed, these writes are done with: a failed flush is followed by
        // `discardStaged` on the store, so nothing half-written survives in either place.
        defer { block.removeAll(keepingCapacity: true) }
        do {
            for key in block.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
                if let value = block[key] ?? nil {
                    try store.set(key.bytes, value)
                } else {
                    try store.delete(key.bytes)
                }
            }
        } catch {
            throw .storage(error)
        }
    }

    /// Forgets every pending write (used to reset the mempool's check state after a commit).
    func reset() {
        tx.removeAll()
        block.removeAll()
    }
}
