import Devnet
import Foundation
import GonkaCore
import GonkaTestKit
import Ledger
import Testing

/// The devnet, tx and query commands as a user runs them, without a running node: layout
/// written by `devnet up --no-start`, and every class of bad input refused with `error: …`.
@Suite(.timeLimit(.minutes(5)), .hangGuard) struct DevnetCLITests {
    typealias H = DevnetHarness

    @Test func upWritesAGenesisAndAHomePerValidator() async throws {
        let dir = try H.temporaryDirectory("layout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try await H.run([
            "devnet", "up", "--dir", dir.path, "--participants", "3", "--no-start", "--test-hooks",
        ])
        #expect(run.status == 0, "\(run.output)")
        let manifest = try H.loadManifest(dir)
        #expect(manifest.nodes.count == 3)
        let genesis = try Data(contentsOf: dir.appendingPathComponent("node0/genesis.json"))
        var ports: Set<String> = []
        var nodeIDs: [String] = []
        for node in manifest.nodes {
            // Every home holds the same genesis and passes `gonka genesis validate`.
            #expect(try Data(contentsOf: URL(fileURLWithPath: node.home + "/genesis.json")) == genesis)
            let validate = try await H.run(["genesis", "validate", "--home", node.home])
            #expect(validate.status == 0 && validate.stdout.contains("validators: 3, power 300"), "\(validate.output)")
            for key in ["validator", "consensus", "p2p"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: node.home + "/keys/\(key).json")
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            }
            let config = try String(contentsOfFile: node.home + "/config.toml", encoding: .utf8)
            #expect(config.contains("chain_id = \"gonka-devnet\""))
            #expect(config.contains("test_hooks = true"))
            // Every devnet participant mines its sprints.
            #expect(Self.value(after: "[poc]", key: "enabled", in: config) == "true")
            for section in ["[p2p]", "[rpc]", "[api]"] {
                let listen = try #require(Self.value(after: section, key: "listen", in: config))
                #expect(listen.hasPrefix("\"127.0.0.1:"))
                ports.insert(listen)
            }
            #expect(
                node.rpcURL == "http://"
                    + (Self.value(after: "[rpc]", key: "listen", in: config) ?? "")
                    .trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
            nodeIDs.append(
                try String(contentsOfFile: node.home + "/keys/p2p.json", encoding: .utf8)
                    .components(separatedBy: "\"public_key\"").last?.split(separator: "\"").dropFirst().first
                    .map(String.init) ?? "")
        }
        #expect(ports.count == 9, "ports must all differ: \(ports)")
        // Each node lists the other two as persistent peers, by p2p key and port.
        for node in manifest.nodes {
            let config = try String(contentsOfFile: node.home + "/config.toml", encoding: .utf8)
            let peers = try #require(Self.value(after: "[p2p]", key: "persistent_peers", in: config))
            for other in manifest.nodes {
                #expect(peers.contains(nodeIDs[other.index]) == (other.index != node.index))
            }
        }
        // The faucet is funded and its key is usable.
        let faucetGenesis = String(decoding: genesis, as: UTF8.self)
        #expect(faucetGenesis.contains(manifest.faucet.address.description))
        #expect(FileManager.default.fileExists(atPath: manifest.faucet.home + "/keys/faucet.json"))

        // A second `up` on the same stopped directory resumes it (no new keys), `--reset` rewrites it.
        let again = try await H.run(["devnet", "up", "--dir", dir.path, "--no-start"])
        #expect(again.status == 0)
        #expect(try H.loadManifest(dir).faucet.address == manifest.faucet.address)
        let reset = try await H.run(["devnet", "up", "--dir", dir.path, "--participants", "2", "--no-start", "--reset"])
        #expect(reset.status == 0)
        #expect(try H.loadManifest(dir).nodes.count == 2)
        #expect(try H.loadManifest(dir).faucet.address != manifest.faucet.address)
    }

    @Test func upRefusesADirectoryThatIsNotADevnet() async throws {
        let dir = try H.temporaryDirectory("notdevnet")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("keep me".utf8).write(to: dir.appendingPathComponent("file.txt"))
        let run = try await H.run(["devnet", "up", "--dir", dir.path, "--no-start"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("is not a devnet"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("file.txt").path))
    }

    @Test(arguments: [
        (["devnet", "up", "--participants", "0"], "--participants"),
        (["devnet", "up", "--participants", "x"], "participants"),
        (["devnet", "up", "--binary", "/nonexistent/gonka"], "--binary"),
        (["devnet", "status", "--dir", "/nonexistent/devnet"], "no devnet"),
        (["devnet", "down", "--dir", "/nonexistent/devnet"], "no devnet"),
        (["devnet", "kill-node", "x"], "index"),
        (["tx", "bank", "send", "faucet", "gonka1notanaddress", "1gnk"], "TO"),
        (["tx", "bank", "send", "faucet", "gonka1qqqq", "1gnk"], "TO"),
        (["tx", "bank", "send", "bad/name", Self.someAddress, "1gnk"], "name"),
        (["tx", "bank", "send", "faucet", Self.someAddress, "12"], "AMOUNT"),
        (["tx", "bank", "send", "faucet", Self.someAddress, "0gnk"], "AMOUNT must be positive"),
        (["tx", "bank", "send", "faucet", Self.someAddress, "1.5btc"], "AMOUNT"),
        (["tx", "bank", "send", "faucet", Self.someAddress, "1gnk", "--mode", "async"], "mode"),
        (["tx", "bank", "send", "faucet", Self.someAddress, "1gnk", "--home", "/nonexistent"], "faucet"),
        (["query", "balance", "nope"], "ADDRESS"),
        (["query", "account", "gonka1"], "ADDRESS"),
        (["query", "block", "0"], "HEIGHT"),
        (["query", "block", "-3"], "height"),
        (["query", "tx", "abc"], "HASH"),
        (["query", "poc", "nope"], "PARTICIPANT"),
        (["query", "poc", Self.someAddress, "--poc-start-height", "x"], "poc-start-height"),
        (["query", "epoch", "--height", "x"], "height"),
        (["query", "participants", "--height", "-1"], "height"),
        (["query", "status", "--node", "localhost"], "--node"),
        (["query", "status", "--frobnicate"], "frobnicate"),
        (["query", "inference", "xyz"], "ID"),
        (["query", "validations"], "--epoch"),
        (["query", "validations", "--epoch", "x"], "epoch"),
        (["query", "validations", "--epoch", "0", "--validator", "nope"], "--validator"),
        (["query", "misses", "nope"], "ADDRESS"),
        (["query", "executors"], "--model"),
        (["bench", "inference-ledger", "--inferences", "0"], "--inferences"),
        (["devnet", "up", "--node-model", "model.gguf"], "is not K=PATH"),
        (["devnet", "up", "--node-model", "one=\(Self.existingFile)"], "K must be a node index"),
        (["devnet", "up", "--node-model=-1=\(Self.existingFile)"], "K must be a node index"),
        (["devnet", "up", "--node-model", "0="], "names no file"),
        (["devnet", "up", "--participants", "2", "--node-model", "2=\(Self.existingFile)"], "nodes 0…1, not 2"),
        (
            ["devnet", "up", "--node-model", "0=\(Self.existingFile)", "--node-model", "0=\(Self.existingFile)"],
            "twice"
        ),
        (["devnet", "up", "--node-model", "0=/nonexistent/model.gguf"], "no such file"),
        (["devnet", "up", "--node-model", "0=http://"], "not an http(s)://host:port URL"),
        (["devnet", "up", "--sampler", "greedy"], "--sampler must be native or opaque"),
        (["devnet", "up", "--validation-threshold-ppm", "0"], "--validation-threshold-ppm must be in"),
        (["devnet", "up", "--node-model", "0=\(Self.existingFile)", "--chain-only"], "not --chain-only"),
        (["devnet", "up", "--netns", "ns0"], "expected NAME=ADDRESS"),
        (["devnet", "up", "--netns", "ns 0=10.1.2.3"], "expected NAME=ADDRESS"),
        (["devnet", "up", "--netns", "ns0=10.1.2"], "is not an IPv4 address"),
        (["devnet", "up", "--participants", "2", "--netns", "ns0=10.1.2.3"], "once per node"),
    ])
    func badInputIsAClearError(arguments: [String], mentions: String) async throws {
        let run = try await H.run(arguments)
        #expect(run.status != 0, "\(arguments) succeeded: \(run.output)")
        #expect(run.stderr.lowercased().contains("error"), "\(arguments): \(run.output)")
        #expect(run.stderr.contains(mentions), "\(arguments): \(run.stderr)")
    }

    @Test(.timeLimit(.minutes(3))) func unreachableNodeIsAClearError() async throws {
        let port = try ClientTests.closedPort()
        for arguments in [
            ["query", "status"], ["query", "balance", Self.someAddress], ["query", "block", "3"],
        ] {
            let run = try await H.run(arguments + ["--node", "http://127.0.0.1:\(port)"])
            #expect(run.status != 0)
            #expect(run.stderr.contains("127.0.0.1:\(port)"), "\(run.stderr)")
        }
        // $GONKA_NODE is the default --node.
        let env = try await H.run(["query", "status"], environment: ["GONKA_NODE": "http://127.0.0.1:\(port)"])
        #expect(env.status != 0 && env.stderr.contains("127.0.0.1:\(port)"))
    }

    @Test(arguments: [
        ["devnet", "--help"], ["devnet", "up", "--help"], ["devnet", "status", "--help"], ["devnet", "down", "--help"],
        ["tx", "bank", "send", "--help"], ["query", "--help"], ["query", "balance", "--help"],
        ["query", "block", "--help"], ["query", "tx", "--help"], ["bench", "chain", "--help"],
        ["query", "inference", "--help"], ["query", "models", "--help"], ["query", "validations", "--help"],
        ["bench", "inference-ledger", "--help"],
    ])
    func everyNewCommandExplainsItself(arguments: [String]) async throws {
        let run = try await H.run(arguments)
        #expect(run.status == 0)
        #expect(run.stdout.contains("USAGE:") && run.stdout.contains("OVERVIEW:"))
    }

    static let someAddress = SigningKey().publicKey.address.description
    /// A file that is there (this one), for flags that need one.
    static let existingFile = #filePath

    /// `--node-model 1=PATH` writes node 1's config with PATH and the registered id, the others with
    /// the default model under the same id; a devnet already there refuses it (its configs stay).
    @Test func nodeModelGivesOneNodeAnotherFileUnderTheRegisteredID() async throws {
        let dir = try H.temporaryDirectory("nodemodel")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try TestModelFile.path()
        let run = try await H.run([
            "devnet", "up", "--dir", dir.path, "--participants", "3", "--no-start", "--model", model,
            "--node-model", "1=\(Self.existingFile)",
        ])
        #expect(run.status == 0, "\(run.output)")
        let manifest = try H.loadManifest(dir)
        for node in manifest.nodes {
            let config = try String(contentsOfFile: node.home + "/config.toml", encoding: .utf8)
            let file = node.index == 1 ? Self.existingFile : model
            #expect(Self.value(after: "[api]", key: "model", in: config) == "\"\(file)\"", "node\(node.index)")
            #expect(Self.value(after: "[api]", key: "model_id", in: config) == "\"\(Genesis.Model.devnetDefault.id)\"")
            // The admin routes on their own loopback port, named in the manifest.
            let admin = try #require(node.adminPort, "node\(node.index) has no admin port")
            #expect(Self.value(after: "[api]", key: "admin_listen", in: config) == "\"127.0.0.1:\(admin)\"")
        }
        let ports = manifest.nodes.flatMap { [$0.p2pPort, $0.rpcPort, $0.apiPort, $0.adminPort ?? 0] }
        #expect(Set(ports).count == 12)
        // A URL: that node has no model in process and serves through the ML node there; the
        // registered entry takes --sampler and --validation-threshold-ppm.
        let remoteDir = try H.temporaryDirectory("nodemodel-url")
        defer { try? FileManager.default.removeItem(at: remoteDir) }
        let remote = try await H.run([
            "devnet", "up", "--dir", remoteDir.path, "--participants", "2", "--no-start", "--model", model,
            "--node-model", "1=http://127.0.0.1:9/", "--sampler", "opaque", "--validation-threshold-ppm", "25000",
        ])
        #expect(remote.status == 0, "\(remote.output)")
        let remoteNodes = try H.loadManifest(remoteDir).nodes
        for node in remoteNodes {
            let config = try String(contentsOfFile: node.home + "/config.toml", encoding: .utf8)
            let remoteOne = node.index == 1
            #expect(Self.value(after: "[api]", key: "ml", in: config) == (remoteOne ? "\"\"" : "\"embedded\""))
            #expect(
                Self.value(after: "[api]", key: "ml_nodes", in: config)
                    == (remoteOne ? "[\"http://127.0.0.1:9\"]" : "[]"))
        }
        let genesis = try Genesis.decode(
            json: Data(contentsOf: URL(fileURLWithPath: remoteNodes[0].home + "/genesis.json")))
        #expect(genesis.models.map(\.sampler) == ["opaque"])
        #expect(genesis.models.map(\.validationThresholdPpm) == [25_000])
        let again = try await H.run([
            "devnet", "up", "--dir", dir.path, "--no-start", "--model", model, "--node-model", "0=\(Self.existingFile)",
        ])
        #expect(again.status != 0)
        #expect(again.stderr.contains("apply to a new one"), "\(again.output)")
        let unvalidated = try await H.run([
            "devnet", "up", "--dir", dir.path, "--no-start", "--model", model, "--no-validation",
        ])
        #expect(unvalidated.status != 0)
        #expect(unvalidated.stderr.contains("apply to a new one"), "\(unvalidated.output)")
        // A new devnet without validation writes `validate = false` into every node's [api].
        let fresh = dir.appendingPathComponent("unvalidated")
        let created = try await H.run([
            "devnet", "up", "--dir", fresh.path, "--no-start", "--model", model, "--no-validation", "--participants",
            "2",
        ])
        #expect(created.status == 0, "\(created.output)")
        let config = try String(contentsOfFile: fresh.path + "/node0/config.toml", encoding: .utf8)
        #expect(Self.value(after: "[api]", key: "validate", in: config) == "false")
    }

    /// The raw value of `key` in `[section]` of a TOML text.
    static func value(after section: String, key: String, in toml: String) -> String? {
        guard let start = toml.range(of: section + "\n") else { return nil }
        for line in toml[start.upperBound...].split(separator: "\n") {
            if line.hasPrefix("[") { return nil }
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
