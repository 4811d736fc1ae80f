import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf

/// A JSON value built by hand so the RPC's field order and number forms are exactly the contract's.
public indirect enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])
    /// Already-encoded JSON (a `Codable` value's encoding).
    case raw(String)

    public static func == (lhs: JSON, rhs: JSON) -> Bool { lhs.rendered == rhs.rendered }
    public func hash(into hasher: inout Hasher) { hasher.combine(rendered) }

    public var rendered: String {
        var out = ""
        render(into: &out)
        return out
    }

    func render(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .string(let s): Self.quote(s, into: &out)
        case .raw(let r): out += r
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.render(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (k, v)) in fields.enumerated() {
                if i > 0 { out += "," }
                Self.quote(k, into: &out)
                out += ":"
                v.render(into: &out)
            }
            out += "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// The encoding of a `Codable` value (sorted keys), or `null` if it does not encode.
    static func encoding(_ value: some Encodable) -> JSON {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return .null }
        return .raw(String(decoding: data, as: UTF8.self))
    }
}

/// What `GET /query/{path}` can read.
public enum QueryPath: Sendable, Hashable {
    case balance(Address)
    case account(Address)
    case participants
    case supply
    case params
    /// The epoch schedule at the height and the epoch's record (`/query/epoch`), or epoch N's
    /// record (`/query/epoch/N`).
    case epoch(UInt64?)
    /// A participant's sprint (`/query/poc/{addr}` for the current one, `/query/poc/{addr}/{P}`).
    case poc(Address, pocStartHeight: UInt64?)

    /// Parses the part after `/query/`.
    public init(parsing segments: [String]) throws(QueryError) {
        switch segments.first {
        case "balance", "account":
            guard segments.count == 2 else { throw .notFound("query path /\(segments.joined(separator: "/"))") }
            let address: Address
            do {
                address = try Address(segments[1])
            } catch {
                throw .badRequest("invalid_address", "\(segments[1]): \(error)")
            }
            self = segments[0] == "balance" ? .balance(address) : .account(address)
        case "participants" where segments.count == 1: self = .participants
        case "epoch" where segments.count <= 2:
            if segments.count == 2 {
                guard let n = UInt64(segments[1]) else {
                    throw .badRequest("invalid_epoch", "\(segments[1]) is not an epoch number")
                }
                self = .epoch(n)
            } else {
                self = .epoch(nil)
            }
        case "poc" where segments.count == 2 || segments.count == 3:
            let address: Address
            do {
                address = try Address(segments[1])
            } catch {
                throw .badRequest("invalid_address", "\(segments[1]): \(error)")
            }
            var p: UInt64?
            if segments.count == 3 {
                guard let value = UInt64(segments[2]) else {
                    throw .badRequest("invalid_height", "\(segments[2]) is not a height")
                }
                p = value
            }
            self = .poc(address, pocStartHeight: p)
        case "supply" where segments.count == 1: self = .supply
        case "params" where segments.count == 1: self = .params
        default: throw .notFound("unknown query path /\(segments.joined(separator: "/"))")
        }
    }
}

/// A failed query or RPC request: an HTTP status, a short code and a sentence.
public struct QueryError: Error, Sendable, Hashable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String

    public static func badRequest(_ code: String, _ message: String) -> Self {
        Self(status: 400, code: code, message: message)
    }
    public static func notFound(_ message: String) -> Self { Self(status: 404, code: "not_found", message: message) }
    public static func `internal`(_ message: String) -> Self { Self(status: 500, code: "internal", message: message) }

    public var description: String { "\(status) \(code): \(message)" }
}

/// The answer to a query: the height read, the state key, the value and its proof.
public struct QueryResult: Sendable, Hashable {
    public let height: UInt64
    public let key: [UInt8]
    public let value: JSON
    public let proof: JSON

    public var json: JSON {
        .object([
            ("height", .uint(height)), ("key", .string(Hex.encode(key))), ("value", value), ("proof", proof),
        ])
    }
}

