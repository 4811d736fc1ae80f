import Foundation
import GonkaCore

/// The chain's starting state, read from `genesis.json`: chain id, parameters, funded accounts and
/// the first validators (who are also the first participants).
public struct Genesis: Codable, Hashable, Sendable {
    public var chainID: String
    /// RFC 3339 time of the first block; informational for the ledger, used by consensus.
    public var genesisTime: String
    public var params: ChainParams
    public var accounts: [Account]
    public var moduleAccounts: [ModuleAccount]
    public var validators: [Validator]
    /// The models inference may be requested for (PROTOCOL §6.2, §10 `RegisterModel`). Optional in
    /// JSON so older genesis files decode (no models: every Start is refused as `unknown_model`).
    public var models: [Model]

    /// A registered model.
    public struct Model: Codable, Hashable, Sendable {
        /// The id requests name (what the ML node reports in `/v1/models`).
        public var id: String
        /// Declared throughput per unit of weight; the price's capacity (§6.5) is this × the weight
        /// of the participants serving the model.
        public var tokensPerSecondPerWeight: UInt64
        public var weightsHash: String
        public var quantization: String
        public var contextLength: UInt64
        /// §7.2 test 2's `validation_threshold` on the corrected mean distance, parts per million,
        /// calibrated by `gonka bench validation` (docs/VALIDATION.md § Measured thresholds).
        public var validationThresholdPpm: UInt64
        /// `native` or `opaque`: whether validators replay the engine's sampler (§7.2 test 3) or
        /// run the likelihood test (test 4).
        public var sampler: String

        /// The threshold a model gets when its genesis entry names none.
        public static let defaultValidationThresholdPpm: UInt64 = 50_000

        /// The embedded devnet model: `gonka mlnode start` and the embedded ML node serve it under
        /// its file name without `.gguf` (`SmolLM2-135M-Instruct.Q4_1.gguf`). Its
        /// `validation_threshold` of 1,000 ppm is measured (`gonka bench validation`,
        /// docs/VALIDATION.md § Measured thresholds): honest pairs reach at most 163 ppm, the
        /// coarser-quantised and layer-removed models a median of 105,000 and 84,000.
        public static let devnetDefault = Model(
            id: "SmolLM2-135M-Instruct.Q4_1", tokensPerSecondPerWeight: 1, quantization: "Q4_1", contextLength: 8192,
            validationThresholdPpm: 1_000)

        enum CodingKeys: String, CodingKey {
            case id, quantization
            case tokensPerSecondPerWeight = "tokens_per_second_per_weight"
            case weightsHash = "weights_hash"
            case contextLength = "context_length"
            case validationThresholdPpm = "validation_threshold_ppm"
            case sampler
        }

        public init(
            id: String, tokensPerSecondPerWeight: UInt64, weightsHash: String = "", quantization: String = "",
            contextLength: UInt64 = 0, validationThresholdPpm: UInt64 = Model.defaultValidationThresholdPpm,
            sampler: String = "native"
        ) {
            self.id = id
            self.tokensPerSecondPerWeight = tokensPerSecondPerWeight
            self.weightsHash = weightsHash
            self.quantization = quantization
            self.contextLength = contextLength
            self.validationThresholdPpm = validationThresholdPpm
            self.sampler = sampler
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            tokensPerSecondPerWeight = try c.decode(UInt64.self, forKey: .tokensPerSecondPerWeight)
            weightsHash = try c.decodeIfPresent(String.self, forKey: .weightsHash) ?? ""
            quantization = try c.decodeIfPresent(String.self, forKey: .quantization) ?? ""
            contextLength = try c.decodeIfPresent(UInt64.self, forKey: .contextLength) ?? 0
            validationThresholdPpm =
                try c.decodeIfPresent(UInt64.self, forKey: .validationThresholdPpm)
                ?? Model.defaultValidationThresholdPpm
            sampler = try c.decodeIfPresent(String.self, forKey: .sampler) ?? "native"
        }

        /// 1–128 printable ASCII characters without spaces or `/` (ids travel in URL paths).
        public static func isValidID(_ id: String) -> Bool {
            !id.isEmpty && id.utf8.count <= 128
                && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") }
        }
    }

