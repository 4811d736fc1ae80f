import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import Ledger
import Storage

extension JoinPlan {
    /// Checks the flags of `gonka node join` before anything runs; each error names its flag.
    public static func validate(
        peer: String, chainID: String?, keyName: String, url: String, listens: [(String, String)], timeouts: String,
        pocThreads: Int
    ) throws {
        do {
            _ = try ChainClient(baseURL: peer)
        } catch {
            throw DevnetError("--peer \"\(peer)\" is not a chain RPC URL (expected http://HOST:PORT)")
        }
        if let chainID, !Genesis.isValidChainID(chainID) {
            throw DevnetError("--chain-id \"\(chainID)\" must be 1–50 characters of a-z, 0-9, '-', '_' or '.'")
        }
        try KeyStore.validate(name: keyName)
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.utf8.count <= 256,
            !url.contains(where: \.isWhitespace), URL(string: url)?.host?.isEmpty == false
        else {
            throw DevnetError("--url \"\(url)\" must be an http(s) URL of at most 256 bytes")
        }
        for (flag, value) in listens {
            do {
                _ = try HostPort(parsing: value)
            } catch {
                throw DevnetError("\(flag) \"\(value)\" is not host:port")
            }
        }
        guard ["devnet", "mainnet", "fast"].contains(timeouts) else {
            throw DevnetError("--timeouts must be devnet, mainnet or fast")
        }
        guard pocThreads >= 1 else { throw DevnetError("--poc-threads must be at least 1") }
    }
}
