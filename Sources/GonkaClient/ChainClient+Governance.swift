import ChainRPCTypes
import GonkaCore
import GonkaWire

extension ChainClient {
    /// Governance proposals in id order; only those in `status` (e.g. `voting_period`) when given.
    public func proposals(status: String? = nil, height: UInt64? = nil) async throws(ChainClientError) -> [ProposalInfo]
    {
        guard status?.allSatisfy({ $0.isASCII && ($0.isLowercase || $0 == "_") }) ?? true else {
            throw .invalidArgument("status \"\(status ?? "")\" must be lowercase letters and _")
        }
        let parameters = [status.map { "status=\($0)" }, height.map { "height=\($0)" }].compactMap { $0 }
        let path = "/query/proposals" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
        let result = try await get(path, as: QueryResult.self)
        return try governanceValue(result, [ProposalInfo].self, path: "proposals") ?? []
    }

    /// One proposal with who voted what, the tally and the blocks left; nil when there is none.
    public func proposal(_ id: UInt64, height: UInt64? = nil) async throws(ChainClientError) -> ProposalDetail? {
        let result = try await query("proposal/\(id)", height: height)
        return try governanceValue(result, ProposalDetail.self, path: "proposal/\(id)")
    }

    /// The scheduled software upgrade, if any.
    public func upgradePlan(height: UInt64? = nil) async throws(ChainClientError) -> UpgradePlanInfo? {
        let result = try await query("upgrade_plan", height: height)
        return try governanceValue(result, UpgradePlanInfo.self, path: "upgrade_plan")
    }

    private func governanceValue<T: Decodable>(
        _ result: QueryResult, _ type: T.Type, path: String
    ) throws(ChainClientError) -> T? {
        do {
            return try result.decodeValue(type)
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }
}

/// Why a proposal file cannot become a `MsgSubmitProposal`.
public struct ProposalFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
}

extension ProposalFile {
    /// The `MsgSubmitProposal` this file asks for, from `proposer`. Checks the shape (exactly one
    /// kind, addresses, hex); the chain checks the rest (parameters, funds, heights).
    public func message(proposer: Address) throws(ProposalFileError) -> Wire.MsgSubmitProposal {
        var msg = Wire.MsgSubmitProposal()
        msg.proposer = proposer.description
        msg.deposit = deposit.ngonka
        msg.expedited = expedited
        msg.title = title
        msg.summary = summary
        msg.content = try content.wire()
        return msg
    }
}

extension ProposalContentJSON {
    /// The content as the chain's message.
    public func wire() throws(ProposalFileError) -> Wire.ProposalContent {
        let kinds = kinds
        guard kinds.count == 1 else {
            throw ProposalFileError(
                description: kinds.isEmpty
                    ? "content names no kind (text, param_change, training_fund_spend, community_pool_spend, "
                        + "register_model, retire_model, software_upgrade)"
                    : "content names \(kinds.count) kinds (\(kinds.joined(separator: ", "))): exactly one is allowed")
        }
        var out = Wire.ProposalContent()
        if text != nil { out.text = Wire.TextProposal() }
        if let paramChange {
            var proposal = Wire.ParamChangeProposal()
            proposal.changes = paramChange.changes.map { change in
                var wire = Wire.ParamChange()
                wire.name = change.name
                wire.value = change.value.rendered
                return wire
            }
            out.paramChange = proposal
        }
        if let spend = trainingFundSpend { out.trainingFundSpend = try Self.spend(spend) }
        if let spend = communityPoolSpend { out.communityPoolSpend = try Self.spend(spend) }
        if let model = registerModel {
            var info = Wire.ModelInfo()
            info.id = model.id
            info.tokensPerSecondPerWeight = model.tokensPerSecondPerWeight
            info.weightsHash = model.weightsHash ?? ""
            info.quantization = model.quantization ?? ""
            info.contextLength = model.contextLength ?? 0
            info.validationThresholdPpm = model.validationThresholdPpm
            info.sampler = model.sampler ?? "native"
            out.registerModel.model = info
        }
        if let retire = retireModel { out.retireModel.modelID = retire.id }
        if let upgrade = softwareUpgrade {
            guard let digest = Hex.decode(upgrade.binarySHA256), digest.count == 32 else {
                throw ProposalFileError(description: "software_upgrade.binary_sha256 must be 64 hex digits")
            }
            out.softwareUpgrade.name = upgrade.name
            out.softwareUpgrade.height = upgrade.height
            out.softwareUpgrade.binarySha256 = upgrade.binarySHA256.lowercased()
        }
        return out
    }

    private static func spend(_ spend: Spend) throws(ProposalFileError) -> Wire.FundSpendProposal {
        do {
            _ = try Address(spend.recipient)
        } catch {
            throw ProposalFileError(description: "recipient \"\(spend.recipient)\" is not a gonka1… address: \(error)")
        }
        var out = Wire.FundSpendProposal()
        out.recipient = spend.recipient
        out.amount = spend.amount.ngonka
        return out
    }
}
