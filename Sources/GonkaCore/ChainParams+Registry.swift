/// The one typed registry of chain parameters (PROTOCOL §12): each parameter's name (its path in
/// the `params` JSON of genesis and `GET /query/params`), type, bounds and when a change by
/// governance (`ParamChange`, PROTOCOL §10) takes effect, or that it is genesis-only.
///
/// Adding a parameter is one entry in ``registry``: governance, `gonka query params` and the
/// proposal checks all read this table.
extension ChainParams {
    /// When a governed change of a parameter takes effect.
    public enum Effect: String, Sendable, Hashable, CaseIterable {
        /// From the block after the tally.
        case nextBlock = "next_block"
        /// From the first block of the next epoch (values an epoch fixes at its start: PoC
        /// targets, sampling inputs, the validator set's size).
        case nextEpoch = "next_epoch"
        /// Fixed at genesis: a proposal that names it is refused (changing it would rewrite the
        /// past, e.g. which epoch a height belongs to).
        case genesisOnly = "genesis_only"
    }

    /// A parameter's value type as a `ParamChange` writes it: a JSON integer or a JSON string.
    public enum ValueType: String, Sendable, Hashable {
        case integer
        case string
    }

    /// One entry of the registry.
    public struct Parameter {
        public let name: String
        public let type: ValueType
        /// Inclusive bounds of an integer parameter.
        public let bounds: ClosedRange<UInt64>
        public let effect: Effect
        /// One line: what it is and its unit.
        public let summary: String
        fileprivate let access: Access

        public var isGovernable: Bool { effect != .genesisOnly }

        /// The current value in `params` as JSON text (`200`, `"devnet"`).
        public func value(in params: ChainParams) -> String {
            switch access {
            case .integer(let path): String(params[keyPath: path])
            case .string(let path): JSONValue.string(params[keyPath: path]).rendered
            }
        }
    }

    fileprivate enum Access {
        case integer(WritableKeyPath<ChainParams, UInt64>)
        case string(WritableKeyPath<ChainParams, String>)
    }

    /// Why a parameter change is refused (PROTOCOL §10 bad input): each case says which rule failed.
    public struct ChangeError: Error, Hashable, Sendable, CustomStringConvertible {
        public enum Reason: String, Sendable, Hashable {
            case unknown = "unknown_parameter"
            case genesisOnly = "genesis_only_parameter"
            case wrongType = "wrong_type"
            case outOfBounds = "out_of_bounds"
            case inconsistent = "inconsistent_parameters"
        }
        public let reason: Reason
        public let description: String

        public init(reason: Reason, description: String) {
            self.reason = reason
            self.description = description
        }
    }

