import GonkaCore

/// Values of the state at its latest version by key (`.some(nil)`: absent there), kept while they
/// are in use, within a byte budget (`[memory] state_value_cache_mb`). The ledger reads the same
/// accounts, participants and parameters for every transaction; the store also puts every value a
/// commit writes here, most of them records read once or never again.
///
/// Two generations: the current one and the one before. The older one is dropped when the current
/// one has been current for `retentionVersions` versions (commits) or holds half the budget; a
/// value found in the older one moves to the current one. So a value read every block stays, and
/// one unused for `retentionVersions` to twice that is forgotten: the cache holds the working set
/// of the last few minutes and reaches its size in as many, where emptying it whenever it was full
/// had it climb toward its whole budget over most of an hour (issue 23: at 4 requests/s, 18.7 MiB
/// at minute 30 and still climbing, then emptied; with generations 4–7.5 MiB from minute 8 on).
struct RecentValues {
    /// Most bytes both generations hold (``cost(key:value:)`` each); 0 keeps nothing.
    let budget: Int
    private(set) var current: [ByteKey: [UInt8]?] = [:]
    private(set) var previous: [ByteKey: [UInt8]?] = [:]
    private(set) var currentBytes = 0
    private(set) var previousBytes = 0
    private var clock: GenerationClock

    init(budget: Int, retentionVersions: UInt64) {
        self.budget = max(budget, 0)
        clock = GenerationClock(span: retentionVersions)
    }

    /// ``cost(key:value:)`` of everything held.
    var bytes: Int { currentBytes + previousBytes }
    var count: Int { current.count + previous.count }

    /// What a cached value costs in memory: its bytes, its key's, and ~96 bytes of dictionary slot
    /// and array headers.
    static func cost(key: ByteKey, value: [UInt8]?) -> Int {
        96 + key.bytes.count + (value?.count ?? 0)
    }

    /// The value held for `key` (`.some(nil)`: known absent; `nil`: not held). A value of the older
    /// generation moves to the current one.
    mutating func value(for key: ByteKey) -> [UInt8]?? {
        if let value = current[key] { return value }
        guard let value = previous.removeValue(forKey: key) else { return nil }
        previousBytes -= Self.cost(key: key, value: value)
        store(value, for: key)
        return .some(value)
    }

    /// Records `value` as the latest for `key` (a read from the database, or a commit's write).
    mutating func remember(_ value: [UInt8]?, for key: ByteKey) {
        guard budget > 0 else { return }
        if let old = previous.removeValue(forKey: key) { previousBytes -= Self.cost(key: key, value: old) }
        store(value, for: key)
    }

    /// Called after the commit of `version`: the current generation gives way once it is
    /// `retentionVersions` old.
    mutating func advance(toVersion version: UInt64) {
        if clock.tick(version) { rotate() }
    }

    mutating func removeAll() {
        current.removeAll()
        previous.removeAll()
        currentBytes = 0
        previousBytes = 0
    }

    private mutating func store(_ value: [UInt8]?, for key: ByteKey) {
        if let old = current.removeValue(forKey: key) { currentBytes -= Self.cost(key: key, value: old) }
        let cost = Self.cost(key: key, value: value)
        // One value larger than a generation is not kept (it would push out everything else).
        guard cost <= budget / 2 else { return }
        if currentBytes + cost > budget / 2 { rotate() }
        current[key] = .some(value)
        currentBytes += cost
    }

    /// The older generation is dropped and the current one takes its place; the tables are swapped
    /// and emptied in place, so their storage is reused.
    private mutating func rotate() {
        swap(&current, &previous)
        swap(&currentBytes, &previousBytes)
        current.removeAll(keepingCapacity: true)
        currentBytes = 0
    }
}
