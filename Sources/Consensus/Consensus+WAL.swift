import GonkaCore
import GonkaWire
import SwiftProtobuf

extension Consensus {
    /// Byte storage under a ``WAL``: an append-only file in the node (`Storage.ConsensusWALFile`),
    /// memory in tests and the simulator.
    public protocol WALStorage {
        /// Appends bytes at the end.
        mutating func append(_ bytes: [UInt8]) throws(ConsensusError)
        /// Makes everything appended so far durable (fsync).
        mutating func sync() throws(ConsensusError)
        /// The whole content.
        func contents() throws(ConsensusError) -> [UInt8]
        /// Cuts the content to its first `length` bytes (durably).
        mutating func truncate(to length: Int) throws(ConsensusError)
    }

    /// A ``WALStorage`` in memory; survives a simulated crash because the simulator keeps it.
    public struct InMemoryWALStorage: WALStorage, Sendable {
        public private(set) var bytes: [UInt8] = []
        /// How many times `sync` was called (tests check fsync-before-send).
        public private(set) var syncs = 0

        public init(bytes: [UInt8] = []) { self.bytes = bytes }
        public mutating func append(_ more: [UInt8]) throws(ConsensusError) { bytes += more }
        public mutating func sync() throws(ConsensusError) { syncs += 1 }
        public func contents() throws(ConsensusError) -> [UInt8] { bytes }
        public mutating func truncate(to length: Int) throws(ConsensusError) {
            bytes.removeSubrange(min(length, bytes.count)...)
        }
        /// Simulates a crash in the middle of a write: appends only a prefix of a framed record.
        public mutating func appendTorn(_ record: [UInt8], keeping fraction: Int) {
            bytes += record.prefix(max(1, record.count * fraction / 100))
        }
    }

    /// One record.
    public enum WALEntry: Sendable, Hashable {
        /// An input handed to the machine at time `now`.
        case input(Machine.Input, now: Timestamp)
        /// Height `h` was committed; replay of height `h + 1` starts after this marker.
        case endHeight(UInt64)
    }

    /// What opening the log found.
    public struct WALReplay: Sendable, Hashable {
        public var entries: [WALEntry]
        /// Bytes cut from the end (a torn or corrupt tail); 0 when the log was clean.
        public var truncatedBytes: Int
    }

    /// The consensus write-ahead log: every input (including our own signed messages) is appended
    /// and fsync'd before the machine acts on it, so a restarted node replays exactly what it saw.
    /// Records are framed `length (u32 BE) ‖ CRC-32 (u32 BE) ‖ payload`; on open, a partial or
    /// corrupt tail is detected and cut off.
    public struct WAL<Storage: WALStorage> {
        public typealias Entry = WALEntry
        public typealias Replay = WALReplay

        public private(set) var storage: Storage

        public init(storage: Storage) { self.storage = storage }

        /// Appends `entry` and syncs.
        public mutating func append(_ entry: Entry) throws(ConsensusError) {
            try storage.append(Self.frame(entry))
            try storage.sync()
        }

        /// Appends `entries` with one sync at the end.
        public mutating func append(contentsOf entries: [Entry]) throws(ConsensusError) {
            guard !entries.isEmpty else { return }
            for entry in entries { try storage.append(Self.frame(entry)) }
            try storage.sync()
        }

        /// Reads every whole record; cuts a torn tail off the storage.
        public mutating func open() throws(ConsensusError) -> Replay {
            let bytes = try storage.contents()
            let (entries, validLength) = Self.decode(bytes)
            if validLength < bytes.count { try storage.truncate(to: validLength) }
            return Replay(entries: entries, truncatedBytes: bytes.count - validLength)
        }

        /// The inputs of `height`: those after the last `endHeight(height − 1)` marker (or all, for
        /// a log with no marker), up to an `endHeight(height)` if present.
        public static func inputs(of entries: [Entry], height: UInt64) -> [(Machine.Input, Timestamp)] {
            var start = 0
            for (i, entry) in entries.enumerated() {
                if case .endHeight(let h) = entry, h + 1 == height { start = i + 1 }
            }
            var out: [(Machine.Input, Timestamp)] = []
            for entry in entries[start...] {
                switch entry {
                case .input(let input, let now): out.append((input, now))
                case .endHeight(let h): if h >= height { return out }
                }
            }
            return out
        }