    /// Every parameter, in the order `gonka query params` shows them.
    public static var registry: [Parameter] {
        let million: UInt64 = 1_000_000
        let billion: UInt64 = 1_000_000_000
        func int(
            _ name: String, _ path: WritableKeyPath<ChainParams, UInt64>, _ bounds: ClosedRange<UInt64>,
            _ effect: Effect, _ summary: String
        ) -> Parameter {
            Parameter(
                name: name, type: .integer, bounds: bounds, effect: effect, summary: summary, access: .integer(path))
        }
        func text(
            _ name: String, _ path: WritableKeyPath<ChainParams, String>, _ effect: Effect, _ summary: String
        ) -> Parameter {
            Parameter(name: name, type: .string, bounds: 0...0, effect: effect, summary: summary, access: .string(path))
        }
        return [
            // chain (§3)
            int("max_tx_bytes", \.maxTxBytes, 256...4_194_304, .nextBlock, "largest transaction, bytes"),
            int("min_gas_price", \.minGasPrice, 0...million, .nextBlock, "user-tx fee floor, ngonka per tx byte"),
            int("max_validators", \.maxValidators, 1...1_000, .nextEpoch, "validators in the active set"),
            int(
                "max_duty_txs_per_block", \.maxDutyTxsPerBlock, 1...100_000, .nextBlock,
                "free duty txs per participant per block"),
            int("max_memo_bytes", \.maxMemoBytes, 0...4_096, .nextBlock, "longest memo, bytes"),
            int("max_messages_per_tx", \.maxMessagesPerTx, 1...1_024, .nextBlock, "messages in one transaction"),
            // epochs and PoC (§4, §5): the schedule is a function of the height, so genesis-only.
            int("epochs.epoch_length", \.epochs.epochLength, 8...UInt64(UInt32.max), .genesisOnly, "blocks per epoch"),
            int(
                "epochs.seed_commit_offset", \.epochs.seedCommitOffset, 0...UInt64(UInt32.max), .genesisOnly,
                "stage offset from P"),
            int(
                "epochs.generation_end", \.epochs.generationEnd, 2...UInt64(UInt32.max), .genesisOnly,
                "stage offset from P"),
            int(
                "epochs.exchange_end", \.epochs.exchangeEnd, 2...UInt64(UInt32.max), .genesisOnly, "stage offset from P"
            ),
            int(
                "epochs.validation_start", \.epochs.validationStart, 2...UInt64(UInt32.max), .genesisOnly,
                "stage offset from P"),
            int(
                "epochs.validation_end", \.epochs.validationEnd, 3...UInt64(UInt32.max), .genesisOnly,
                "stage offset from P"),
            int(
                "epochs.weights_offset", \.epochs.weightsOffset, 3...UInt64(UInt32.max), .genesisOnly,
                "stage offset from P"),
            int(
                "epochs.switch_offset", \.epochs.switchOffset, 5...UInt64(UInt32.max), .genesisOnly,
                "stage offset from P"),
            int(
                "epochs.claim_offset", \.epochs.claimOffset, 6...UInt64(UInt32.max), .genesisOnly, "stage offset from P"
            ),
            text("epochs.poc_model", \.epochs.pocModel, .genesisOnly, "PoC model preset"),
            int(
                "epochs.r_target_nano", \.epochs.rTargetNano, 1...10 * billion, .nextEpoch,
                "PoC distance target, nano units"),
            int(
                "epochs.poc_validation_sample", \.epochs.pocValidationSample, 1...100_000, .nextEpoch,
                "nonces sampled per participant"),
            int(
                "epochs.poc_fraud_min_mismatches", \.epochs.pocFraudMinMismatches, 1...100_000, .nextEpoch,
                "mismatches that make fraud"),
            int("epochs.poc_mismatch_rate_ppb", \.epochs.pocMismatchRatePpb, 0...billion, .nextEpoch, "PoC p0, ppb"),
            int(
                "epochs.poc_fraud_threshold_ppb", \.epochs.pocFraudThresholdPpb, 0...billion, .nextEpoch,
                "PoC tail threshold, ppb"),
            int(
                "epochs.max_poc_batch_nonces", \.epochs.maxPocBatchNonces, 1...million, .nextEpoch,
                "nonces per PoC batch"),
            int(
                "epochs.max_individual_power_ppm", \.epochs.maxIndividualPowerPpm, 1...million, .genesisOnly,
                "power cap, ppm"),
            // inference and pricing (§6)
            int(
                "default_max_tokens", \.defaultMaxTokens, 1...million, .nextBlock,
                "max_tokens when a request names none"),
            int(
                "inference_expiry_blocks", \.inferenceExpiryBlocks, 1...100_000, .nextBlock,
                "blocks until an unfinished inference expires"),
            int("max_attempts", \.maxAttempts, 1...100, .nextBlock, "attempts per inference"),
            int(
                "request_max_age_seconds", \.requestMaxAgeSeconds, 1...3_600, .nextBlock,
                "request timestamp window behind, s"),
            int(
                "request_max_future_seconds", \.requestMaxFutureSeconds, 1...3_600, .nextBlock,
                "request timestamp window ahead, s"),
            int(
                "start_price", \.startPrice, 1...million * million, .nextBlock,
                "price a new model starts at, ngonka/token"),
            int("min_price", \.minPrice, 1...million * million, .nextBlock, "price floor, ngonka/token"),
            int("price_band_low_ppm", \.priceBandLowPpm, 0...million, .nextBlock, "utilisation band low, ppm"),
            int("price_band_high_ppm", \.priceBandHighPpm, 0...million, .nextBlock, "utilisation band high, ppm"),
            int("price_elasticity_ppm", \.priceElasticityPpm, 0...million, .nextBlock, "price elasticity, ppm"),
            int(
                "price_max_step_ppm", \.priceMaxStepPpm, 0...(million - 1), .nextBlock,
                "largest price step per block, ppm"),
            int("price_window_seconds", \.priceWindowSeconds, 1...86_400, .nextBlock, "utilisation window, s"),
            // validation (§7): what an epoch's sampling and sequential test fix at its start
            int(
                "validation.traffic_full_cutoff", \.validation.trafficFullCutoff, 1...billion, .nextEpoch,
                "traffic cutoff"),
            int(
                "validation.traffic_halfway_cutoff", \.validation.trafficHalfwayCutoff, 1...billion, .nextEpoch,
                "traffic cutoff"),
            int(
                "validation.traffic_min_cutoff", \.validation.trafficMinCutoff, 0...billion, .nextEpoch,
                "traffic cutoff"),
            int(
                "validation.min_validation_average_ppm", \.validation.minValidationAveragePpm, 0...million, .nextEpoch,
                "ppm"),
            int(
                "validation.halfway_validation_average_ppm", \.validation.halfwayValidationAveragePpm, 0...million,
                .nextEpoch, "ppm"),
            int(
                "validation.max_validation_average_ppm", \.validation.maxValidationAveragePpm, 0...million, .nextEpoch,
                "ppm"),
            int(
                "validation.epochs_to_max_reputation", \.validation.epochsToMaxReputation, 1...10_000, .nextEpoch,
                "epochs"),
            int("validation.max_clean_miss_rate_ppm", \.validation.maxCleanMissRatePpm, 0...million, .nextEpoch, "ppm"),
            int(
                "validation.honest_fail_rate_ppb", \.validation.honestFailRatePpb, 1...(billion - 1), .nextEpoch,
                "SPRT P0, ppb"),
            int(
                "validation.cheater_fail_rate_ppb", \.validation.cheaterFailRatePpb, 1...(billion - 1), .nextEpoch,
                "SPRT P1, ppb"),
            int(
                "validation.false_conviction_rate_ppb", \.validation.falseConvictionRatePpb, 1...(billion - 1),
                .nextEpoch, "SPRT alpha, ppb"),
            int("validation.position_ceiling_ppm", \.validation.positionCeilingPpm, 1...million, .nextEpoch, "ppm"),
            int("validation.sampler_margin_ppm", \.validation.samplerMarginPpm, 0...(million - 1), .nextEpoch, "ppm"),
            int(
                "validation.likelihood_margin_ppm", \.validation.likelihoodMarginPpm, 0...100 * million, .nextEpoch,
                "millionths of a standard error"),
            int("validation.opaque_margin_ppm", \.validation.opaqueMarginPpm, 0...(million - 1), .nextEpoch, "ppm"),
            int("validation.revalidators", \.validation.revalidators, 1...100, .nextBlock, "revalidators per failure"),
            int(
                "validation.invalidation_vote_blocks", \.validation.invalidationVoteBlocks, 1...100_000, .nextBlock,
                "blocks of a revalidation vote"),
            // rewards (§8)
            int(
                "rewards.initial_epoch_reward", \.rewards.initialEpochReward, 0...billion * billion, .nextEpoch,
                "R0 of §8.2, ngonka"),
            int(
                "rewards.issuance_decay_micro", \.rewards.issuanceDecayMicro, 0...million, .nextEpoch,
                "−λ of §8.2, millionths per epoch"),
            int(
                "rewards.training_fund_share_ppm", \.rewards.trainingFundSharePpm, 0...million, .nextEpoch,
                "share of settled inference costs, ppm"),
            int(
                "rewards.validator_share_ppm", \.rewards.validatorSharePpm, 0...million, .nextEpoch,
                "validators' share of a passed inference's cost, ppm"),
            int(
                "rewards.reference_decay_ppm", \.rewards.referenceDecayPpm, 0...million, .nextEpoch,
                "largest fall of W_ref per epoch, ppm"),
            int(
                "rewards.claim_window_epochs", \.rewards.claimWindowEpochs, 1...1_000, .nextEpoch,
                "epochs a settlement may be claimed in"),
            int(
                "rewards.reward_vesting_epochs", \.rewards.rewardVestingEpochs, 0...0, .genesisOnly,
                "vesting is not implemented: 0"),
            // governance (§10)
            int("governance.min_deposit", \.governance.minDeposit, 1...billion * billion, .nextBlock, "ngonka"),
            int(
                "governance.expedited_min_deposit", \.governance.expeditedMinDeposit, 1...billion * billion, .nextBlock,
                "ngonka"),
            int(
                "governance.min_initial_deposit_ppm", \.governance.minInitialDepositPpm, 0...million, .nextBlock,
                "ppm of the minimum"),
            int(
                "governance.max_deposit_period_blocks", \.governance.maxDepositPeriodBlocks, 1...10_000_000, .nextBlock,
                "blocks"),
            int(
                "governance.voting_period_blocks", \.governance.votingPeriodBlocks, 2...10_000_000, .nextBlock, "blocks"
            ),
            int(
                "governance.expedited_voting_period_blocks", \.governance.expeditedVotingPeriodBlocks, 1...10_000_000,
                .nextBlock, "blocks"),
            int("governance.quorum_ppm", \.governance.quorumPpm, 1...million, .nextBlock, "turnout, ppm"),
            int(
                "governance.threshold_ppm", \.governance.thresholdPpm, 1...(million - 1), .nextBlock,
                "yes share of non-abstain, ppm"),
            int(
                "governance.expedited_threshold_ppm", \.governance.expeditedThresholdPpm, 1...(million - 1), .nextBlock,
                "ppm"),
            int(
                "governance.veto_threshold_ppm", \.governance.vetoThresholdPpm, 1...million, .nextBlock,
                "veto share, ppm"),
        ]
    }

