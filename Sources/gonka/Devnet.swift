import ArgumentParser
import Devnet
import Foundation
import GonkaCore
import Inference
import Ledger
import ServerLifecycle

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
        @Option(
            name: .customLong("node-model"),
            help: ArgumentHelp(
                "Node K (0-based) serves the GGUF file PATH instead of --model, or through the ML node at URL, under the same registered model id (repeatable).",
                discussion:
                    "The chain knows only the model id, so any weights or engine can stand behind it: the validation tests serve a cheat model this way, and a URL (http://host:port of `gonka mlnode start --backend openai …` in front of vLLM or llama.cpp's server) gives node K no in-process model. Only for a new devnet.",
                valueName: "K=PATH|URL"))
        var nodeModel: [String] = []
        @Option(
            help: ArgumentHelp(
                "The registered model's sampler kind: native (validators replay the engine's sampler, §7.2 test 3) or opaque (the likelihood test, test 4; for other engines).",
                discussion: "Only for a new devnet."))
        var sampler = "native"
        @Option(
            help: ArgumentHelp(
                "The registered model's validation_threshold in ppm (default: the devnet model's measured 1000).",
                discussion:
                    "Calibrate a cross-engine devnet with `gonka bench validation --pair`, docs/VALIDATION.md. Only for a new devnet."
            ))
        var validationThresholdPpm: UInt64?
        @Option(help: "Port of the developer's signing proxy (0: any free one).") var proxyPort = 0
        @Flag(help: "Run the chain only: no API nodes, no model, no proxy (the fault tests).") var chainOnly = false
        @Flag(help: "API nodes do not validate each other's inferences (only to measure validation's cost).")
        var noValidation = false
        @Flag(
            help: ArgumentHelp(
                "40-block epochs instead of 120 (a sprint every ~40 s), to watch several epochs settle in minutes.",
                discussion: "Only for a new devnet."))
        var shortEpochs = false
        @Option(
            help: ArgumentHelp(
                "Node K runs in the Kth named network namespace and listens on ADDRESS there instead of 127.0.0.1 (once per node, in order).",
                discussion:
                    "The namespaces must exist, with a link to this machine (the fault tests' Tests/python/netns.py makes them: veth pairs into a bridge, a private /24); nodes run as `ip netns exec NAME gonka node start …`, so a test can cut or slow one node's link for real. The proxy stays on this machine's loopback. Only for a new devnet.",
                valueName: "NAME=ADDRESS"))
        var netns: [String] = []

        /// The model the nodes serve, or nil when there is none (chain only).
        var modelPath: String? {
            if chainOnly { return nil }
            let path = ModelCache.resolve(model)
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }

        func validate() throws {
            guard (1...32).contains(participants) else { throw ValidationError("--participants must be 1–32") }
            guard waitTimeout > 0 else { throw ValidationError("--wait-timeout must be positive") }
            if let binary, !FileManager.default.isExecutableFile(atPath: binary) {
                throw ValidationError("--binary \(binary) is not an executable file")
            }
            if !nodeModel.isEmpty, chainOnly {
                throw ValidationError("--node-model needs API nodes (not --chain-only)")
            }
            guard ["native", "opaque"].contains(sampler) else {
                throw ValidationError("--sampler must be native or opaque, not \"\(sampler)\"")
            }
            if let validationThresholdPpm, !(1...1_000_000).contains(validationThresholdPpm) {
                throw ValidationError("--validation-threshold-ppm must be in 1…1000000")
            }
            do {
                _ = try nodeModels()
                _ = try hosts()
            } catch {
                throw ValidationError(error.description)
            }
        }

        /// `--netns` parsed, in node order.
        func hosts() throws(DevnetError) -> [DevnetHost] {
            let hosts = try netns.map { text throws(DevnetError) in try DevnetHost(parsing: text) }
            guard hosts.isEmpty || hosts.count == participants else {
                throw DevnetError(
                    "--netns is given \(hosts.count) times for \(participants) participants (once per node)")
            }
            return hosts
        }

        /// Genesis's registry entry: the devnet model with `--sampler` and `--validation-threshold-ppm`.
        var registeredModel: Genesis.Model {
            var entry = Genesis.Model.devnetDefault
            entry.sampler = sampler
            if let validationThresholdPpm { entry.validationThresholdPpm = validationThresholdPpm }
            return entry
        }

        /// `--node-model` as node index → file, checked (index in range and given once, file present).
        func nodeModels() throws(DevnetError) -> [Int: String] {
            try DevnetNodeModel.map(
                try nodeModel.map { text throws(DevnetError) in try DevnetNodeModel(parsing: text) },
                participants: participants)
        }

        func run() async throws {
            let dir = self.dir.url
            let binary = self.binary.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            if let model, !FileManager.default.fileExists(atPath: model) {
                throw CLIError("--model \(model) does not exist")
            }
            let manifest = try await DevnetRunner.prepare(
                dir: dir, participants: participants, testHooks: testHooks, reset: reset,
                binary: binary ?? DevnetProcess.currentExecutable, model: modelPath, nodeModels: try nodeModels(),
                validate: !noValidation, epochs: shortEpochs ? .quick : .devnet, registeredModel: registeredModel,
                hosts: try hosts())
            if noStart {
                print("wrote a devnet of \(manifest.nodes.count) validators in \(dir.path) (not started)")
                return
            }
            // Each node's steps (started, synced, serving) stay; the wait between them is one line
            // rewritten in place on a terminal, a plain line every few seconds otherwise.
            let line = ProgressLine()
            let report = { (progress: DevnetRunner.Progress) in
                switch progress {
                case .step: line.log(progress.description)
                case .waiting(let text): line.update(text)
                }
            }
            do {
                let started = try DevnetRunner.start(manifest, dir: dir, progress: report)
                try await DevnetRunner.waitForHeight(
                    2, manifest: started, timeout: .seconds(waitTimeout), progress: report)
                var running = started
                if running.serves {
                    running = try await DevnetRunner.startProxy(running, dir: dir, port: proxyPort, progress: report)
                }
                line.finish()
                print(running.summary(dir: dir))
            } catch {
                line.finish()
                throw error
            }
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
                print(report)
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
            await DevnetRunner.stopAll(manifest) { print($0) }
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
            try await DevnetRunner.kill(node)
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
            let pid = try await DevnetRunner.restart(index, in: &manifest, dir: dir.url)
            print("started \(node.moniker) (pid \(pid), rpc \(node.rpcURL))")
        }
    }
}
