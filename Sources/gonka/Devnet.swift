import ArgumentParser
import Foundation
import GonkaClient
import GonkaCore

#if canImport(Glibc)
    import Glibc
#endif

/// `gonka devnet …`: a local network of validator processes on loopback ports.
struct Devnet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a local network of validator node processes.",
        discussion: """
            `up` writes a genesis and N node homes under --dir (default .devnet), starts one `gonka node start` process per validator on free loopback ports, and waits until blocks are committed. `status` shows each node's height, app hash and peers; `down` stops them. Data stays in --dir until --reset.
            """,
        subcommands: [Up.self, Status.self, Down.self, KillNode.self, RestartNode.self, Fund.self, Join.self]
    )

    struct DirOptions: ParsableArguments {
        @Option(help: "The devnet directory.", completion: .directory) var dir = ".devnet"
        var url: URL {
            URL(fileURLWithPath: (dir as NSString).expandingTildeInPath, isDirectory: true).standardizedFileURL
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create (or resume) a devnet and start its validators.",
            discussion: """
                A fresh --dir gets a genesis (chain id gonka-devnet, N validators with equal power, a funded `faucet` key in DIR/faucet) and N homes DIR/node0… with config.toml, keys and data. A --dir that already holds a stopped devnet is resumed from its data. Nodes log to DIR/nodeK/node.log.
                """)
        @OptionGroup var dir: DirOptions
        @Option(help: "Number of validators (1–32).") var participants = 4
        @Option(help: "The gonka binary to run the nodes with (default: this one).") var binary: String?
        @Flag(help: "Enable the RPC test hooks (POST /debug/isolate); for fault tests.") var testHooks = false
        @Flag(help: "Stop nothing, wipe --dir and create a new devnet.") var reset = false
        @Flag(help: "Write the homes and genesis but start nothing.") var noStart = false
        @Option(help: "Seconds to wait for every node to commit block 2.") var waitTimeout = 90
        @Option(
            help: ArgumentHelp(
                "The GGUF model every node serves in-process (its API node and signing proxy start with it).",
                discussion:
                    "Default: $GONKA_MODEL, else ~/.cache/gonka/models/SmolLM2-135M-Instruct.Q4_1.gguf if present."))
        var model: String?
        @Option(help: "Port of the developer's signing proxy (0: any free one).") var proxyPort = 0
        @Flag(help: "Run the chain only: no API nodes, no model, no proxy (the fault tests).") var chainOnly = false

        /// The model the nodes serve, or nil when there is none (chain only).
        var modelPath: String? {
            if chainOnly { return nil }
            let path =
                model ?? ProcessInfo.processInfo.environment["GONKA_MODEL"].flatMap { $0.isEmpty ? nil : $0 }
                ?? FileManager.default.homeDirectoryForCurrentUser
                .appendingPathComponent(".cache/gonka/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }

        func validate() throws {
            guard (1...32).contains(participants) else { throw ValidationError("--participants must be 1–32") }
            guard waitTimeout > 0 else { throw ValidationError("--wait-timeout must be positive") }
            if let binary, !FileManager.default.isExecutableFile(atPath: binary) {
                throw ValidationError("--binary \(binary) is not an executable file")
            }
        }

        func run() async throws {
            let dir = self.dir.url
            let binary = self.binary.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            if let model, !FileManager.default.fileExists(atPath: model) {
                throw CLIError("--model \(model) does not exist")
            }
            let manifest = try await DevnetRunner.prepare(
                dir: dir, participants: participants, testHooks: testHooks, reset: reset,
                binary: binary ?? DevnetProcess.currentExecutable, model: modelPath)
            if noStart {
                print("wrote a devnet of \(manifest.nodes.count) validators in \(dir.path) (not started)")
                return
            }
            let started = try DevnetRunner.start(manifest, dir: dir)
            print("started \(started.nodes.count) validators; waiting for block 2 on every node…")
            try await DevnetRunner.waitForHeight(2, manifest: started, timeout: .seconds(waitTimeout))
            var running = started
            if running.serves {
                running = try await DevnetRunner.startProxy(running, dir: dir, port: proxyPort)
            }
            DevnetRunner.printSummary(running, dir: dir)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each node's process, height, app hash, peers and sync state.")
        @OptionGroup var dir: DirOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let manifest = try DevnetManifest.load(from: dir.url)
            let report = await DevnetRunner.status(manifest)
            if json {
                printJSON(report)
            } else {
                DevnetRunner.printStatus(report)
            }
            if report.nodes.contains(where: { !$0.running }) || report.agree == false { throw ExitCode(3) }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop every node (SIGTERM, then SIGKILL after a grace period).")
        @OptionGroup var dir: DirOptions
        @Flag(help: "Also delete the devnet directory.") var reset = false

        func run() async throws {
            let manifest = try DevnetManifest.load(from: dir.url)
            if let proxy = manifest.proxy {
                let outcome = await DevnetProcess.stop(proxy.pid, home: manifest.faucet.home, role: "proxy")
                print("proxy: \(outcome.rawValue)")
            }
            await withTaskGroup(of: String.self) { group in
                for node in manifest.nodes {
                    group.addTask {
                        let outcome = await DevnetProcess.stop(node.pid, home: node.home)
                        return "\(node.moniker): \(outcome.rawValue)"
                    }
                }
                for await line in group { print(line) }
            }
            if reset {
                try FileManager.default.removeItem(at: dir.url)
                print("removed \(dir.url.path)")
            } else {
                print(
                    "data kept in \(dir.url.path) (`gonka devnet up --dir \(dir.dir)` resumes it; --reset deletes it)")
            }
        }
    }

    struct KillNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kill-node", abstract: "Kill one node with SIGKILL (a crash, for fault testing).")
        @OptionGroup var dir: DirOptions
        @Argument(help: "The node's index.") var index: Int

        func run() async throws {
            let manifest = try DevnetManifest.load(from: dir.url)
            let node = try DevnetRunner.node(index, in: manifest)
            guard DevnetProcess.signal(node.pid, home: node.home, SIGKILL) else {
                throw CLIError("\(node.moniker) is not running")
            }
            for _ in 0..<50 where DevnetProcess.isRunning(node.pid, home: node.home) {
                try await Task.sleep(for: .milliseconds(100))
            }
            print("killed \(node.moniker) (pid \(node.pid ?? 0))")
        }
    }

    struct RestartNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restart-node", abstract: "Start one node again from its home (stopping it first if it runs).")
        @OptionGroup var dir: DirOptions
        @Argument(help: "The node's index.") var index: Int

        func run() async throws {
            var manifest = try DevnetManifest.load(from: dir.url)
            let node = try DevnetRunner.node(index, in: manifest)
            _ = await DevnetProcess.stop(node.pid, home: node.home)
            let pid = try DevnetProcess.start(binary: manifest.binary, home: node.home, logPath: node.logPath)
            manifest.nodes[index].pid = pid
            try manifest.save(to: dir.url)
            print("started \(node.moniker) (pid \(pid), rpc \(node.rpcURL))")
        }
    }
}

