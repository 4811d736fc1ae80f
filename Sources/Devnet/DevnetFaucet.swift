import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Storage

/// The devnet's funded `faucet` key paying other accounts (`devnet fund`, and the new account of
/// `devnet join`).
public enum DevnetFaucet {
    /// The faucet's signing key, from its home.
    public static func key(_ manifest: DevnetManifest) throws -> SigningKey {
        try KeyStore(home: URL(fileURLWithPath: manifest.faucet.home, isDirectory: true)).load(manifest.faucet.key)
    }

    /// Sends `amount` from `key` to `recipient` through `node`'s RPC and waits for its block; the
    /// result's `code` says whether it applied.
    public static func send(
        _ amount: Amount, to recipient: Address, key: SigningKey, node: DevnetManifest.Node
    ) async throws -> (tx: TxBuilder.SignedTx, result: BroadcastResult) {
        var send = Wire.MsgSend()
        send.fromAddress = key.publicKey.address.description
        send.toAddress = recipient.description
        send.amount = amount.ngonka
        let client = try ChainClient(baseURL: node.rpcURL)
        return try await client.signAndBroadcast([Wire.Msg(send)], key: key, mode: .commit)
    }
}

extension DevnetRunner {
    /// The first node of the manifest whose process runs, or an error saying none does.
    public static func firstRunningNode(_ manifest: DevnetManifest, dir: URL) throws -> DevnetManifest.Node {
        guard let node = manifest.nodes.first(where: { DevnetProcess.isRunning($0.pid, home: $0.home) }) else {
            throw DevnetError("no devnet node is running in \(dir.path) (gonka devnet up)")
        }
        return node
    }
}
