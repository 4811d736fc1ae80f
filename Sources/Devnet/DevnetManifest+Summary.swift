import ChainNode
import Foundation
import GonkaCore

extension DevnetManifest {
    /// What `devnet up` prints once the network runs: every node's process, ports and log, the
    /// faucet, the next commands to try and, with a proxy, how to call it.
    public func summary(dir: URL) -> String {
        let manifest = self
        var lines: [String] = []
        lines.append("devnet \(manifest.chainID) is running in \(dir.path):")
        for node in manifest.nodes {
            lines.append(
                "  \(node.moniker)  pid \(node.pid ?? 0)  rpc \(node.rpcURL)  p2p \(node.host):\(node.p2pPort)  "
                    + "api \(node.host):\(node.apiPort)  "
                    + (node.adminPort.map { "admin 127.0.0.1:\($0)  " } ?? "") + "log \(node.logPath)")
        }
        let rpc = manifest.nodes.first?.rpcURL ?? ""
        lines.append("faucet key \"\(manifest.faucet.key)\" (\(manifest.faucet.address)) in \(manifest.faucet.home)")
        lines.append("")
        lines.append("next steps:")
        lines.append("  gonka devnet status --dir \(dir.path)")
        lines.append(
            "  gonka tx bank send faucet \(manifest.nodes.first?.accountAddress.description ?? "gonka1…") 1.5gnk "
                + "--home \(manifest.faucet.home) --node \(rpc)")
        lines.append("  gonka query balance \(manifest.faucet.address) --node \(rpc)")
        lines.append("  gonka devnet fund gonka1… 10gnk --dir \(dir.path)")
        lines.append("  gonka devnet down --dir \(dir.path)")
        if let proxy = manifest.proxy { lines += proxySummary(proxy) }
        return lines.joined(separator: "\n")
    }

    /// How to call the signing proxy: its URL, a curl and a python example.
    func proxySummary(_ proxy: Proxy) -> [String] {
        let manifest = self
        var lines: [String] = []
        let model =
            (try? String(contentsOfFile: manifest.nodes[0].home + "/config.toml", encoding: .utf8))
            .flatMap { try? NodeConfig(toml: $0) }
            .map(\.servedModelID) ?? "MODEL"
        lines.append("")
        lines.append(
            "OpenAI-compatible endpoint (signing proxy for \(proxy.address), key \"\(proxy.key)\" in \(manifest.faucet.home)):"
        )
        lines.append("  \(proxy.url)")
        lines.append("")
        lines.append("  curl \(proxy.url)/chat/completions -H 'Content-Type: application/json' \\")
        lines.append(
            "    -d '{\"model\": \"\(model)\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}], \"max_tokens\": 32}'"
        )
        lines.append("")
        lines.append(
            "  python3 -c 'from openai import OpenAI; c = OpenAI(base_url=\"\(proxy.url)\", api_key=\"unused\"); "
                + "print(c.chat.completions.create(model=\"\(model)\", messages=[{\"role\": \"user\", \"content\": \"Hello!\"}], max_tokens=32).choices[0].message.content)'"
        )
        lines.append("  (pip install openai; the proxy log is \(manifest.proxyLogPath))")
        return lines
    }
}

extension DevnetRunner.StatusReport: CustomStringConvertible {
    /// The report as `devnet status` prints it: a line per node, then whether the app hashes agree.
    public var description: String {
        let report = self
        var lines: [String] = []
        for node in report.nodes {
            var line = "\(node.moniker)  pid \(node.pid.map(String.init) ?? "-")  "
            if !node.running {
                line += "NOT RUNNING"
            } else if let error = node.error {
                line += "running, RPC error: \(error)"
            } else {
                line +=
                    "height \(node.height ?? 0)  app_hash \(node.appHash?.prefix(16) ?? "")…  peers \(node.peers ?? 0)"
                if node.catchingUp == true { line += "  catching up" }
            }
            lines.append(line)
        }
        if let common = report.commonHeight {
            lines.append(
                report.agree == true
                    ? "app hashes agree at common height \(common)"
                    : "APP HASHES DIFFER at height \(common)")
        }
        return lines.joined(separator: "\n")
    }
}