        /// `length ‖ crc ‖ payload`.
        public static func frame(_ entry: Entry) -> [UInt8] {
            let payload = encode(entry)
            var out: [UInt8] = []
            out.reserveCapacity(payload.count + 8)
            out.appendBE(UInt32(payload.count))
            out.appendBE(CRC32.checksum(payload))
            out += payload
            return out
        }

        /// The whole records at the start of `bytes` and the length they cover.
        public static func decode(_ bytes: [UInt8]) -> (entries: [Entry], validLength: Int) {
            var entries: [Entry] = []
            var offset = 0
            while bytes.count - offset >= 8 {
                var header = ByteReader(bytes, offset: offset)
                guard let length = try? Int(header.uint32()), let crc = try? header.uint32() else { break }
                guard bytes.count - offset - 8 >= length else { break }
                let payload = Array(bytes[(offset + 8)..<(offset + 8 + length)])
                guard CRC32.checksum(payload) == crc, let entry = try? decodeEntry(payload) else { break }
                entries.append(entry)
                offset += 8 + length
            }
            return (entries, offset)
        }

        static func encode(_ entry: Entry) -> [UInt8] {
            var out: [UInt8] = []
            switch entry {
            case .endHeight(let h):
                out.append(6)
                out.appendBE(h)
            case .input(let input, let now):
                switch input {
                case .proposal(let message):
                    out.append(1)
                    out.appendBE(UInt64(bitPattern: now))
                    out += (try? message.wire.serializedBytes() as [UInt8]) ?? []
                case .vote(let vote):
                    out.append(2)
                    out.appendBE(UInt64(bitPattern: now))
                    out += (try? vote.wire.serializedBytes() as [UInt8]) ?? []
                case .timeout(let t):
                    out.append(3)
                    out.appendBE(UInt64(bitPattern: now))
                    out.appendBE(t.height)
                    out.appendBE(UInt32(clamping: t.round))
                    out.append(UInt8(t.step.rawValue))
                    out.appendBE(UInt64(bitPattern: t.duration))
                case .validated(let id, let valid):
                    out.append(4)
                    out.appendBE(UInt64(bitPattern: now))
                    out += id.bytes
                    out.append(valid ? 1 : 0)
                case .proposalBlock(let h, let r, let block):
                    out.append(5)
                    out.appendBE(UInt64(bitPattern: now))
                    out.appendBE(h)
                    out.appendBE(UInt32(clamping: r))
                    out += block
                }
            }
            return out
        }

        static func decodeEntry(_ payload: [UInt8]) throws(ConsensusError) -> Entry {
            var reader = ByteReader(payload)
            let tag = try reader.byte()
            if tag == 6 { return .endHeight(try reader.uint64()) }
            let now = Timestamp(bitPattern: try reader.uint64())
            let rest = { (r: ByteReader) in Array(r.bytes[r.offset...]) }
            switch tag {
            case 1:
                let wire: Wire.ProposalMessage
                do { wire = try Wire.ProposalMessage(serializedBytes: rest(reader)) } catch {
                    throw .malformed("wal proposal")
                }
                return .input(.proposal(try ProposalMessage(wire: wire)), now: now)
            case 2:
                let wire: Wire.SignedVote
                do { wire = try Wire.SignedVote(serializedBytes: rest(reader)) } catch { throw .malformed("wal vote") }
                return .input(.vote(try SignedVote(wire: wire)), now: now)
            case 3:
                let h = try reader.uint64()
                let r = Int(try reader.uint32())
                guard let step = Step(rawValue: Int(try reader.byte())) else { throw .malformed("wal timeout step") }
                let duration = Int64(bitPattern: try reader.uint64())
                return .input(.timeout(Timeout(height: h, round: r, step: step, duration: duration)), now: now)
            case 4:
                guard let id = Hash(bytes: try reader.bytes(32)) else { throw .malformed("wal hash") }
                return .input(.validated(blockID: id, valid: try reader.byte() == 1), now: now)
            case 5:
                let h = try reader.uint64()
                let r = Int(try reader.uint32())
                return .input(.proposalBlock(height: h, round: r, block: rest(reader)), now: now)
            default:
                throw .malformed("wal record tag")
            }
        }
    }

    /// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib.
    public enum CRC32 {
        private static let table: [UInt32] = (0..<256).map { i in
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            return c
        }

        public static func checksum(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
            return crc ^ 0xFFFF_FFFF
        }
    }
}
