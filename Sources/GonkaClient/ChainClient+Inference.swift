import ChainRPCTypes
import Foundation
import GonkaCore

extension ChainClient {
    /// The record of inference `id` (64 hex), or `nil` when the chain has none.
    public func inference(_ id: String, height: UInt64? = nil) async throws(ChainClientError) -> InferenceRecordInfo? {
        let hex = id.lowercased()
        guard hex.count == 64, Hex.decode(hex) != nil else {
            throw .invalidArgument("inference id \"\(id)\" must be 64 hex digits")
        }
        return try decodeQuery(
            try await query("inference/\(hex)", height: height), InferenceRecordInfo.self, "inference")
    }

    /// Why the chain has no record of inference `id`, when it may have been pruned by rule
    /// (PROTOCOL §3.3): the node's sentence, or `nil` when nothing was pruned yet.
    public func inferencePrunedNote(_ id: String, height: UInt64? = nil) async throws(ChainClientError) -> String? {
        let hex = id.lowercased()
        guard hex.count == 64, Hex.decode(hex) != nil else {
            throw .invalidArgument("inference id \"\(id)\" must be 64 hex digits")
        }
        return try await query("inference/\(hex)", height: height).pruned
    }

    /// The executor pool of `model`: epoch seed and weighted candidates (404 for a model not registered).
    public func executors(model: String, height: UInt64? = nil) async throws(ChainClientError) -> ExecutorsInfo {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        guard !model.isEmpty, let encoded = model.addingPercentEncoding(withAllowedCharacters: allowed) else {
            throw .invalidArgument("model id \"\(model)\" is empty or not encodable")
        }
        let suffix = height.map { "&height=\($0)" } ?? ""
        let result = try await get("/query/executors?model=\(encoded)\(suffix)", as: QueryResult.self)
        guard let info = try decodeQuery(result, ExecutorsInfo.self, "executors") else {
            throw .invalidResponse(url: baseURL + "/query/executors", reason: "no executors in the answer")
        }
        return info
    }

    /// The registered models with their current price per token.
    public func models(height: UInt64? = nil) async throws(ChainClientError) -> [ModelRecord] {
        try decodeQuery(try await query("models", height: height), [ModelRecord].self, "models") ?? []
    }

    /// Current prices and the pricing parameters.
    public func pricing(height: UInt64? = nil) async throws(ChainClientError) -> PricingInfo {
        guard let info = try decodeQuery(try await query("pricing", height: height), PricingInfo.self, "pricing") else {
            throw .invalidResponse(url: baseURL + "/query/pricing", reason: "no pricing in the answer")
        }
        return info
    }

    /// An executor's misses (zeros when it has none).
    public func misses(_ address: Address, height: UInt64? = nil) async throws(ChainClientError) -> MissesInfo {
        try decodeQuery(try await query("misses/\(address)", height: height), MissesInfo.self, "misses")
            ?? MissesInfo(address: address, reported: 0, expired: 0, total: 0, lastHeight: 0)
    }

    private func decodeQuery<T: Decodable>(
        _ result: QueryResult, _ type: T.Type, _ path: String
    ) throws(ChainClientError) -> T? {
        do {
            return try result.decodeValue(type)
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }
}

extension ChainClient {
    /// Every validation of inference `id` and its revalidation vote, if one was opened (§7.2–§7.3).
    public func validations(
        of id: String, height: UInt64? = nil
    ) async throws(ChainClientError)
        -> InferenceValidationsInfo
    {
        let hex = id.lowercased()
        guard hex.count == 64, Hex.decode(hex) != nil else {
            throw .invalidArgument("inference id \"\(id)\" must be 64 hex digits")
        }
        let result = try await query("validation/\(hex)", height: height)
        do {
            return try result.decodeValue(InferenceValidationsInfo.self)
                ?? InferenceValidationsInfo(inferenceID: hex, validations: [], voting: nil)
        } catch {
            throw .invalidResponse(url: baseURL + "/query/validation/" + hex, reason: "\(error)")
        }
    }

    /// The validations of `epoch`'s inferences, all or `validator`'s.
    public func validations(
        epoch: UInt64, validator: Address? = nil, height: UInt64? = nil
    ) async throws(ChainClientError) -> [ValidationInfo] {
        let path = "validations/\(epoch)" + (validator.map { "/\($0)" } ?? "")
        do {
            return try await query(path, height: height).decodeValue([ValidationInfo].self) ?? []
        } catch let error as ChainClientError {
            throw error
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }

    /// Epoch `epoch`'s sampling snapshot and every participant's standing (default: the epoch
    /// inference counts toward now).
    public func validationEpoch(
        _ epoch: UInt64? = nil, height: UInt64? = nil
    ) async throws(ChainClientError)
        -> ValidationEpochInfo
    {
        let path = "validation_epoch" + (epoch.map { "/\($0)" } ?? "")
        let result = try await query(path, height: height)
        do {
            guard let info = try result.decodeValue(ValidationEpochInfo.self) else {
                throw ChainClientError.invalidResponse(
                    url: baseURL + "/query/" + path, reason: "no epoch in the answer")
            }
            return info
        } catch let error as ChainClientError {
            throw error
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }

    /// The open revalidation votes `revalidator` was drawn for and has not cast.
    public func pendingVotes(
        _ revalidator: Address, height: UInt64? = nil
    ) async throws(ChainClientError)
        -> [VotingInfo]
    {
        let result = try await query("votes/\(revalidator)", height: height)
        do {
            return try result.decodeValue([VotingInfo].self) ?? []
        } catch {
            throw .invalidResponse(url: baseURL + "/query/votes", reason: "\(error)")
        }
    }
}
