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

    /// Per key: 0 (set) or 1 (delete) ‖ key length (UInt32 BE) ‖ key.
    static func encode(keys: [(key: [UInt8], isDelete: Bool)]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in keys {
            out.append(entry.isDelete ? 1 : 0)
            let length = UInt32(entry.key.count)
            out.append(contentsOf: [
                UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF),
            ])
            out.append(contentsOf: entry.key)
        }
        return out
    }

    static func decodeKeys(_ bytes: [UInt8]) -> [(key: [UInt8], isDelete: Bool)]? {
        var keys: [(key: [UInt8], isDelete: Bool)] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count >= offset + 5, bytes[offset] <= 1 else { return nil }
            let length =
                Int(bytes[offset + 1]) << 24 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 8
                | Int(bytes[offset + 4])
            offset += 5
            guard bytes.count >= offset + length else { return nil }
            keys.append((Array(bytes[offset..<(offset + length)]), bytes[offset - 5] == 1))
            offset += length
        }
        return keys
    }
}