/// The steps of the devnet commands, shared with `gonka bench chain`.
enum DevnetRunner {
    /// A fresh layout, or the existing one when `dir` holds a stopped devnet. Refuses a running one.
    static func prepare(
        dir: URL, participants: Int, testHooks: Bool, reset: Bool, binary: String,
        extraAccounts: [Address] = [], model: String? = nil
    ) async throws -> DevnetManifest {
        let fm = FileManager.default
        if fm.fileExists(atPath: DevnetManifest.url(in: dir).path) {
            let existing = try DevnetManifest.load(from: dir)
            let running = existing.nodes.filter { DevnetProcess.isRunning($0.pid, home: $0.home) }
            guard running.isEmpty else {
                throw CLIError(
                    "a devnet is already running in \(dir.path) (\(running.map(\.moniker).joined(separator: ", "))); "
                        + "stop it first: gonka devnet down --dir \(dir.path)")
            }
            if !reset {
                var resumed = existing
                resumed.binary = binary
                return resumed
            }
        }
        if reset, fm.fileExists(atPath: dir.path) { try fm.removeItem(at: dir) }
        if fm.fileExists(atPath: dir.path),
            let contents = try? fm.contentsOfDirectory(atPath: dir.path), !contents.isEmpty
        {
            throw CLIError("\(dir.path) exists and is not a devnet; choose another --dir or pass --reset to wipe it")
        }
        return try DevnetLayout.create(
            dir: dir, participants: participants, testHooks: testHooks, binary: binary, extraAccounts: extraAccounts,
            model: model)
    }

    /// Starts every node and records the pids.
    static func start(_ manifest: DevnetManifest, dir: URL) throws -> DevnetManifest {
        var manifest = manifest
        for index in manifest.nodes.indices {
            let node = manifest.nodes[index]
            manifest.nodes[index].pid = try DevnetProcess.start(
                binary: manifest.binary, home: node.home, logPath: node.logPath)
            // Saved after each start, so a failure part-way still leaves `down` able to stop them.
            try manifest.save(to: dir)
        }
        return manifest
    }

