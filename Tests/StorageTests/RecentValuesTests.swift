import GonkaCore
import Testing

@testable import Storage

/// The state's value cache keeps what is in use and forgets the rest by age, within its bytes
/// (issue 23): a node's memory reaches its level in minutes instead of filling the whole budget.
@Suite struct RecentValuesTests {
    static func held(_ values: RecentValues, _ key: ByteKey) -> Bool {
        values.current[key] != nil || values.previous[key] != nil
    }

    @Test func aValueInUseStaysAndAnUnusedOneGoesAfterOneToTwoRetentions() {
        var values = RecentValues(budget: 1 << 20, retentionVersions: 10)
        let hot = ByteKey(Array("hot".utf8))
        let cold = ByteKey(Array("cold".utf8))
        values.remember([1], for: hot)
        values.remember([2], for: cold)
        var goneAt: UInt64?
        for version in UInt64(1)...40 {
            #expect(values.value(for: hot) == .some([1]), "read every version: never forgotten (v\(version))")
            values.advance(toVersion: version)
            if goneAt == nil, !Self.held(values, cold) { goneAt = version }
        }
        // Remembered before version 1; kept at least 10 versions past it, at most 20 (+1: the
        // first commit starts the clock).
        #expect(goneAt.map { $0 >= 11 && $0 <= 21 } == true, "cold forgotten at \(String(describing: goneAt))")
        #expect(values.bytes == RecentValues.cost(key: hot, value: [1]))
    }

    @Test func theNewestValueWinsAndTheBytesStayWithinTheBudget() {
        let budget = 4_000
        var values = RecentValues(budget: budget, retentionVersions: 1_000)
        let key = ByteKey(Array("k".utf8))
        values.remember([1], for: key)
        values.advance(toVersion: 1)
        values.advance(toVersion: 1_001)  // [1] now in the older generation
        values.remember([2], for: key)
        #expect(values.value(for: key) == .some([2]))
        values.remember(nil, for: key)
        #expect(values.value(for: key) == .some(nil), "known absent")
        // Many values, more than the budget holds.
        for i in 0..<500 { values.remember([UInt8](repeating: 7, count: 20), for: ByteKey(Array("key/\(i)".utf8))) }
        #expect(values.bytes <= budget)
        let all = Array(values.current) + Array(values.previous)
        #expect(values.bytes == all.reduce(0) { $0 + RecentValues.cost(key: $1.key, value: $1.value) })
        #expect(Set(values.current.keys).isDisjoint(with: values.previous.keys))
        // A value larger than half the budget is not kept, and drops an older copy of its key.
        values.remember([UInt8](repeating: 1, count: budget), for: ByteKey(Array("key/499".utf8)))
        #expect(values.value(for: ByteKey(Array("key/499".utf8))) == nil)
        #expect(RecentValues(budget: 0, retentionVersions: 1).bytes == 0)
    }
}
