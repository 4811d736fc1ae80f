import Foundation
import GonkaCore
import GonkaWire

/// The proposal kinds of PROTOCOL §10: what each checks when it is submitted (bad input is refused
/// before any deposit moves) and what it does when it passes. Execution checks everything again
/// before it writes anything, so a proposal whose execution fails (a fund that shrank, a model
/// registered meanwhile) changes nothing and ends FAILED.
enum GovernanceContent {
    /// The kind's name, as events and the CLI show it.
    static func kind(_ content: Wire.ProposalContent) -> String {
        switch content.kind {
        case .text: "text"
        case .paramChange: "param_change"
        case .trainingFundSpend: "training_fund_spend"
        case .communityPoolSpend: "community_pool_spend"
        case .registerModel: "register_model"
        case .retireModel: "retire_model"
        case .softwareUpgrade: "software_upgrade"
        case nil: "none"
        }
    }

    /// Checks `content` as submitted at `height`; returns its kind.
    static func check(
        _ content: Wire.ProposalContent, height: UInt64, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> String {
        switch content.kind {
        case .text: break
        case .paramChange(let change): _ = try planParams(change.changes, params: params, pending: [])
        case .trainingFundSpend(let spend): try checkSpend(spend, from: .trainingFund, state: state)
        case .communityPoolSpend(let spend): try checkSpend(spend, from: .communityPool, state: state)
        case .registerModel(let register): try checkRegister(register.model, state: state)
        case .retireModel(let retire):
            guard try Inference.modelInfo(retire.modelID, in: state) != nil else {
                throw .unknownModel(retire.modelID)
            }
        case .softwareUpgrade(let upgrade): try checkUpgrade(upgrade, height: height)
        case nil: throw .invalidProposal("content names no proposal kind")
        }
        return kind(content)
    }

    struct Executed {
        var events: [LedgerEvent] = []
        var paramsChanged = false
    }

    /// Carries out a passed proposal at the end of block `context.height`.
    static func execute(
        _ proposal: Wire.GovProposal, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> Executed {
        var out = Executed()
        switch proposal.content.kind {
        case .text, nil: break
        case .paramChange(let change):
            let current = try ParamsRecord.read(in: state)
            let pending = try Governance.pendingParams(in: state)?.changes ?? []
            let plan = try planParams(change.changes, params: current, pending: pending)
            if !plan.nextBlock.isEmpty {
                try ParamsRecord.write(plan.paramsNow, in: state)
                out.paramsChanged = true
                out.events += plan.nextBlock.map { .paramChanged(name: $0.name, value: $0.value) }
            }
            if !plan.nextEpoch.isEmpty {
                var record = Wire.PendingParamChanges()
                record.changes = pending + plan.nextEpoch
                try state.setRecord(record, at: StateKey.pendingParams)
            }
        case .trainingFundSpend(let spend):
            out.events.append(try paySpend(spend, from: .trainingFund, state: state))
        case .communityPoolSpend(let spend):
            out.events.append(try paySpend(spend, from: .communityPool, state: state))
        case .registerModel(let register):
            try checkRegister(register.model, state: state)
            try Inference.registerModel(register.model, startPrice: params.startPrice, in: state)
        case .retireModel(let retire):
            guard try Inference.modelInfo(retire.modelID, in: state) != nil else {
                throw .unknownModel(retire.modelID)
            }
            try Inference.retireModel(retire.modelID, in: state)
        case .softwareUpgrade(let upgrade):
            try checkUpgrade(upgrade, height: context.height)
            var plan = Wire.UpgradePlan()
            plan.name = upgrade.name
            plan.height = upgrade.height
            plan.binarySha256 = upgrade.binarySha256.lowercased()
            plan.proposalID = proposal.id
            // One plan at a time: a later upgrade replaces an earlier one (Cosmos).
            try state.setRecord(plan, at: StateKey.upgradePlan)
        }
        return out
    }

    // MARK: Parameter changes

    struct ParamPlan {
        var paramsNow: ChainParams
        var nextBlock: [Wire.ParamChange] = []
        var nextEpoch: [Wire.ParamChange] = []
    }

    /// Checks `changes` against the registry and the cross-parameter rules, on the parameters in
    /// force now (next-block changes) and on those the next epoch will have (`pending` and the
    /// next-epoch changes on top).
    static func planParams(
        _ changes: [Wire.ParamChange], params: ChainParams, pending: [Wire.ParamChange]
    ) throws(LedgerError) -> ParamPlan {
        guard !changes.isEmpty, changes.count <= 64 else {
            throw .invalidProposal("a parameter change names 1–64 parameters")
        }
        guard Set(changes.map(\.name)).count == changes.count else {
            throw .invalidProposal("a parameter is named twice")
        }
        var plan = ParamPlan(paramsNow: params)
        do throws(ChainParams.ChangeError) {
            for change in changes {
                let parameter = try ChainParams.checkChange(name: change.name, value: change.value)
                if parameter.effect == .nextBlock {
                    plan.paramsNow = try plan.paramsNow.setting(change.name, to: change.value)
                    plan.nextBlock.append(change)
                } else {
                    plan.nextEpoch.append(change)
                }
            }
            var nextEpoch = plan.paramsNow
            for change in pending + plan.nextEpoch { nextEpoch = try nextEpoch.setting(change.name, to: change.value) }
            for candidate in [plan.paramsNow, nextEpoch] {
                if let problem = candidate.problem {
                    throw ChainParams.ChangeError(reason: .inconsistent, description: problem)
                }
            }
        } catch {
            throw .paramChange(error)
        }
        return plan
    }

    /// Applies the changes that waited for this epoch boundary (end of the epoch's last block).
    /// They were checked at the tally; a set that no longer fits the parameters in force (another
    /// change came between) is dropped whole, with an event naming the problem.
    static func applyPending(
        _ changes: [Wire.ParamChange], state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        var params = try ParamsRecord.read(in: state)
        do throws(ChainParams.ChangeError) {
            for change in changes { params = try params.setting(change.name, to: change.value) }
            if let problem = params.problem {
                throw ChainParams.ChangeError(reason: .inconsistent, description: problem)
            }
        } catch {
            return [.paramChanged(name: "(dropped)", value: error.description)]
        }
        try ParamsRecord.write(params, in: state)
        return changes.map { .paramChanged(name: $0.name, value: $0.value) }
    }

    // MARK: Spends, models, upgrades

    private static func checkSpend(
        _ spend: Wire.FundSpendProposal, from fund: Bank.ModuleAccount, state: StateContext
    ) throws(LedgerError) {
        let recipient = try parseAddress(spend.recipient, field: "recipient")
        guard !Bank.moduleAddresses.contains(recipient) else { throw .moduleAccountRecipient(recipient) }
        guard spend.amount > 0 else { throw .invalidAmount("spend must be positive") }
        let have = try Bank.balance(of: fund.address, in: state)
        guard spend.amount <= have.ngonka else {
            throw .spendAboveFund(fund.rawValue, need: Amount(ngonka: spend.amount), have: have)
        }
    }

    private static func paySpend(
        _ spend: Wire.FundSpendProposal, from fund: Bank.ModuleAccount, state: StateContext
    ) throws(LedgerError) -> LedgerEvent {
        try checkSpend(spend, from: fund, state: state)
        let recipient = try parseAddress(spend.recipient, field: "recipient")
        let amount = Amount(ngonka: spend.amount)
        try Bank.transfer(from: fund.address, to: recipient, amount: amount, in: state)
        // The training fund only shrinks by passed spends (§8.3's invariant counts them).
        if fund == .trainingFund { try Rewards.trainingFundSpent(spend.amount, in: state) }
        return .transfer(from: fund.address, to: recipient, amount: amount)
    }

    private static func checkRegister(_ model: Wire.ModelInfo, state: StateContext) throws(LedgerError) {
        let entry = Genesis.Model(
            id: model.id, tokensPerSecondPerWeight: model.tokensPerSecondPerWeight, weightsHash: model.weightsHash,
            quantization: model.quantization, contextLength: model.contextLength,
            validationThresholdPpm: model.validationThresholdPpm, sampler: model.sampler)
        if let problem = entry.problem { throw .invalidProposal(problem) }
        guard try Inference.modelInfo(model.id, in: state) == nil else {
            throw .duplicate("model \(model.id) is already registered")
        }
    }

    /// Upgrade names: 1–64 characters of `a-z 0-9 . _ -` (they name files and log lines).
    static func isValidUpgradeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
            }
    }