    /// For the `bench chain*` commands: starts the prepared devnet, waits for block 2, runs
    /// `measure`, then stops every node and deletes `dir` (unless `keep`), whatever `measure` did.
    static func withStarted(
        _ prepared: DevnetManifest, dir: URL, keep: Bool, _ measure: (DevnetManifest) async throws -> Void
    ) async throws {
        var manifest = prepared
        var failure: (any Error)?
        do {
            manifest = try start(manifest, dir: dir)
            try await waitForHeight(2, manifest: manifest, timeout: .seconds(90))
            try await measure(manifest)
        } catch {
            failure = error
        }
        for node in manifest.nodes { _ = await DevnetProcess.stop(node.pid, home: node.home) }
        if keep {
            print("devnet kept in \(dir.path)")
        } else {
            try? FileManager.default.removeItem(at: dir)
        }
        if let failure { throw failure }
    }

    /// Waits until every node reports `height` or more; a node that dies or a deadline that passes
    /// is an error naming the node and showing the end of its log.
    static func waitForHeight(_ height: UInt64, manifest: DevnetManifest, timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var last: [Int: String] = [:]
        while true {
            var done = true
            for node in manifest.nodes {
                guard DevnetProcess.isRunning(node.pid, home: node.home) else {
                    throw CLIError(
                        "\(node.moniker) exited; the end of \(node.logPath):\n\(DevnetProcess.tail(node.logPath))")
                }
                do {
                    let status = try await ChainClient(baseURL: node.rpcURL, timeout: .seconds(2)).status()
                    last[node.index] = "height \(status.height), \(status.peers.count) peers"
                    if status.height < height { done = false }
                } catch {
                    last[node.index] = "\(error)"
                    done = false
                }
            }
            if done { return }
            if clock.now >= deadline {
                let lines = manifest.nodes.map { "  \($0.moniker): \(last[$0.index] ?? "?") (log \($0.logPath))" }
                throw CLIError(
                    "not every node reached height \(height) in \(timeout):\n" + lines.joined(separator: "\n")
                        + "\nthe nodes keep running; look at the logs, then `gonka devnet down --dir …`")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    static func node(_ index: Int, in manifest: DevnetManifest) throws -> DevnetManifest.Node {
        guard manifest.nodes.indices.contains(index) else {
            throw CLIError("no node \(index) (this devnet has nodes 0–\(manifest.nodes.count - 1))")
        }
        return manifest.nodes[index]
    }

    static func printSummary(_ manifest: DevnetManifest, dir: URL) {
        print("devnet \(manifest.chainID) is running in \(dir.path):")
        for node in manifest.nodes {
            print(
                "  \(node.moniker)  pid \(node.pid ?? 0)  rpc \(node.rpcURL)  p2p 127.0.0.1:\(node.p2pPort)  "
                    + "api 127.0.0.1:\(node.apiPort)  log \(node.logPath)")
        }
        let rpc = manifest.nodes.first?.rpcURL ?? ""
        print("faucet key \"\(manifest.faucet.key)\" (\(manifest.faucet.address)) in \(manifest.faucet.home)")
        print("")
        print("next steps:")
        print("  gonka devnet status --dir \(dir.path)")
        print(
            "  gonka tx bank send faucet \(manifest.nodes.first?.accountAddress.description ?? "gonka1…") 1.5gnk "
                + "--home \(manifest.faucet.home) --node \(rpc)")
        print("  gonka query balance \(manifest.faucet.address) --node \(rpc)")
        print("  gonka devnet fund gonka1… 10gnk --dir \(dir.path)")
        print("  gonka devnet down --dir \(dir.path)")
        if let proxy = manifest.proxy { printProxy(proxy, manifest: manifest) }
    }

    struct StatusReport: Encodable {
        struct Node: Encodable {
            var moniker: String
            var pid: Int32?
            var running: Bool
            var rpc: String
            var height: UInt64?
            var appHash: String?
            var peers: Int?
            var catchingUp: Bool?
            var error: String?
            var commonAppHash: String?

            enum CodingKeys: String, CodingKey {
                case moniker, pid, running, rpc, height, peers, error
                case appHash = "app_hash"
                case catchingUp = "catching_up"
                case commonAppHash = "common_app_hash"
            }
        }
        var nodes: [Node]
        /// The highest height every answering node has committed.
        var commonHeight: UInt64?
        /// Whether all answering nodes hold the same app hash at `commonHeight`.
        var agree: Bool?

        enum CodingKeys: String, CodingKey {
            case nodes, agree
            case commonHeight = "common_height"
        }
    }

    static func status(_ manifest: DevnetManifest) async -> StatusReport {
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

    static func printStatus(_ report: StatusReport) {
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
            print(line)
        }
        if let common = report.commonHeight {
            print(
                report.agree == true
                    ? "app hashes agree at common height \(common)"
                    : "APP HASHES DIFFER at height \(common)")
        }
    }
}