    /// The registry entry called `name`, or `nil`.
    public static func parameter(_ name: String) -> Parameter? {
        registry.first { $0.name == name }
    }

    /// Checks one change against the registry without applying it: the parameter exists, is
    /// governable, and `value` (JSON text) has its type and lies within its bounds.
    public static func checkChange(name: String, value: String) throws(ChangeError) -> Parameter {
        guard let parameter = parameter(name) else {
            throw ChangeError(reason: .unknown, description: "no parameter \"\(name)\" (see `gonka query params`)")
        }
        guard parameter.isGovernable else {
            throw ChangeError(reason: .genesisOnly, description: "\(name) is genesis-only and cannot be changed")
        }
        _ = try parsed(parameter, value)
        return parameter
    }

    /// These parameters with `value` (JSON text) written into `name`, checked as ``checkChange``
    /// does. Cross-parameter rules are checked by the caller on the final set (``problem``).
    public func setting(_ name: String, to value: String) throws(ChangeError) -> ChainParams {
        let parameter = try Self.checkChange(name: name, value: value)
        var out = self
        switch (parameter.access, try Self.parsed(parameter, value)) {
        case (.integer(let path), .integer(let n)): out[keyPath: path] = n
        case (.string(let path), .string(let s)): out[keyPath: path] = s
        default: throw ChangeError(reason: .wrongType, description: "\(name) expects a JSON \(parameter.type.rawValue)")
        }
        return out
    }

