/// The writes of the storage crash-safety test: version `v` of the store always receives the same
/// writes, so whoever finds a store at version `V` can recompute what it must contain. Shared by the
/// `storage-crash-child` helper (which commits them until it is killed) and `StorageTests`.
public enum StorageCrashWorkload {
    /// Keys are drawn from this many names, so versions overwrite and delete each other's keys.
    public static let keySpace: UInt64 = 3_000

    /// The writes of `version` in a fixed order: ~400 sets of 64-byte values and ~40 deletes
    /// (`value == nil`).
    public static func writes(forVersion version: UInt64) -> [(key: [UInt8], value: [UInt8]?)] {
        var state = version &* 0x9E37_79B9_7F4A_7C15 ^ 0xD1B5_4A32_D192_ED03
        var out: [(key: [UInt8], value: [UInt8]?)] = []
        for index in 0..<440 {
            let pick = mix(&state)
            let key = Array("crash/\(pick % keySpace)".utf8)
            if index % 11 == 10 {
                out.append((key, nil))
            } else {
                var value: [UInt8] = []
                value.reserveCapacity(64)
                for _ in 0..<8 {
                    let word = mix(&state)
                    for shift in stride(from: 0, to: 64, by: 8) {
                        value.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
                    }
                }
                out.append((key, value))
            }
        }
        return out
    }

    /// The whole state after versions `1...version`, as a map.
    public static func expectedState(atVersion version: UInt64) -> [[UInt8]: [UInt8]] {
        var state: [[UInt8]: [UInt8]] = [:]
        guard version >= 1 else { return state }
        for current in 1...version {
            for write in writes(forVersion: current) { state[write.key] = write.value }
        }
        return state
    }

    private static func mix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
