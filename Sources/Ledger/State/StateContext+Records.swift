import SwiftProtobuf

/// Protobuf records in state: one place that decodes them (a record that does not decode is
/// corruption, never a transaction's fault) and encodes them.
extension StateContext {
    /// The record at `key`, or `nil` when there is none.
    func record<M: SwiftProtobuf.Message>(
        _ type: M.Type, at key: [UInt8], what: @autoclosure () -> String
    )
        throws(LedgerError) -> M?
    {
        guard let raw = try get(key) else { return nil }
        return try Self.decode(type, raw, what: what())
    }

    /// Every record under `prefix`, in key order.
    func records<M: SwiftProtobuf.Message>(
        _ type: M.Type, withPrefix prefix: [UInt8], what: String
    )
        throws(LedgerError) -> [M]
    {
        var out: [M] = []
        for entry in try entries(withPrefix: prefix) {
            out.append(try Self.decode(type, entry.value, what: what))
        }
        return out
    }

    /// Stages `record` at `key`.
    func setRecord(_ record: some SwiftProtobuf.Message, at key: [UInt8]) throws(LedgerError) {
        do {
            set(key, try record.serializedBytes())
        } catch {
            throw .storage(error)
        }
    }

    private static func decode<M: SwiftProtobuf.Message>(
        _ type: M.Type, _ raw: [UInt8], what: String
    )
        throws(LedgerError) -> M
    {
        do {
            return try M(serializedBytes: raw)
        } catch {
            throw .storage(StateCorruption(what: what))
        }
    }
}