    private enum Parsed {
        case integer(UInt64)
        case string(String)
    }

    private static func parsed(_ parameter: Parameter, _ value: String) throws(ChangeError) -> Parsed {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: value)
        } catch {
            throw ChangeError(reason: .wrongType, description: "\(parameter.name): value is not JSON: \(error)")
        }
        switch (parameter.type, json) {
        case (.integer, .uint(let n)):
            return try bounded(parameter, n)
        case (.integer, .int(let n)) where n >= 0:
            return try bounded(parameter, UInt64(n))
        case (.integer, .int):
            throw ChangeError(
                reason: .outOfBounds,
                description:
                    "\(parameter.name) = \(value) is outside \(parameter.bounds.lowerBound)…\(parameter.bounds.upperBound)"
            )
        case (.string, .string(let s)) where !s.isEmpty && s.utf8.count <= 64:
            return .string(s)
        default:
            throw ChangeError(
                reason: .wrongType,
                description: "\(parameter.name) expects a JSON \(parameter.type.rawValue), got \(value)")
        }
    }

    private static func bounded(_ parameter: Parameter, _ n: UInt64) throws(ChangeError) -> Parsed {
        guard parameter.bounds.contains(n) else {
            throw ChangeError(
                reason: .outOfBounds,
                description:
                    "\(parameter.name) = \(n) is outside \(parameter.bounds.lowerBound)…\(parameter.bounds.upperBound)")
        }
        return .integer(n)
    }

    /// Why these parameters cannot run a chain (rules across parameters), or `nil` when they can.
    /// Genesis and every `ParamChange` check it.
    public var problem: String? {
        if maxTxBytes < 256 { return "max_tx_bytes must be at least 256" }
        if let problem = epochs.problem { return "epochs: \(problem)" }
        if let problem = validation.problem { return "validation: \(problem)" }
        if let problem = governance.problem { return problem }
        if let problem = rewards.problem { return "rewards: \(problem)" }
        if !(minPrice > 0 && startPrice >= minPrice && startPrice <= 1_000_000_000_000) {
            return "min_price must be positive and start_price between min_price and 10^12"
        }
        if !(maxAttempts > 0 && maxAttempts <= UInt64(UInt32.max)) { return "max_attempts must be 1…\(UInt32.max)" }
        if !(priceBandLowPpm <= priceBandHighPpm && priceMaxStepPpm < 1_000_000 && priceWindowSeconds > 0
            && inferenceExpiryBlocks > 0)
        {
            return "price band low must not exceed high, max step < 100%, window and expiry positive"
        }
        return nil
    }
}
