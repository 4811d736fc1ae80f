import ChainRPCTypes
import GonkaCore

extension ChainClient {
    /// The epoch schedule at `height` (default: latest).
    public func epoch(height: UInt64? = nil) async throws(ChainClientError) -> EpochInfo {
        try await decoded(query("epoch", height: height), EpochInfo.self, path: "epoch")
    }

    /// Epoch `index`'s record (404 before its sprint started).
    public func epochRecord(_ index: UInt64, height: UInt64? = nil) async throws(ChainClientError) -> EpochRecordInfo {
        try await decoded(query("epoch/\(index)", height: height), EpochRecordInfo.self, path: "epoch/\(index)")
    }

    /// Every participant with its latest computed weight and current voting power.
    public func participants(height: UInt64? = nil) async throws(ChainClientError) -> [ParticipantInfo] {
        try await decoded(query("participants", height: height), [ParticipantInfo].self, path: "participants")
    }

    /// A participant's sprint at P (default: the current sprint).
    public func poc(
        _ participant: Address, pocStartHeight: UInt64? = nil, height: UInt64? = nil
    ) async throws(ChainClientError) -> PocSprintInfo {
        let path = "poc/\(participant)" + (pocStartHeight.map { "/\($0)" } ?? "")
        return try await decoded(query(path, height: height), PocSprintInfo.self, path: path)
    }

    private func decoded<T: Decodable>(
        _ result: QueryResult, _ type: T.Type, path: String
    ) throws(ChainClientError)
        -> T
    {
        do {
            guard let value = try result.decodeValue(type) else {
                throw ChainClientError.invalidResponse(url: baseURL + "/query/" + path, reason: "empty value")
            }
            return value
        } catch let error as ChainClientError {
            throw error
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }
}
