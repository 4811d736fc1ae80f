import ChainRPCTypes
import GonkaCore

// Module Rewards' queries (PROTOCOL §8, docs/RPC.md).
extension ChainClient {
    /// `address`'s settlements: of `epoch`, or of the last 100 settled epochs (newest first).
    public func rewards(
        _ address: Address, epoch: UInt64? = nil, height: UInt64? = nil
    ) async throws(ChainClientError) -> [SettlementInfo] {
        let path = "rewards/\(address)" + (epoch.map { "/\($0)" } ?? "")
        let result = try await query(path, height: height)
        do {
            return try result.decodeValue([SettlementInfo].self) ?? []
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }

    /// Epoch `epoch`'s settlement with every participant's share (default: the last settled).
    public func settlement(
        _ epoch: UInt64? = nil, height: UInt64? = nil
    ) async throws(ChainClientError) -> EpochSettlementInfo {
        let path = "settlement" + (epoch.map { "/\($0)" } ?? "")
        let result = try await query(path, height: height)
        do {
            guard let info = try result.decodeValue(EpochSettlementInfo.self) else {
                throw ChainClientError.invalidResponse(url: baseURL + "/query/" + path, reason: "no settlement")
            }
            return info
        } catch let error as ChainClientError {
            throw error
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }
}
