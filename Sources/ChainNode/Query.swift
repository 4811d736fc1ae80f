import ChainRPCTypes
import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf

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
    /// Every validation of an inference and its vote (`/query/validation/{id}`).
    case validation(String)
    /// The validations of epoch E's inferences, all or one validator's (`/query/validations/E[/ADDR]`).
    case validations(epoch: UInt64, validator: Address?)
    /// The sampling snapshot and standings of an epoch (`/query/validation_epoch[/E]`, default: the
    /// epoch inference counts toward now).
    case validationEpoch(UInt64?)
    /// The open votes a revalidator was drawn for and has not cast (`/query/votes/ADDR`).
    case votes(Address)
    /// An epoch's settlement (`/query/settlement[/E]`, default: the last settled epoch).
    case settlement(UInt64?)
    /// A participant's settlements (`/query/rewards/ADDR[/E]`: of epoch E, or the last 100).
    case rewards(Address, epoch: UInt64?)
    /// Governance proposals (`/query/proposals[?status=voting_period]`), in id order.
    case proposals(status: String?)
    /// One proposal with its votes and tally (`/query/proposal/ID`).
    case proposal(UInt64)
    /// The scheduled software upgrade (`/query/upgrade_plan`), or null.
    case upgradePlan
    /// A participant's collateral, jail and liveness window (`/query/collateral/ADDR`, §9).
    case collateral(Address)
    /// The slash log, all or one participant's (`/query/slashes[/ADDR]`, §9).
    case slashes(Address?)

    /// Parses the part after `/query/`; `model` is the `?model=` parameter (for `executors`),
    /// `status` the `?status=` one (for `proposals`).
    public init(parsing segments: [String], model: String? = nil, status: String? = nil) throws(QueryError) {
        switch segments.first {
        case "proposals" where segments.count == 1:
            let known = ["deposit_period", "voting_period", "passed", "rejected", "failed"]
            if let status, !known.contains(status) {
                throw .badRequest("invalid_status", "status must be one of \(known.joined(separator: ", "))")
            }
            self = .proposals(status: status)
        case "proposal" where segments.count == 2:
            guard let id = UInt64(segments[1]) else {
                throw .badRequest("invalid_proposal_id", "\(segments[1]) is not a proposal id")
            }
            self = .proposal(id)
        case "upgrade_plan" where segments.count == 1: self = .upgradePlan
        case "inference", "validation":
            guard segments.count == 2 else { throw .notFound("query path /\(segments.joined(separator: "/"))") }
            let id = segments[1].lowercased()
            guard id.utf8.count == 64, Hex.decode(id) != nil else {
                throw .badRequest("invalid_inference_id", "\(segments[1]) is not a 64-character hex inference id")
            }
            self = segments[0] == "inference" ? .inference(id) : .validation(id)
        case "validations" where segments.count == 2 || segments.count == 3:
            guard let epoch = UInt64(segments[1]) else {
                throw .badRequest("invalid_epoch", "\(segments[1]) is not an epoch number")
            }
            var validator: Address?
            if segments.count == 3 {
                do {
                    validator = try Address(segments[2])
                } catch {
                    throw .badRequest("invalid_address", "\(segments[2]): \(error)")
                }
            }
            self = .validations(epoch: epoch, validator: validator)
        case "validation_epoch" where segments.count <= 2:
            if segments.count == 2 {
                guard let n = UInt64(segments[1]) else {
                    throw .badRequest("invalid_epoch", "\(segments[1]) is not an epoch number")
                }
                self = .validationEpoch(n)
            } else {
                self = .validationEpoch(nil)
            }
        case "votes" where segments.count == 2:
            do {
                self = .votes(try Address(segments[1]))
            } catch {
                throw .badRequest("invalid_address", "\(segments[1]): \(error)")
            }
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
        case "settlement" where segments.count <= 2:
            if segments.count == 2 {
                guard let n = UInt64(segments[1]) else {
                    throw .badRequest("invalid_epoch", "\(segments[1]) is not an epoch number")
                }
                self = .settlement(n)
            } else {
                self = .settlement(nil)
            }
        case "rewards" where segments.count == 2 || segments.count == 3:
            let address: Address
            do {
                address = try Address(segments[1])
            } catch {
                throw .badRequest("invalid_address", "\(segments[1]): \(error)")
            }
            var epoch: UInt64?
            if segments.count == 3 {
                guard let n = UInt64(segments[2]) else {
                    throw .badRequest("invalid_epoch", "\(segments[2]) is not an epoch number")
                }
                epoch = n
            }
            self = .rewards(address, epoch: epoch)
        case "collateral" where segments.count == 2:
            do {
                self = .collateral(try Address(segments[1]))
            } catch {
                throw .badRequest("invalid_address", "\(segments[1]): \(error)")
            }
        case "slashes" where segments.count <= 2:
            if segments.count == 2 {
                do {
                    self = .slashes(try Address(segments[1]))
                } catch {
                    throw .badRequest("invalid_address", "\(segments[1]): \(error)")
                }
            } else {
                self = .slashes(nil)
            }
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

/// The node answers a query with the type the RPC sends and `GonkaClient` reads
/// (`ChainRPCTypes.QueryResult`); its value is one of the record types of `ChainRPCTypes` as JSON
/// (``QueryEngine/value(_:)``), so the node's driver can add to it (`next_sequence`) before it goes
/// out.
extension QueryResult {
    /// The answer for the state key `key` (sent as hex).
    init(height: UInt64, key: [UInt8], value: JSONValue, proof: JSONValue, pruned: String? = nil) {
        self.init(height: height, key: Hex.encode(key), value: value, proof: proof, pruned: pruned)
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
        func proven(_ key: [UInt8]) throws(QueryError) -> (value: [UInt8]?, proof: JSONValue) {
            let found: (value: [UInt8]?, proof: StateProof)
            do {
                found = try state.getWithProof(key, atVersion: version)
            } catch {
                throw .internal("state read failed: \(error)")
            }
            return (found.value, try value(found.proof))
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
                height: version, key: key, value: try value(BalanceRecord(address: address, amount: amount)),
                proof: proof)
        case .account(let address):
            let key = LedgerStateKey.account(address)
            let (raw, proof) = try proven(key)
            var sequence: UInt64 = 0
            var pubKey: String?
            if let raw {
                guard let account = try? Wire.Account(serializedBytes: raw) else {
                    throw .internal("account record does not decode")
                }
                sequence = account.sequence
                if !account.pubkey.isEmpty { pubKey = Hex.encode(account.pubkey) }
            }
            let record = AccountRecord(address: address, sequence: sequence, pubKey: pubKey)
            return QueryResult(height: version, key: key, value: try value(record), proof: proof)
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
            var list: [ParticipantInfo] = []
            for entry in entries {
                guard let p = try? Wire.Participant(serializedBytes: entry.value) else {
                    throw .internal("participant record does not decode")
                }
                let member = weights?.participants.first { $0.address == p.address }
                list.append(
                    ParticipantInfo(
                        address: p.address, url: p.url, consensusPubkey: Hex.encode(p.consensusPubkey),
                        p2pPubkey: Hex.encode(p.p2PPubkey), registeredHeight: p.registeredHeight,
                        // The latest computed weights (epoch), and the power consensus uses now.
                        epoch: weights?.epoch, weight: member?.weight ?? 0, rawWeight: member?.rawWeight ?? 0,
                        status: member?.status ?? "none", validatorPower: power[p.address] ?? 0))
            }
            return QueryResult(
                height: version, key: LedgerStateKey.participantPrefix, value: try value(list), proof: .null)
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
            let breakdown = try RewardReader(state: state, version: version).supplyBreakdown()
            let supply = SupplyRecord(minted: minted, burned: burned, circulating: circulating, rewards: breakdown)
            return QueryResult(height: version, key: LedgerStateKey.minted, value: try value(supply), proof: proof)
        case .epoch(let index):
            return try EpochReader(state: state, version: version).epoch(index, proven: proven)
        case .poc(let address, let p):
            return try EpochReader(state: state, version: version).poc(address, pocStartHeight: p, proven: proven)
        case .inference(let id):
            let key = LedgerStateKey.inferenceRecord(id)
            let (raw, proof) = try proven(key)
            var info = JSONValue.null
            if let raw {
                guard let record = try? Wire.InferenceRecord(serializedBytes: raw) else {
                    throw .internal("inference record does not decode")
                }
                info = try value(InferenceAnswers.record(record))
            }
            let pruned = raw == nil ? try RewardReader(state: state, version: version).prunedInferencesNote() : nil
            return QueryResult(height: version, key: key, value: info, proof: proof, pruned: pruned)
        case .validation(let id):
            let info = try ValidationReader(state: state, version: version).inference(id)
            let pruned =
                info.validations.isEmpty && info.voting == nil
                ? try RewardReader(state: state, version: version).prunedInferencesNote() : nil
            return QueryResult(
                height: version, key: LedgerStateKey.validationRecords(id), value: try value(info), proof: .null,
                pruned: pruned)
        case .validations(let epoch, let validator):
            let list = try ValidationReader(state: state, version: version).validations(
                epoch: epoch, validator: validator)
            return QueryResult(
                height: version, key: LedgerStateKey.validationsByEpoch(epoch), value: try value(list), proof: .null)
        case .validationEpoch(let epoch):
            let params = try EpochReader(state: state, version: version).params()
            let info = try ValidationReader(state: state, version: version).epoch(epoch, params: params)
            return QueryResult(
                height: version, key: LedgerStateKey.validationEpoch(info.epoch), value: try value(info), proof: .null)
        case .votes(let address):
            let list = try ValidationReader(state: state, version: version).pendingVotes(address)
            return QueryResult(height: version, key: LedgerStateKey.openVotes, value: try value(list), proof: .null)
        case .settlement(let epoch):
            let info = try RewardReader(state: state, version: version).epoch(epoch)
            return QueryResult(
                height: version, key: LedgerStateKey.epochSettlement(info.epoch), value: try value(info), proof: .null)
        case .rewards(let address, let epoch):
            let list = try RewardReader(state: state, version: version).settlements(of: address, epoch: epoch)
            return QueryResult(
                height: version, key: LedgerStateKey.settlementPrefix, value: try value(list), proof: .null)
        case .collateral(let address):
            let key = LedgerStateKey.collateral(address)
            let (_, proof) = try proven(key)
            let view = VersionedStateView(state: state, version: version)
            let info: CollateralInfo
            do {
                let ledger = try CollateralQueries.standing(address, in: view)
                info = CollateralInfo(
                    address: address, deposit: Amount(ngonka: ledger.collateral.deposit),
                    unbonding: ledger.collateral.unbonding.map {
                        CollateralInfo.Unbonding(
                            amount: Amount(ngonka: $0.amount), releaseHeight: $0.releaseHeight,
                            requestedHeight: $0.requestedHeight)
                    }, jailed: ledger.signing.jailed, jailedUntil: ledger.signing.jailedUntil,
                    tombstoned: ledger.signing.tombstoned, blocksCounted: ledger.signing.counted,
                    blocksMissed: ledger.signing.missed)
            } catch {
                throw .internal("state read failed: \(error)")
            }
            return QueryResult(height: version, key: key, value: try value(info), proof: proof)
        case .slashes(let address):
            let view = VersionedStateView(state: state, version: version)
            let records: [Wire.SlashRecord]
            do { records = try CollateralQueries.slashes(of: address, in: view) } catch {
                throw .internal("state read failed: \(error)")
            }
            let list = records.map {
                SlashInfo(
                    sequence: $0.sequence, address: $0.address, reason: $0.reason, ppm: $0.ppm,
                    burnedDeposit: Amount(ngonka: $0.burnedDeposit),
                    burnedUnbonding: Amount(ngonka: $0.burnedUnbonding),
                    height: $0.height, offence: $0.offence, jailed: $0.jailed, tombstoned: $0.tombstoned)
            }
            return QueryResult(height: version, key: LedgerStateKey.slashPrefix, value: try value(list), proof: .null)
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
            let misses = MissesInfo(
                address: address, reported: miss.reported, expired: miss.expired, total: miss.reported &+ miss.expired,
                lastHeight: miss.lastHeight)
            return QueryResult(height: version, key: key, value: try value(misses), proof: proof)
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
                height: version, key: LedgerStateKey.executorSet,
                value: try value(InferenceAnswers.executors(executors)), proof: proof)
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
            let answer: JSONValue =
                path == .models
                ? try value(models.map(InferenceAnswers.model))
                : try value(InferenceAnswers.pricing(models, params: params))
            return QueryResult(height: version, key: LedgerStateKey.modelPrefix, value: answer, proof: .null)
        case .proposals, .proposal, .upgradePlan:
            return try GovernanceReader(state: state, version: version).answer(path)
        case .params:
            let (raw, proof) = try proven(LedgerStateKey.params)
            // The parameters as stored (genesis.json's), so fields this node does not know pass too.
            guard let raw, let params = try? JSONValue(parsing: raw) else {
                throw .internal("chain parameters are missing from state")
            }
            return QueryResult(height: version, key: LedgerStateKey.params, value: params, proof: proof)
        }
    }

    /// `record` (a `ChainRPCTypes` record) as the query's JSON value.
    static func value(_ record: some Encodable) throws(QueryError) -> JSONValue {
        guard let value = JSONValue(encoding: record) else { throw .internal("\(type(of: record)) does not encode") }
        return value
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

/// Module Inference's records as the RPC's types (docs/RPC.md).
enum InferenceAnswers {
    static func amount(_ ngonka: UInt64) -> Amount { Amount(ngonka: ngonka) }

    static func record(_ r: Wire.InferenceRecord) -> InferenceRecordInfo {
        InferenceRecordInfo(
            inferenceID: r.inferenceID, status: InferenceQueries.statusName(r.status), requester: r.requester,
            transferAgent: r.transferAgent, executor: r.executor, attempt: r.attempt, model: r.model,
            promptHash: Hex.encode(r.promptHash), promptTokens: r.promptTokens, maxTokens: r.maxTokens,
            completionTokens: r.completionTokens, executorPromptTokens: r.executorPromptTokens,
            price: amount(r.price), escrow: amount(r.escrow), cost: amount(r.cost), refund: amount(r.refund),
            responseCommitment: Hex.encode(r.responseCommitment), timestamp: r.timestamp, startHeight: r.startHeight,
            finishHeight: r.finishHeight, expiryHeight: r.expiryHeight, epoch: r.epoch)
    }

    static func executors(_ v: InferenceQueries.ExecutorsView) -> ExecutorsInfo {
        ExecutorsInfo(
            model: v.model, epoch: v.epoch, epochSeed: v.epochSeed.hex,
            candidates: v.candidates.map { ExecutorsInfo.Candidate(address: $0.address, weight: $0.weight) })
    }

    static func model(_ m: InferenceQueries.ModelView) -> ModelRecord {
        ModelRecord(
            id: m.info.id, tokensPerSecondPerWeight: m.info.tokensPerSecondPerWeight, weightsHash: m.info.weightsHash,
            quantization: m.info.quantization, contextLength: m.info.contextLength,
            pricePerToken: amount(m.pricePerToken), validationThresholdPpm: m.info.validationThresholdPpm,
            sampler: m.info.sampler.isEmpty ? "native" : m.info.sampler)
    }

    static func pricing(_ models: [InferenceQueries.ModelView], params: ChainParams) -> PricingInfo {
        PricingInfo(
            models: models.map { m in
                PricingInfo.ModelPrice(
                    model: m.info.id, pricePerToken: amount(m.pricePerToken), priceMicro: m.priceMicro,
                    utilisationPPM: m.utilisationPPM, windowTokens: m.windowTokens)
            }, startPrice: amount(params.startPrice), minPrice: amount(params.minPrice),
            bandLowPPM: params.priceBandLowPpm, bandHighPPM: params.priceBandHighPpm,
            elasticityPPM: params.priceElasticityPpm, maxStepPPM: params.priceMaxStepPpm,
            windowSeconds: params.priceWindowSeconds, defaultMaxTokens: params.defaultMaxTokens)
    }
}
