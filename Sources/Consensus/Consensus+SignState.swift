import GonkaCore

extension Consensus {
    /// The last message this validator signed: (height, round, step), the value, and the exact
    /// signed bytes with their signature. It is persisted before a signature leaves the node, so
    /// after a restart the validator re-sends the same message or signs nothing (PROTOCOL §3.1).
    public struct SignState: Sendable, Hashable {
        public var height: UInt64
        public var round: Int
        /// `.propose`, `.prevote` or `.precommit`.
        public var step: Step
        public var blockID: Hash?
        public var bytes: [UInt8]
        public var signature: [UInt8]

        public init(height: UInt64, round: Int, step: Step, blockID: Hash?, bytes: [UInt8], signature: [UInt8]) {
            self.height = height
            self.round = round
            self.step = step
            self.blockID = blockID
            self.bytes = bytes
            self.signature = signature
        }

        /// Nothing signed yet.
        public static let empty = SignState(height: 0, round: 0, step: .propose, blockID: nil, bytes: [], signature: [])

        /// What signing a message at (height, round, step) for `blockID` may do.
        public enum Decision: Sendable, Equatable {
            /// A position after the last one: sign.
            case sign
            /// The same position and value: re-send the stored bytes and signature.
            case reuse(bytes: [UInt8], signature: [UInt8])
            /// An earlier position, or a different value at the same one: refuse.
            case refuse
        }

        /// The rule: strictly later (height, round, step) signs; the same position with the same
        /// value re-sends what was signed; anything else is refused.
        public func decide(height: UInt64, round: Int, step: Step, blockID: Hash?) -> Decision {
            if bytes.isEmpty { return .sign }
            let new = (height, round, step.rawValue)
            let old = (self.height, self.round, self.step.rawValue)
            if new > old { return .sign }
            if new == old && blockID == self.blockID { return .reuse(bytes: bytes, signature: signature) }
            return .refuse
        }

        /// A compact, versioned encoding for a store.
        public var encoded: [UInt8] {
            var out: [UInt8] = [1]
            out.appendBE(height)
            out.appendBE(UInt32(clamping: round))
            out.append(UInt8(step.rawValue))
            if let blockID {
                out.append(1)
                out.append(contentsOf: blockID.bytes)
            } else {
                out.append(0)
            }
            out.appendBE(UInt32(bytes.count))
            out.append(contentsOf: bytes)
            out.appendBE(UInt32(signature.count))
            out.append(contentsOf: signature)
            return out
        }

        /// Decodes ``encoded``.
        public init(encoded: [UInt8]) throws(ConsensusError) {
            var reader = ByteReader(encoded)
            guard try reader.byte() == 1 else { throw .malformed("sign state version") }
            height = try reader.uint64()
            round = Int(try reader.uint32())
            guard let s = Step(rawValue: Int(try reader.byte())) else { throw .malformed("sign state step") }
            step = s
            if try reader.byte() == 1 {
                guard let id = Hash(bytes: try reader.bytes(32)) else { throw .malformed("sign state block") }
                blockID = id
            } else {
                blockID = nil
            }
            bytes = try reader.bytes(Int(try reader.uint32()))
            signature = try reader.bytes(Int(try reader.uint32()))
            guard reader.isAtEnd else { throw .malformed("sign state trailing bytes") }
        }
    }

    /// Where ``SignState`` is persisted. `save` must be durable (fsync'd) when it returns.
    public protocol SignStateStore {
        func load() throws(ConsensusError) -> SignState?
        mutating func save(_ state: SignState) throws(ConsensusError)
    }

    /// A ``SignStateStore`` in memory (tests and the simulator, where it outlives a "crash").
    public struct InMemorySignStateStore: SignStateStore, Sendable {
        public var state: SignState?
        public init(_ state: SignState? = nil) { self.state = state }
        public func load() throws(ConsensusError) -> SignState? { state }
        public mutating func save(_ state: SignState) throws(ConsensusError) { self.state = state }
    }
}

extension [UInt8] {
    mutating func appendBE(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func appendBE(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}

/// Reads big-endian fields from bytes, throwing on a short read.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func byte() throws(ConsensusError) -> UInt8 {
        guard offset < bytes.count else { throw .malformed("short record") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint32() throws(ConsensusError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 { v = v << 8 | UInt32(try byte()) }
        return v
    }

    mutating func uint64() throws(ConsensusError) -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(try byte()) }
        return v
    }

    mutating func bytes(_ count: Int) throws(ConsensusError) -> [UInt8] {
        guard count >= 0, bytes.count - offset >= count else { throw .malformed("short record") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
}