    private static func checkUpgrade(_ upgrade: Wire.SoftwareUpgradeProposal, height: UInt64) throws(LedgerError) {
        guard isValidUpgradeName(upgrade.name) else {
            throw .invalidField("name", "an upgrade name is 1–64 characters of a-z, 0-9, '.', '_' or '-'")
        }
        guard let digest = Hex.decode(upgrade.binarySha256), digest.count == 32 else {
            throw .invalidField("binary_sha256", "must be 64 hex digits (SHA-256 of the binary)")
        }
        guard upgrade.height > height else { throw .upgradeHeightPassed(upgrade.height, current: height) }
    }
}

/// The chain parameters in state (`params`, JSON with sorted keys): genesis writes them, a passed
/// `ParamChange` rewrites them, the ledger reads them when it opens and after a block that changed
/// them. One encoding, so every node commits the same bytes.
enum ParamsRecord {
    static func read(in state: StateContext) throws(LedgerError) -> ChainParams {
        guard let raw = try state.get(StateKey.params),
            let decoded = try? JSONDecoder().decode(ChainParams.self, from: Data(raw))
        else {
            throw .storage(StateCorruption(what: "chain parameters"))
        }
        return decoded
    }

    static func write(_ params: ChainParams, in state: StateContext) throws(LedgerError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(params) else { throw .storage(StateCorruption(what: "parameters encode")) }
        state.set(StateKey.params, Array(data))
    }
}