/// Reads records from the state store at a height, with proofs against that height's `app_hash`.
enum QueryEngine {
    static func run(
        _ path: QueryPath, height: UInt64?, state: AuthenticatedStore, latest: UInt64
    ) throws(QueryError) -> QueryResult {
        let version = height ?? latest
        guard version <= latest else {
            throw .badRequest("invalid_height", "height \(version) is above the latest committed height \(latest)")
        }
        if let oldest = state.oldestVersion, version < oldest {
            throw .badRequest("invalid_height", "height \(version) was pruned (oldest kept: \(oldest))")
        }
        func proven(_ key: [UInt8]) throws(QueryError) -> (value: [UInt8]?, proof: JSON) {
            do {
                let (value, proof) = try state.getWithProof(key, atVersion: version)
                return (value, JSON.encoding(proof))
            } catch {
                throw .internal("state read failed: \(error)")
            }
        }
        switch path {
        case .balance(let address):
            let key = LedgerStateKey.balance(address)
            let (raw, proof) = try proven(key)
            var amount = Amount.zero
            if let raw {
                do { amount = try LedgerStateKey.amount(raw) } catch { throw .internal("\(error)") }
            }
            return QueryResult(
                height: version, key: key,
                value: .object([("address", .string(address.description)), ("amount", .string(amount.description))]),
                proof: proof)
        case .account(let address):
            let key = LedgerStateKey.account(address)
            let (raw, proof) = try proven(key)
            var sequence: UInt64 = 0
            var pubKey: JSON = .null
            if let raw {
                guard let account = try? Wire.Account(serializedBytes: raw) else {
                    throw .internal("account record does not decode")
                }
                sequence = account.sequence
                if !account.pubkey.isEmpty { pubKey = .string(Hex.encode(account.pubkey)) }
            }
            return QueryResult(
                height: version, key: key,
                value: .object([
                    ("address", .string(address.description)), ("sequence", .uint(sequence)), ("pub_key", pubKey),
                ]), proof: proof)
        case .participants:
            let entries: [AuthenticatedStore.Entry]
            do {
                entries = try state.entries(withPrefix: LedgerStateKey.participantPrefix, atVersion: version)
            } catch {
                throw .internal("state read failed: \(error)")
            }
            let reader = EpochReader(state: state, version: version)
            let weights = try reader.latestWeights()
            let power = try reader.validatorPowers(forHeight: version + 1)
            var list: [JSON] = []
            for entry in entries {
                guard let p = try? Wire.Participant(serializedBytes: entry.value) else {
                    throw .internal("participant record does not decode")
                }
                let member = weights?.participants.first { $0.address == p.address }
                list.append(
                    .object([
                        ("address", .string(p.address)), ("url", .string(p.url)),
                        ("consensus_pubkey", .string(Hex.encode(p.consensusPubkey))),
                        ("p2p_pubkey", .string(Hex.encode(p.p2PPubkey))),
                        ("registered_height", .uint(p.registeredHeight)),
                        // The latest computed weights (epoch), and the power consensus uses now.
                        ("epoch", weights.map { .uint($0.epoch) } ?? .null),
                        ("weight", .uint(member?.weight ?? 0)), ("raw_weight", .uint(member?.rawWeight ?? 0)),
                        ("status", .string(member?.status ?? "none")),
                        ("validator_power", .uint(power[p.address] ?? 0)),
                    ]))
            }
            return QueryResult(
                height: version, key: LedgerStateKey.participantPrefix, value: .array(list), proof: .null)
        case .supply:
            let (mintedRaw, proof) = try proven(LedgerStateKey.minted)
            let burnedRaw: [UInt8]?
            do { burnedRaw = try state.get(LedgerStateKey.burned, atVersion: version) } catch {
                throw .internal("state read failed: \(error)")
            }
            let minted: Amount
            let burned: Amount
            do {
                minted = try mintedRaw.map(LedgerStateKey.amount) ?? .zero
                burned = try burnedRaw.map(LedgerStateKey.amount) ?? .zero
            } catch {
                throw .internal("\(error)")
            }
            let circulating = Amount(ngonka: minted.ngonka >= burned.ngonka ? minted.ngonka - burned.ngonka : 0)
            return QueryResult(
                height: version, key: LedgerStateKey.minted,
                value: .object([
                    ("minted", .string(minted.description)), ("burned", .string(burned.description)),
                    ("circulating", .string(circulating.description)),
                ]), proof: proof)
        case .epoch(let index):
            return try EpochReader(state: state, version: version).epoch(index, proven: proven)
        case .poc(let address, let p):
            return try EpochReader(state: state, version: version).poc(address, pocStartHeight: p, proven: proven)
        case .params:
            let (raw, proof) = try proven(LedgerStateKey.params)
            guard let raw, (try? JSONSerialization.jsonObject(with: Data(raw))) != nil else {
                throw .internal("chain parameters are missing from state")
            }
            return QueryResult(
                height: version, key: LedgerStateKey.params, value: .raw(String(decoding: raw, as: UTF8.self)),
                proof: proof)
        }
    }
}
