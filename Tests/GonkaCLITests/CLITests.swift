import Foundation
import GonkaCore
import Testing

/// The `gonka` binary as a user runs it: real processes, a temporary home each.
@Suite(.timeLimit(.minutes(5)), .hangGuard) struct CLITests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
        var output: String { stdout + stderr }
    }

    /// The `gonka` executable built next to this test bundle.
    static let binary: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "gonka")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        // Fallback: the package's default debug products folder.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/gonka")
    }()

    /// Runs `gonka ARGUMENTS` to its end on a thread of its own: a child process takes from a
    /// fraction of a second to seconds (a loaded machine, `poc calibrate`), and waiting for it on
    /// the cooperative pool (two threads, shared by every test of the run) stalled the in-process
    /// networks of other suites.
    @discardableResult
    func gonka(
        _ arguments: [String], input: String? = nil, environment: [String: String] = [:]
    ) async throws -> Run {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(
                    with: Result { try Self.runBlocking(arguments, input: input, environment: environment) })
            }
            thread.start()
        }
    }

    /// `gonka ARGUMENTS` to its end, blocking this thread; SIGKILL after 180 s.
    static func runBlocking(_ arguments: [String], input: String?, environment: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "GONKA_HOME")
        // Nodes, proxies and ML nodes it starts stop when this test process ends, even by a crash.
        env["GONKA_OWNER_PID"] = "\(getpid())"
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        let inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        // A child that never ends must not hold this (cooperative) thread, and the run, forever.
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(180), execute: watchdog)
        defer { watchdog.cancel() }
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try inPipe.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// SIGTERM, up to `grace` for the process to exit, then SIGKILL; returns whether SIGTERM was
    /// enough. Never waits on a child that ignores SIGTERM.
    @discardableResult
    static func terminate(_ process: Process, grace: Duration = .seconds(20)) -> Bool {
        guard process.isRunning else { return true }
        process.terminate()
        let deadline = ContinuousClock.now + grace
        while process.isRunning, ContinuousClock.now < deadline { usleep(50_000) }
        let clean = !process.isRunning
        if !clean { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return clean
    }

    func temporaryHome() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test(arguments: [
        ["--help"], ["keys", "--help"], ["keys", "add", "--help"], ["keys", "list", "--help"],
        ["keys", "show", "--help"],
        ["keys", "export-pubkey", "--help"], ["keys", "delete", "--help"], ["init", "--help"], ["genesis", "--help"],
        ["genesis", "add-account", "--help"], ["genesis", "validate", "--help"], ["version", "--help"],
        ["bench", "--help"], ["bench", "inference", "--help"], ["bench", "validation", "--help"],
        ["tx", "collateral", "deposit", "--help"], ["tx", "collateral", "withdraw", "--help"],
        ["tx", "unjail", "--help"], ["query", "collateral", "--help"], ["query", "slashes", "--help"],
        ["tx", "claim", "--help"], ["query", "supply", "--help"], ["query", "settlement", "--help"],
        ["query", "rewards", "--help"], ["bench", "settlement", "--help"],
    ])
    func everyCommandExplainsItself(arguments: [String]) async throws {
        let run = try await gonka(arguments)
        #expect(run.status == 0)
        #expect(run.stdout.contains("USAGE:"))
        #expect(run.stdout.contains("OVERVIEW:") || arguments == ["--help"])
    }

    /// Collateral and slashing commands refuse bad arguments before they reach a node (PROTOCOL §9).
    @Test(arguments: [
        (["tx", "collateral", "deposit", "key", "0gnk"], "AMOUNT must be positive"),
        (["tx", "collateral", "withdraw", "key", "lots"], "AMOUNT \"lots\""),
        (["tx", "unjail", "../key"], "key"),
        (["query", "collateral", "nope"], "is not a gonka1"),
        (["query", "slashes", "nope"], "is not a gonka1"),
    ])
    func collateralCommandsRejectBadArguments(arguments: [String], message: String) async throws {
        let run = try await gonka(arguments)
        #expect(run.status != 0)
        #expect(run.output.contains(message), "\(run.output)")
    }

    /// Rewards commands refuse bad arguments before they reach a node (PROTOCOL §8).
    @Test(arguments: [
        (["query", "rewards", "nope"], "is not a gonka1"),
        (["query", "settlement", "last"], "last"),
        (["tx", "claim"], "--epoch"),
        (["tx", "claim", "--epoch", "x"], "x"),
        (["tx", "claim", "--epoch", "1", "--key", "../key"], "key"),
        (["bench", "settlement", "--participants", "0"], "--participants must be positive"),
    ])
    func rewardsCommandsRejectBadArguments(arguments: [String], message: String) async throws {
        let run = try await gonka(arguments)
        #expect(run.status != 0)
        #expect(run.output.contains(message), "\(run.output)")
    }

    /// `bench soak --memory` takes only `[memory]` names, each in its range, before any devnet starts.
    @Test(arguments: [
        (["--memory", "page_cache=64"], "NAME one of state_page_cache_mb"),
        (["--memory", "state_page_cache_mb"], "expected NAME=MIB"),
        (["--memory", "state_page_cache_mb=0"], "state_page_cache_mb must be a whole number of MiB in 1…"),
        (["--memory", "state_node_cache_mb=lots"], "state_node_cache_mb must be a whole number"),
        (["--memory", "state_value_cache_mb=-1"], "state_value_cache_mb must be a whole number of MiB in 0…"),
    ])
    func benchSoakRejectsBadMemoryBudgets(arguments: [String], message: String) async throws {
        let run = try await gonka(["bench", "soak", "--minutes", "1", "--interval", "10"] + arguments)
        #expect(run.status != 0)
        #expect(run.output.contains(message), "\(run.output)")
        #expect(!run.output.contains("waiting for the API nodes"), "\(run.output)")
    }

    /// A claim by hand needs the epoch's seed in the home; without it, a clear error, nothing sent.
    @Test func claimWithoutASeedSaysWhere() async throws {
        let home = try temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        _ = try await gonka(["keys", "add", "validator", "--home", home.path])
        let run = try await gonka([
            "tx", "claim", "--epoch", "3", "--home", home.path, "--node", "http://127.0.0.1:9",
        ])
        #expect(run.status != 0)
        #expect(run.output.contains("no seed for epoch 3"), "\(run.output)")
    }

    @Test func benchInferenceRejectsBadArgumentsAndModels() async throws {
        for bad in [["--threads", "0"], ["--threads", "1,x"], ["--runs", "0"], ["--prompt-tokens", "9000"]] {
            let run = try await gonka(["bench", "inference"] + bad)
            #expect(run.status != 0, "\(bad)")
        }
        let missing = try await gonka(["bench", "inference", "--model", "/nonexistent/model.gguf"])
        #expect(missing.status != 0)
        #expect(missing.output.contains("cannot open GGUF file"))
    }

    @Test func benchValidationRejectsBadArgumentsAndModels() async throws {
        for (bad, names) in [
            (["--classes", "q3,bogus"], "bogus"), (["--max-tokens", "0"], "--max-tokens"),
            (["--executor-threads", "0"], "--executor-threads"), (["--threshold-ppm", "0"], "--threshold-ppm"),
            (["--cheats", "-1"], "--cheats"), (["--honest", "x"], "--honest"),
            (["--sampler", "greedy"], "--sampler must be native or opaque"),
            (["--pair", "llamacpp"], "--pair must be native,llamacpp"),
            (["--pair", "native,llamacpp"], "--pair needs --upstream"),
            (["--pair", "native,llamacpp", "--upstream", "ftp://x"], "--pair needs --upstream"),
            (["--opaque-margin-ppm", "1000000"], "--opaque-margin-ppm must be below"),
        ] {
            let run = try await gonka(["bench", "validation"] + bad)
            #expect(run.status != 0, "\(bad)")
            #expect(run.stderr.contains(names), "\(bad): \(run.stderr)")
        }
        let missing = try await gonka(["bench", "validation", "--model", "/nonexistent/model.gguf"])
        #expect(missing.status != 0)
        #expect(missing.output.contains("cannot open GGUF file"))
    }

    @Test func version() async throws {
        let run = try await gonka(["version"])
        #expect(run.status == 0)
        #expect(run.stdout.hasPrefix("gonka \(GonkaVersion.current)"))
    }

    @Test func keysLifecycle() async throws {
        let home = try temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let add = try await gonka(["keys", "add", "alice", "--home", home.path])
        #expect(add.status == 0, "\(add.output)")
        let address = try #require(
            add.stdout.split(separator: "\n").first { $0.hasPrefix("address:") }?.split(separator: " ").last)
        _ = try Address(String(address))
        let file = home.appendingPathComponent("keys/alice.json").path
        #expect(try mode(file) == 0o600)
        #expect(try mode(home.appendingPathComponent("keys").path) == 0o700)
        let secret = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: String])[
                "private_key"]
        #expect(secret?.count == 64)
        // The secret never appears unless asked for.
        for args in [
            ["keys", "add", "bob"], ["keys", "list"], ["keys", "show", "alice"], ["keys", "export-pubkey", "alice"],
        ] {
            let run = try await gonka(args + ["--home", home.path])
            #expect(run.status == 0, "\(args): \(run.output)")
            #expect(!run.output.contains(secret ?? "-"), "\(args) printed the private key")
        }
        #expect(
            try await gonka(["keys", "show", "alice", "--reveal-private-key", "--home", home.path]).stdout.contains(
                secret ?? "-"))
        #expect(try await gonka(["keys", "show", "alice", "--address", "--home", home.path]).stdout == "\(address)\n")
        let list = try await gonka(["keys", "list", "--home", home.path])
        #expect(list.stdout.contains("alice") && list.stdout.contains("bob"))
        // A duplicate name is refused and the old key kept.
        let dup = try await gonka(["keys", "add", "alice", "--home", home.path])
        #expect(dup.status != 0)
        #expect(dup.stderr.contains("already exists"))
        #expect(try await gonka(["keys", "show", "alice", "--address", "--home", home.path]).stdout == "\(address)\n")
        // Deleting asks first; a wrong answer keeps the key.
        #expect(try await gonka(["keys", "delete", "alice", "--home", home.path], input: "no\n").status != 0)
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(try await gonka(["keys", "delete", "alice", "--home", home.path], input: "alice\n").status == 0)
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(try await gonka(["keys", "show", "alice", "--home", home.path]).stderr.contains("no key named"))
    }

    @Test func keysRecoverFromSeedAndHomeFromEnvironment() async throws {
        let home = try temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let seed = String(repeating: "07", count: 32)
        let expected = try SigningKey(seed: [UInt8](repeating: 7, count: 32)).publicKey.address.description
        let run = try await gonka(["keys", "add", "k", "--recover-hex", seed], environment: ["GONKA_HOME": home.path])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains(expected))
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent("keys/k.json").path))
    }

    @Test(arguments: [
        (["keys", "add", "../evil"], "invalid key name"),
        (["keys", "add", "x", "--recover-hex", "abc"], "--recover-hex"),
        (["keys", "show", "nobody"], "no key named"),
        (["init"], "--chain-id"),
        (["init", "--chain-id", "Bad Id"], "chain-id"),
        (["init", "--chain-id", "t1", "--amount", "12"], "unit"),
        (["init", "--chain-id", "t1", "--power", "0"], "--power"),
        (["genesis", "validate"], "no genesis"),
        (["genesis", "add-account", "gonka1abc", "1gnk"], "no genesis"),
        (["frobnicate"], "Error:"),
    ])
    func badInputFailsClearly(arguments: [String], expected: String) async throws {
        let home = try temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let run = try await gonka(arguments + ["--home", home.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains(expected), "\(run.output)")
    }

    @Test func initAndGenesisAsANewUserWouldUseThem() async throws {
        let home = try temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let initRun = try await gonka(["init", "--chain-id", "t1", "--home", home.path])
        #expect(initRun.status == 0, "\(initRun.output)")
        for file in ["config.toml", "genesis.json", "keys/validator.json", "keys/consensus.json", "keys/p2p.json"] {
            #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent(file).path), "\(file) missing")
        }
        #expect(try mode(home.appendingPathComponent("keys/consensus.json").path) == 0o600)
        // Running it again does not clobber the node.
        let again = try await gonka(["init", "--chain-id", "t1", "--home", home.path])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already initialised"))

        let bob = try await gonka(["keys", "add", "bob", "--home", home.path])
        #expect(bob.status == 0)
        let bobAddress = try #require(
            try await gonka(["keys", "show", "bob", "--address", "--home", home.path]).stdout.split(separator: "\n")
                .first)
        let added = try await gonka(["genesis", "add-account", String(bobAddress), "1.5gnk", "--home", home.path])
        #expect(added.status == 0, "\(added.output)")
        // By key name too, and duplicates refused.
        #expect(try await gonka(["keys", "add", "carol", "--home", home.path]).status == 0)
        #expect(try await gonka(["genesis", "add-account", "carol", "2gnk", "--home", home.path]).status == 0)
        let dup = try await gonka(["genesis", "add-account", String(bobAddress), "1gnk", "--home", home.path])
        #expect(dup.status != 0)
        #expect(dup.stderr.contains("already has a genesis balance"))
        #expect(
            try await gonka(["genesis", "add-account", "gonka1qqqq", "1gnk", "--home", home.path]).stderr.contains(
                "not a valid address"))
        #expect(
            try await gonka(["genesis", "add-account", String(bobAddress), "lots", "--home", home.path]).status != 0)

        let genesis =
            try JSONSerialization.jsonObject(with: Data(contentsOf: home.appendingPathComponent("genesis.json")))
            as? [String: Any]
        let accounts = try #require(genesis?["accounts"] as? [[String: Any]])
        #expect(accounts.count == 3)
        #expect(
            accounts.contains {
                $0["address"] as? String == String(bobAddress) && $0["balance"] as? String == "1500000000"
            })
        #expect(genesis?["chain_id"] as? String == "t1")
        let validate = try await gonka(["genesis", "validate", "--home", home.path])
        #expect(validate.status == 0, "\(validate.output)")
        #expect(validate.stdout.contains("accounts:   3"))
    }

    @Test func corruptGenesisIsReportedNotCrashedOn() async throws {
        let home = try temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        #expect(try await gonka(["init", "--chain-id", "t1", "--home", home.path]).status == 0)
        try Data("{\"chain_id\": 5".utf8).write(to: home.appendingPathComponent("genesis.json"))
        let run = try await gonka(["genesis", "validate", "--home", home.path])
        #expect(run.status == 1)
        #expect(run.stderr.contains("invalid genesis"), "\(run.output)")
        // A damaged key file too.
        try Data("garbage".utf8).write(to: home.appendingPathComponent("keys/validator.json"))
        let show = try await gonka(["keys", "show", "validator", "--home", home.path])
        #expect(show.status == 1)
        #expect(show.stderr.contains("damaged"), "\(show.output)")
    }
}
