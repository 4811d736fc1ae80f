import ChainNode
import Foundation
import GonkaCore
import Storage

/// One more participant's home in a running devnet (`gonka devnet join`): `DIR/nodeK` with fresh
/// account, consensus and p2p keys and three free loopback ports.
public struct DevnetJoiner: Sendable {
    /// K of `nodeK`: the next index of the manifest.
    public let index: Int
    public let home: URL
    public let p2pPort: Int
    public let rpcPort: Int
    public let apiPort: Int
    /// The new account (it pays the registration fee, so it is funded first).
    public let account: KeyStore.Entry
    public let consensus: KeyStore.Entry
    public let p2p: KeyStore.Entry

    /// Creates `DIR/nodeK` (K = `index`) and its keys; refuses a home that already holds a config.
    public init(index: Int, dir: URL) throws {
        let home = dir.appendingPathComponent("node\(index)", isDirectory: true)
        guard !FileManager.default.fileExists(atPath: home.appendingPathComponent("config.toml").path) else {
            throw DevnetError("\(home.path) already exists but is not in devnet.json; remove it first")
        }
        let ports = try DevnetPorts.allocate(3)
        let keys = KeyStore(home: home)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        self.index = index
        self.home = home
        (p2pPort, rpcPort, apiPort) = (ports[0], ports[1], ports[2])
        account = try keys.entryOrCreate("validator")
        consensus = try keys.entryOrCreate("consensus")
        p2p = try keys.entryOrCreate("p2p")
    }

    /// `nodeK`.
    public var moniker: String { "node\(index)" }

    /// The `gonka node join` steps against `peer`, writing a devnet node's config (PoC on).
    public func plan(peer: DevnetManifest.Node, manifest: DevnetManifest) -> JoinPlan {
        var config = NodeConfig(
            moniker: moniker, chainID: "", accountKey: "validator", p2pListen: "127.0.0.1:\(p2pPort)",
            rpcListen: "127.0.0.1:\(rpcPort)", apiListen: "127.0.0.1:\(apiPort)", timeouts: "devnet",
            testHooks: manifest.testHooks)
        config.pocEnabled = true
        return JoinPlan(
            home: home, peer: peer.rpcURL, expectedChainID: manifest.chainID, url: "http://127.0.0.1:\(apiPort)",
            config: config, timeout: .seconds(40))
    }

    /// The manifest entry of the joined node (not started yet).
    public func node() throws -> DevnetManifest.Node {
        let consensusKey = try PublicKey(bytes: Hex.decode(consensus.publicKey) ?? [])
        return DevnetManifest.Node(
            index: index, moniker: moniker, home: home.path, pid: nil, p2pPort: p2pPort, rpcPort: rpcPort,
            apiPort: apiPort, nodeID: p2p.publicKey, accountAddress: account.address,
            validatorAddress: Hex.encode(consensusKey.address.bytes))
    }
}
