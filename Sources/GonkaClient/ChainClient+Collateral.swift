import ChainRPCTypes
import GonkaCore

extension ChainClient {
    /// A participant's collateral, jail and liveness window (PROTOCOL §9).
    public func collateral(
        _ address: Address, height: UInt64? = nil
    ) async throws(ChainClientError)
        -> CollateralInfo
    {
        let path = "collateral/\(address)"
        let result = try await query(path, height: height)
        do {
            guard let info = try result.decodeValue(CollateralInfo.self) else {
                throw ChainClientError.invalidResponse(url: baseURL + "/query/" + path, reason: "empty value")
            }
            return info
        } catch let error as ChainClientError {
            throw error
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }

    /// The slash log, oldest first, all or one participant's (PROTOCOL §9).
    public func slashes(
        of address: Address? = nil, height: UInt64? = nil
    ) async throws(ChainClientError)
        -> [SlashInfo]
    {
        let path = address.map { "slashes/\($0)" } ?? "slashes"
        let result = try await query(path, height: height)
        do {
            return try result.decodeValue([SlashInfo].self) ?? []
        } catch {
            throw .invalidResponse(url: baseURL + "/query/" + path, reason: "\(error)")
        }
    }
}