    public struct Account: Codable, Hashable, Sendable {
        public var address: Address
        public var balance: Amount
        public init(address: Address, balance: Amount) {
            self.address = address
            self.balance = balance
        }
    }

    public struct ModuleAccount: Codable, Hashable, Sendable {
        public var name: String
        public var balance: Amount
        public init(name: String, balance: Amount) {
            self.name = name
            self.balance = balance
        }
    }

    public struct Validator: Codable, Hashable, Sendable {
        public var name: String
        /// The participant's account address (its cold key).
        public var address: Address
        public var url: String
        /// Hex of the 32-byte Ed25519 consensus key.
        public var consensusPubkey: String
        /// Hex of the 32-byte Ed25519 p2p node key.
        public var p2pPubkey: String
        /// Genesis voting power (epoch 0 weight).
        public var power: UInt64

        enum CodingKeys: String, CodingKey {
            case name, address, url, power
            case consensusPubkey = "consensus_pubkey"
            case p2pPubkey = "p2p_pubkey"
        }

        public init(
            name: String, address: Address, url: String, consensusPubkey: String, p2pPubkey: String, power: UInt64
        ) {
            self.name = name
            self.address = address
            self.url = url
            self.consensusPubkey = consensusPubkey
            self.p2pPubkey = p2pPubkey
            self.power = power
        }
    }

    enum CodingKeys: String, CodingKey {
        case params, accounts, validators, models
        case chainID = "chain_id"
        case genesisTime = "genesis_time"
        case moduleAccounts = "module_accounts"
    }

    public init(
        chainID: String, genesisTime: String, params: ChainParams = .devnet, accounts: [Account] = [],
        moduleAccounts: [ModuleAccount] = [], validators: [Validator] = [], models: [Model] = []
    ) {
        self.chainID = chainID
        self.genesisTime = genesisTime
        self.params = params
        self.accounts = accounts
        self.moduleAccounts = moduleAccounts
        self.validators = validators
        self.models = models
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        chainID = try c.decode(String.self, forKey: .chainID)
        genesisTime = try c.decode(String.self, forKey: .genesisTime)
        params = try c.decodeIfPresent(ChainParams.self, forKey: .params) ?? .devnet
        accounts = try c.decodeIfPresent([Account].self, forKey: .accounts) ?? []
        moduleAccounts = try c.decodeIfPresent([ModuleAccount].self, forKey: .moduleAccounts) ?? []
        validators = try c.decodeIfPresent([Validator].self, forKey: .validators) ?? []
        models = try c.decodeIfPresent([Model].self, forKey: .models) ?? []
    }

