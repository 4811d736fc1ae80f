import Foundation
import GonkaClient

extension DevnetRunner {
    /// What `devnet status` shows: each node's process and chain state, and whether they agree.
    public struct StatusReport: Encodable, Sendable {
        /// One node's row.
        public struct Node: Encodable, Sendable {
            public var moniker: String
            public var pid: Int32?
            public var running: Bool
            public var rpc: String
            public var height: UInt64?
            public var appHash: String?
            public var peers: Int?
            public var catchingUp: Bool?
            public var error: String?
            public var commonAppHash: String?

            enum CodingKeys: String, CodingKey {
                case moniker, pid, running, rpc, height, peers, error
                case appHash = "app_hash"
                case catchingUp = "catching_up"
                case commonAppHash = "common_app_hash"
            }
        }
        public var nodes: [Node]
        /// The highest height every answering node has committed.
        public var commonHeight: UInt64?
        /// Whether all answering nodes hold the same app hash at `commonHeight`.
        public var agree: Bool?

        enum CodingKeys: String, CodingKey {
            case nodes, agree
            case commonHeight = "common_height"
        }
    }

    /// Asks every running node for its status, then every answering node for its app hash at the
    /// lowest height they all have.
    public static func status(_ manifest: DevnetManifest) async -> StatusReport {
        var nodes: [StatusReport.Node] = []
        for node in manifest.nodes {
            var row = StatusReport.Node(
                moniker: node.moniker, pid: node.pid, running: DevnetProcess.isRunning(node.pid, home: node.home),
                rpc: node.rpcURL)
            if row.running {
                do {
                    let status = try await ChainClient(baseURL: node.rpcURL, timeout: .seconds(3)).status()
                    row.height = status.height
                    row.appHash = status.appHash
                    row.peers = status.peers.count
                    row.catchingUp = status.catchingUp
                } catch {
                    row.error = "\(error)"
                }
            }
            nodes.append(row)
        }
        var report = StatusReport(nodes: nodes)
        let heights = nodes.compactMap(\.height)
        guard let common = heights.min(), common > 0 else { return report }
        report.commonHeight = common
        var hashes: Set<String> = []
        for (index, node) in manifest.nodes.enumerated() where nodes[index].height != nil {
            if let block = try? await ChainClient(baseURL: node.rpcURL, timeout: .seconds(3)).block(common) {
                report.nodes[index].commonAppHash = block.appHash
                hashes.insert(block.appHash)
            }
        }
        report.agree = hashes.count <= 1
        return report
    }
}
