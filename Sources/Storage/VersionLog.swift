/// Per-version lists kept as one blob per commit instead of one row per item: the nodes a commit
/// made stale (`stale` table) and the keys it changed (`changes` table). Only pruning reads them,
/// so a commit pays one row insert for each list rather than one B-tree insert per item.
enum VersionLog {
    /// Node ids, 8 bytes each (UInt64 BE).
    static func encode(nodes: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(nodes.count * 8)
        for id in nodes { appendBigEndian(id, to: &out) }
        return out
    }

    static func decodeNodes(_ bytes: [UInt8]) -> [UInt64]? {
        guard bytes.count % 8 == 0 else { return nil }
        return stride(from: 0, to: bytes.count, by: 8).map { readBigEndian(bytes, at: $0) }
    }

    /// One entry of a version's change list: a key whose value the version replaced, added or
    /// deleted, and the version that wrote the value it replaced (`nil` for a new key).
    struct KeyChange: Equatable {
        var key: [UInt8]
        var isDelete: Bool
        var previous: UInt64?
    }

    /// Per key: flags (bit 0 delete, bit 1 has previous) ‖ previous (UInt64 BE, if any) ‖
    /// key length (UInt32 BE) ‖ key.
    static func encode(keys: [KeyChange]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in keys {
            out.append((entry.isDelete ? 1 : 0) | (entry.previous == nil ? 0 : 2))
            if let previous = entry.previous { appendBigEndian(previous, to: &out) }
            let length = UInt32(entry.key.count)
            out.append(contentsOf: [
                UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF),
            ])
            out.append(contentsOf: entry.key)
        }
        return out
    }

    static func decodeKeys(_ bytes: [UInt8]) -> [KeyChange]? {
        var keys: [KeyChange] = []
        var offset = 0
        while offset < bytes.count {
            let flags = bytes[offset]
            guard flags <= 3 else { return nil }
            offset += 1
            var previous: UInt64?
            if flags & 2 != 0 {
                guard bytes.count >= offset + 8 else { return nil }
                previous = readBigEndian(bytes, at: offset)
                offset += 8
            }
            guard bytes.count >= offset + 4 else { return nil }
            let length =
                Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8
                | Int(bytes[offset + 3])
            offset += 4
            guard bytes.count >= offset + length else { return nil }
            keys.append(
                KeyChange(key: Array(bytes[offset..<(offset + length)]), isDelete: flags & 1 != 0, previous: previous))
            offset += length
        }
        return keys
    }
}