    /// Decodes and validates a genesis file's bytes; every problem is a `LedgerError` saying what.
    public static func decode(json: some DataProtocol) throws(LedgerError) -> Genesis {
        let genesis: Genesis
        do {
            genesis = try JSONDecoder().decode(Genesis.self, from: Data(json))
        } catch let DecodingError.dataCorrupted(context) {
            throw .genesis(Self.describe(context))
        } catch let DecodingError.keyNotFound(key, context) {
            throw .genesis("missing field \"\(key.stringValue)\"\(Self.path(context))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw .genesis("wrong type: \(Self.describe(context))")
        } catch let DecodingError.valueNotFound(_, context) {
            throw .genesis("missing value: \(Self.describe(context))")
        } catch {
            throw .genesis("not valid JSON: \(error)")
        }
        try genesis.validate()
        return genesis
    }

    /// Pretty JSON with sorted keys (stable, diff-friendly).
    public func encodedJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Checks everything the ledger relies on before it writes a single key.
    public func validate() throws(LedgerError) {
        guard Self.isValidChainID(chainID) else {
            throw .genesis("chain_id \"\(chainID)\" must be 1–50 characters of a-z, 0-9, '-', '_' or '.'")
        }
        guard params.maxTxBytes >= 256 else { throw .genesis("params.max_tx_bytes must be at least 256") }
        if let problem = params.epochs.problem { throw .genesis("params.epochs: \(problem)") }
        if let problem = params.validation.problem { throw .genesis("params.validation: \(problem)") }
        if let problem = params.collateral.problem { throw .genesis("params.collateral: \(problem)") }
        if let problem = params.slashing.problem { throw .genesis("params.slashing: \(problem)") }
        var total = Amount.zero
        var seen = Set<Address>()
        for account in accounts {
            guard seen.insert(account.address).inserted else {
                throw .genesis("account \(account.address) is listed twice")
            }
            guard !Bank.moduleAddresses.contains(account.address) else {
                throw .genesis("account \(account.address) is a module account: list it under module_accounts")
            }
            do { total = try total.adding(account.balance) } catch { throw .genesis("total supply overflows") }
        }
        var seenModules = Set<String>()
        for module in moduleAccounts {
            guard Bank.ModuleAccount(rawValue: module.name) != nil else {
                let known = Bank.ModuleAccount.allCases.map(\.rawValue).joined(separator: ", ")
                throw .genesis("unknown module account \"\(module.name)\" (known: \(known))")
            }
            guard seenModules.insert(module.name).inserted else {
                throw .genesis("module account \(module.name) is listed twice")
            }
            do { total = try total.adding(module.balance) } catch { throw .genesis("total supply overflows") }
        }
        guard !validators.isEmpty else { throw .genesis("at least one validator is needed") }
        var validatorAddresses = Set<Address>()
        var consensusKeys = Set<String>()
        for validator in validators {
            guard validatorAddresses.insert(validator.address).inserted else {
                throw .genesis("validator \(validator.address) is listed twice")
            }
            guard validator.power > 0 else { throw .genesis("validator \(validator.name) has power 0") }
            for (field, hex) in [("consensus_pubkey", validator.consensusPubkey), ("p2p_pubkey", validator.p2pPubkey)] {
                guard let raw = Hex.decode(hex), (try? PublicKey(bytes: raw)) != nil else {
                    throw .genesis("validator \(validator.name): \(field) is not a 32-byte Ed25519 key in hex")
                }
            }
            guard consensusKeys.insert(validator.consensusPubkey.lowercased()).inserted else {
                throw .genesis("validator \(validator.name) reuses another validator's consensus key")
            }
            do {
                try Participants.validateURL(validator.url)
            } catch {
                throw .genesis("validator \(validator.name): \(error)")
            }
        }
        var modelIDs = Set<String>()
        for model in models {
            guard Model.isValidID(model.id) else {
                throw .genesis("model id \"\(model.id)\" must be 1–128 printable characters without spaces, '/' or '?'")
            }
            guard modelIDs.insert(model.id).inserted else { throw .genesis("model \(model.id) is listed twice") }
            guard model.tokensPerSecondPerWeight > 0 else {
                throw .genesis("model \(model.id): tokens_per_second_per_weight must be positive")
            }
            guard (1...1_000_000).contains(model.validationThresholdPpm) else {
                throw .genesis("model \(model.id): validation_threshold_ppm must be 1…1,000,000")
            }
            guard ["native", "opaque"].contains(model.sampler) else {
                throw .genesis("model \(model.id): sampler must be \"native\" or \"opaque\", not \"\(model.sampler)\"")
            }
        }
        guard params.minPrice > 0, params.startPrice >= params.minPrice, params.startPrice <= 1_000_000_000_000 else {
            throw .genesis("params: min_price must be positive and start_price between min_price and 10^12")
        }
        guard params.maxAttempts > 0, params.maxAttempts <= UInt64(UInt32.max) else {
            throw .genesis("params.max_attempts must be 1…\(UInt32.max)")
        }
        guard params.priceBandLowPpm <= params.priceBandHighPpm, params.priceMaxStepPpm < 1_000_000,
            params.priceWindowSeconds > 0, params.inferenceExpiryBlocks > 0
        else {
            throw .genesis(
                "params: price band low must not exceed high, max step < 100%, window and expiry positive")
        }
        guard UInt64(validators.count) <= params.maxValidators else {
            throw .genesis("\(validators.count) validators, more than max_validators \(params.maxValidators)")
        }
    }

    /// 1–50 characters of `a-z 0-9 - _ .`.
    public static func isValidChainID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 50
            && id.utf8.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
            }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return path.isEmpty ? "" : " at \(path)"
    }

    private static func describe(_ context: DecodingError.Context) -> String {
        var text = context.debugDescription
        if let underlying = context.underlyingError { text += " (\(underlying))" }
        return text + path(context)
    }
}
