import AsyncHTTPClient
import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import NIOCore
import NIOHTTP1
import Storage

extension DevnetManifest {
    /// Whether the nodes run API nodes (the devnet was created with a model).
    public var serves: Bool {
        guard let node = nodes.first,
            let text = try? String(contentsOfFile: node.home + "/config.toml", encoding: .utf8),
            let config = try? NodeConfig(toml: text)
        else { return false }
        return config.apiEnabled
    }

    /// Each node's API node URL.
    public var apiURLs: [String] { nodes.map { "http://\($0.host):\($0.apiPort)" } }
    /// Where the signing proxy logs.
    public var proxyLogPath: String { faucet.home + "/proxy.log" }
}

extension DevnetRunner {
    /// Waits until every API node serves a model, then starts `gonka proxy` for the funded
    /// developer key and waits until it answers.
    /// `progress` gets a `serving` step per node and, between, what the wait is at.
    public static func startProxy(
        _ manifest: DevnetManifest, dir: URL, port: Int, progress: (Progress) -> Void
    ) async throws -> DevnetManifest {
        var manifest = manifest
        let deadline = ContinuousClock.now + .seconds(120)
        var model: String?
        for (node, url) in zip(manifest.nodes, manifest.apiURLs) {
            progress(.waiting("waiting for \(node.moniker)'s API node to serve the model…"))
            while true {
                if let id = await firstModel(url) {
                    model = id
                    progress(.step(node: node.moniker, .serving, detail: "\(id) at \(url)"))
                    break
                }
                guard ContinuousClock.now < deadline else {
                    throw DevnetError("the API node at \(url) does not serve a model after 120 s; see the node logs")
                }
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        let keys = KeyStore(home: URL(fileURLWithPath: manifest.faucet.home, isDirectory: true))
        let developer = try keys.entryOrCreate(DevnetLayout.developerKey)
        let chosen = try port != 0 ? port : (manifest.proxy?.port ?? DevnetPorts.allocate(1)[0])
        let pid = try DevnetProcess.start(
            binary: manifest.binary, home: manifest.faucet.home, logPath: manifest.proxyLogPath,
            arguments: [
                "proxy", "--key", DevnetLayout.developerKey, "--home", manifest.faucet.home, "--node",
                manifest.apiURLs.joined(separator: ","), "--port", "\(chosen)",
            ])
        manifest.proxy = .init(pid: pid, port: chosen, key: DevnetLayout.developerKey, address: developer.address)
        try manifest.save(to: dir)
        let base = "http://127.0.0.1:\(chosen)"
        progress(.waiting("waiting for the signing proxy at \(base)…"))
        for _ in 0..<100 {
            if await firstModel(base) == model { return manifest }
            guard DevnetProcess.isRunning(pid, home: manifest.faucet.home, role: "proxy") else {
                throw DevnetError(
                    "the proxy exited; the end of \(manifest.proxyLogPath):\n\(DevnetProcess.tail(manifest.proxyLogPath))"
                )
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DevnetError("the proxy at \(base) does not answer; see \(manifest.proxyLogPath)")
    }

    /// The first model `GET base/v1/models` lists, or nil.
    public static func firstModel(_ base: String) async -> String? {
        do {
            let response = try await ChainClient.sharedHTTPClient.execute(
                HTTPClientRequest(url: base + "/v1/models"), timeout: .seconds(3))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok,
                let object = try? JSONValue(parsing: body.readableBytesView)
            else { return nil }
            return object["data"]?.arrayValue?.first?["id"]?.stringValue
        } catch {
            return nil
        }
    }
}
