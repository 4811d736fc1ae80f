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
    /// An inference record by id (64 hex).
    case inference(String)
    /// The executor pool of a model: epoch seed and weighted candidates (`?model=ID`).
    case executors(model: String)
    /// The model registry with current prices.
    case models
    /// Current prices and the pricing parameters.
    case pricing
    /// An executor's misses.
    case misses(Address)

    /// Parses the part after `/query/`; `model` is the `?model=` parameter (for `executors`).
    public init(parsing segments: [String], model: String? = nil) throws(QueryError) {
        switch segments.first {
        case "inference":
            guard segments.count == 2 else { throw .notFound("query path /\(segments.joined(separator: "/"))") }
            let id = segments[1].lowercased()
            guard id.utf8.count == 64, Hex.decode(id) != nil else {
                throw .badRequest("invalid_inference_id", "\(segments[1]) is not a 64-character hex inference id")
            }
            self = .inference(id)
        case "executors" where segments.count == 1:
            guard let model, !model.isEmpty else {
                throw .badRequest("missing_model", "executors needs ?model=ID")
            }
            self = .executors(model: model)
        case "models" where segments.count == 1: self = .models
        case "pricing" where segments.count == 1: self = .pricing
        case "misses":
            guard segments.count == 2 else { throw .notFound("query path /\(segments.joined(separator: "/"))") }
            do {
                self = .misses(try Address(segments[1]))
            } catch {
                throw .badRequest("invalid_address", "\(segments[1]): \(error)")
            }
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
            var list: [JSON] = []
            for entry in entries {
                guard let p = try? Wire.Participant(serializedBytes: entry.value) else {
                    throw .internal("participant record does not decode")
                }
                list.append(
                    .object([
                        ("address", .string(p.address)), ("url", .string(p.url)),
                        ("consensus_pubkey", .string(Hex.encode(p.consensusPubkey))),
                        ("p2p_pubkey", .string(Hex.encode(p.p2PPubkey))),
                        ("registered_height", .uint(p.registeredHeight)),
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
        case .inference(let id):
            let key = LedgerStateKey.inferenceRecord(id)
            let (raw, proof) = try proven(key)
            var value = JSON.null
            if let raw {
                guard let record = try? Wire.InferenceRecord(serializedBytes: raw) else {
                    throw .internal("inference record does not decode")
                }
                value = InferenceJSON.record(record)
            }
            return QueryResult(height: version, key: key, value: value, proof: proof)
        case .misses(let address):
            let key = LedgerStateKey.misses(address)
            let (raw, proof) = try proven(key)
            var miss = Wire.MissRecord()
            if let raw {
                guard let decoded = try? Wire.MissRecord(serializedBytes: raw) else {
                    throw .internal("miss record does not decode")
                }
                miss = decoded
            }
            return QueryResult(
                height: version, key: key,
                value: .object([
                    ("address", .string(address.description)), ("reported", .uint(miss.reported)),
                    ("expired", .uint(miss.expired)), ("total", .uint(miss.reported &+ miss.expired)),
                    ("last_height", .uint(miss.lastHeight)),
                ]), proof: proof)
        case .executors(let model):
            let view = VersionedStateView(state: state, version: version)
            let executors: InferenceQueries.ExecutorsView
            do {
                executors = try InferenceQueries.executors(model: model, in: view)
            } catch {
                if error.shortDescription == "unknown_model" { throw .notFound("model \"\(model)\" is not registered") }
                throw .internal("\(error)")
            }
            let (_, proof) = try proven(LedgerStateKey.executorSet)
            return QueryResult(
                height: version, key: LedgerStateKey.executorSet, value: InferenceJSON.executors(executors),
                proof: proof)
        case .models, .pricing:
            let view = VersionedStateView(state: state, version: version)
            let models: [InferenceQueries.ModelView]
            let params: ChainParams
            do {
                guard let raw = try state.get(LedgerStateKey.params, atVersion: version),
                    let decoded = try? JSONDecoder().decode(ChainParams.self, from: Data(raw))
                else { throw QueryError.internal("chain parameters are missing from state") }
                params = decoded
                models = try InferenceQueries.models(params: params, in: view)
            } catch let error as QueryError {
                throw error
            } catch {
                throw .internal("state read failed: \(error)")
            }
            let value: JSON =
                path == .models
                ? .array(models.map(InferenceJSON.model))
                : InferenceJSON.pricing(models, params: params)
            return QueryResult(height: version, key: LedgerStateKey.modelPrefix, value: value, proof: .null)
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

/// A committed version of the state tree seen through the ledger's `StateStore` protocol, so the
/// ledger's own query code reads it. Read-only: writes throw.
final class VersionedStateView: StateStore {
    struct ReadOnly: Error, CustomStringConvertible {
        var description: String { "a query view of the state is read-only" }
    }

    let state: AuthenticatedStore
    let version: UInt64

    init(state: AuthenticatedStore, version: UInt64) {
        self.state = state
        self.version = version
    }

    var latestVersion: UInt64? { version }
    var root: Hash { (try? state.root(atVersion: version)) ?? .zero }
    func get(_ key: [UInt8]) throws -> [UInt8]? { try state.get(key, atVersion: version) }
    func set(_ key: [UInt8], _ value: [UInt8]) throws { throw ReadOnly() }
    func delete(_ key: [UInt8]) throws { throw ReadOnly() }
    func entries(withPrefix prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        try state.entries(withPrefix: prefix, atVersion: version).map { (key: $0.key, value: $0.value) }
    }
    func commit(version: UInt64) throws -> Hash { throw ReadOnly() }
    func discardStaged() {}
}

/// The JSON shapes of module Inference's queries (docs/RPC.md).
enum InferenceJSON {
    static func amount(_ ngonka: UInt64) -> JSON { .string(Amount(ngonka: ngonka).description) }

    static func record(_ r: Wire.InferenceRecord) -> JSON {
        .object([
            ("inference_id", .string(r.inferenceID)), ("status", .string(InferenceQueries.statusName(r.status))),
            ("requester", .string(r.requester)), ("transfer_agent", .string(r.transferAgent)),
            ("executor", .string(r.executor)), ("attempt", .uint(UInt64(r.attempt))), ("model", .string(r.model)),
            ("prompt_hash", .string(Hex.encode(r.promptHash))), ("prompt_tokens", .uint(r.promptTokens)),
            ("max_tokens", .uint(r.maxTokens)), ("completion_tokens", .uint(r.completionTokens)),
            ("executor_prompt_tokens", .uint(r.executorPromptTokens)), ("price", amount(r.price)),
            ("escrow", amount(r.escrow)), ("cost", amount(r.cost)), ("refund", amount(r.refund)),
            ("response_commitment", .string(Hex.encode(r.responseCommitment))), ("timestamp", .int(r.timestamp)),
            ("start_height", .uint(r.startHeight)), ("finish_height", .uint(r.finishHeight)),
            ("expiry_height", .uint(r.expiryHeight)), ("epoch", .uint(r.epoch)),
        ])
    }

    static func executors(_ v: InferenceQueries.ExecutorsView) -> JSON {
        .object([
            ("model", .string(v.model)), ("epoch", .uint(v.epoch)), ("epoch_seed", .string(v.epochSeed.hex)),
            (
                "candidates",
                .array(
                    v.candidates.map {
                        .object([("address", .string($0.address.description)), ("weight", .uint($0.weight))])
                    })
            ),
        ])
    }

    static func model(_ m: InferenceQueries.ModelView) -> JSON {
        .object([
            ("id", .string(m.info.id)), ("tokens_per_second_per_weight", .uint(m.info.tokensPerSecondPerWeight)),
            ("weights_hash", .string(m.info.weightsHash)), ("quantization", .string(m.info.quantization)),
            ("context_length", .uint(m.info.contextLength)), ("price_per_token", amount(m.pricePerToken)),
        ])
    }

    static func pricing(_ models: [InferenceQueries.ModelView], params: ChainParams) -> JSON {
        .object([
            (
                "models",
                .array(
                    models.map { m in
                        .object([
                            ("model", .string(m.info.id)), ("price_per_token", amount(m.pricePerToken)),
                            ("price_micro", .uint(m.priceMicro)), ("utilisation_ppm", .uint(m.utilisationPPM)),
                            ("window_tokens", .uint(m.windowTokens)),
                        ])
                    })
            ),
            ("start_price", amount(params.startPrice)), ("min_price", amount(params.minPrice)),
            ("band_low_ppm", .uint(params.priceBandLowPpm)), ("band_high_ppm", .uint(params.priceBandHighPpm)),
            ("elasticity_ppm", .uint(params.priceElasticityPpm)), ("max_step_ppm", .uint(params.priceMaxStepPpm)),
            ("window_seconds", .uint(params.priceWindowSeconds)),
            ("default_max_tokens", .uint(params.defaultMaxTokens)),
        ])
    }
}
