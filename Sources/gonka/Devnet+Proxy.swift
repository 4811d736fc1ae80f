import ArgumentParser
import AsyncHTTPClient
import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import NIOCore
import NIOHTTP1
import Storage

extension DevnetManifest {
    /// Whether the nodes run API nodes (the devnet was created with a model).
    var serves: Bool {
        guard let node = nodes.first,
            let text = try? String(contentsOfFile: node.home + "/config.toml", encoding: .utf8),
            let config = try? NodeConfig(toml: text)
        else { return false }
        return config.apiEnabled
    }

    var apiURLs: [String] { nodes.map { "http://127.0.0.1:\($0.apiPort)" } }
    var proxyLogPath: String { faucet.home + "/proxy.log" }
}

extension DevnetRunner {
    /// Waits until every API node serves a model, then starts `gonka proxy` for the funded
    /// developer key and waits until it answers.
    static func startProxy(_ manifest: DevnetManifest, dir: URL, port: Int) async throws -> DevnetManifest {
        var manifest = manifest
        print("waiting for every API node to serve the model…")
        let deadline = ContinuousClock.now + .seconds(120)
        var model: String?
        for url in manifest.apiURLs {
            while true {
                if let id = await firstModel(url) {
                    model = id
                    break
                }
                guard ContinuousClock.now < deadline else {
                    throw CLIError("the API node at \(url) does not serve a model after 120 s; see the node logs")
                }
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        let keys = KeyStore(home: URL(fileURLWithPath: manifest.faucet.home, isDirectory: true))
        let developer = try keys.entryOrCreate(DevnetLayout.developerKey)
        let chosen = try port != 0 ? port : (manifest.proxy?.port ?? FreePorts.allocate(1)[0])
        let pid = try DevnetProcess.start(
            binary: manifest.binary, home: manifest.faucet.home, logPath: manifest.proxyLogPath,
            arguments: [
                "proxy", "--key", DevnetLayout.developerKey, "--home", manifest.faucet.home, "--node",
                manifest.apiURLs.joined(separator: ","), "--port", "\(chosen)",
            ])
        manifest.proxy = .init(pid: pid, port: chosen, key: DevnetLayout.developerKey, address: developer.address)
        try manifest.save(to: dir)
        let base = "http://127.0.0.1:\(chosen)"
        for _ in 0..<100 {
            if await firstModel(base) == model { return manifest }
            guard DevnetProcess.isRunning(pid, home: manifest.faucet.home, role: "proxy") else {
                throw CLIError(
                    "the proxy exited; the end of \(manifest.proxyLogPath):\n\(DevnetProcess.tail(manifest.proxyLogPath))"
                )
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw CLIError("the proxy at \(base) does not answer; see \(manifest.proxyLogPath)")
    }

    /// The first model `GET base/v1/models` lists, or nil.
    static func firstModel(_ base: String) async -> String? {
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

    static func printProxy(_ proxy: DevnetManifest.Proxy, manifest: DevnetManifest) {
        let model =
            (try? String(contentsOfFile: manifest.nodes[0].home + "/config.toml", encoding: .utf8))
            .flatMap { try? NodeConfig(toml: $0) }
            .map { URL(fileURLWithPath: $0.apiModel).deletingPathExtension().lastPathComponent } ?? "MODEL"
        print("")
        print(
            "OpenAI-compatible endpoint (signing proxy for \(proxy.address), key \"\(proxy.key)\" in \(manifest.faucet.home)):"
        )
        print("  \(proxy.url)")
        print("")
        print("  curl \(proxy.url)/chat/completions -H 'Content-Type: application/json' \\")
        print(
            "    -d '{\"model\": \"\(model)\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}], \"max_tokens\": 32}'"
        )
        print("")
        print(
            "  python3 -c 'from openai import OpenAI; c = OpenAI(base_url=\"\(proxy.url)\", api_key=\"unused\"); "
                + "print(c.chat.completions.create(model=\"\(model)\", messages=[{\"role\": \"user\", \"content\": \"Hello!\"}], max_tokens=32).choices[0].message.content)'"
        )
        print("  (pip install openai; the proxy log is \(manifest.proxyLogPath))")
    }
}

extension Devnet {
    /// `gonka devnet fund ADDR AMOUNT`
    struct Fund: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send AMOUNT (e.g. 10gnk, 5000ngonka) from the devnet faucet to ADDR; waits for the block.")
        @OptionGroup var dir: DirOptions
        @Argument(help: "The bech32 address to fund.") var address: String
        @Argument(help: "The amount: 1.5gnk, 2000ngonka or a plain ngonka number.") var amount: String

        func run() async throws {
            let manifest = try DevnetManifest.load(from: dir.url)
            let recipient = try parseAddressArgument(address, name: "ADDR")
            let value: Amount
            do {
                value = try Amount(parsing: amount)
            } catch {
                throw CLIError("AMOUNT \(amount): \(error)")
            }
            guard value.ngonka > 0 else { throw CLIError("AMOUNT must be positive") }
            let key = try KeyStore(home: URL(fileURLWithPath: manifest.faucet.home, isDirectory: true))
                .load(manifest.faucet.key)
            guard let node = manifest.nodes.first(where: { DevnetProcess.isRunning($0.pid, home: $0.home) }) else {
                throw CLIError("no devnet node is running in \(dir.url.path) (gonka devnet up)")
            }
            var send = Wire.MsgSend()
            send.fromAddress = key.publicKey.address.description
            send.toAddress = recipient.description
            send.amount = value.ngonka
            let client = try ChainClient(baseURL: node.rpcURL)
            let (tx, result) = try await client.signAndBroadcast([Wire.Msg(send)], key: key, mode: .commit)
            guard result.code == 0 else { throw CLIError("the transfer failed: \(result.log)") }
            print("sent \(value) to \(recipient) (tx \(tx.hash), height \(result.height ?? 0))")
        }
    }
}
