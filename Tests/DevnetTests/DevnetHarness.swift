import ChainNode
import Devnet
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Testing

/// Runs the real `gonka` binary: `gonka devnet up` in a temporary directory, then the tests drive
/// the node processes through their RPC and the devnet commands. `withDevnet` always stops every
/// process it started and deletes the directory, whatever the test body does.
struct DevnetHarness: Sendable {
    struct Run: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
        var output: String { stdout + stderr }
    }

    let dir: URL
    /// What `devnet up` wrote (`DIR/devnet.json`), read with the devnet library's own type.
    let manifest: DevnetManifest
    let audit = ChainAudit()

    var nodeCount: Int { manifest.nodes.count }

    /// The `gonka` executable built next to this test bundle.
    static let binary: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("gonka")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/gonka")
    }()

    /// Whether the binary can run a node yet (`gonka node start` exists); the process tests are
    /// skipped, not failed, on a build without it.
    static let nodeAvailable: Bool = {
        (try? gonka(["node", "start", "--help"]).status) == 0
    }()

    /// Runs `gonka ARGUMENTS` to its end, blocking the calling thread; killed (SIGKILL) past
    /// `timeout`. From async code use ``run(_:environment:timeout:)``, which does not block.
    @discardableResult
    static func gonka(
        _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(300)
    ) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "GONKA_HOME")
        env.removeValue(forKey: "GONKA_NODE")
        // Nodes, proxies and ML nodes it starts stop when this test process ends, even by a crash.
        env["GONKA_OWNER_PID"] = "\(getpid())"
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // A child that never ends (a node that ignores SIGTERM, a wait with no bound) must not
        // hold this thread, and the run, forever.
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(
            deadline: .now() + .seconds(Int(timeout.components.seconds)), execute: watchdog)
        defer { watchdog.cancel() }
        // Read both pipes concurrently with the wait so a chatty child never blocks on a full pipe.
        let stderrBox = DataBox()
        let reader = Thread { stderrBox.data = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !stderrBox.done { usleep(1_000) }
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderrBox.data, as: UTF8.self))
    }

    /// ``gonka(_:environment:timeout:)`` on a thread of its own: the wait for the child (up to
    /// minutes for `devnet up`) must not hold one of the cooperative pool's threads, which every
    /// in-process network of the test run shares (2 on a 2-core machine).
    @discardableResult
    static func run(
        _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(300)
    ) async throws -> Run {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try gonka(arguments, environment: environment, timeout: timeout) })
            }
            thread.start()
        }
    }

    final class DataBox: @unchecked Sendable {
        // Written once by the reader thread before `done` is set; read after.
        private let lock = NSLock()
        private var _data = Data()
        private var _done = false
        var data: Data {
            get { lock.withLock { _data } }
            set {
                lock.withLock {
                    _data = newValue; _done = true
                }
            }
        }
        var done: Bool { lock.withLock { _done } }
    }

    static func temporaryDirectory(_ tag: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Starts a devnet of `participants` validators with the test hooks on, runs `body`, and tears
    /// it down on every path: `gonka devnet down`, then SIGKILL for any node still alive.
    /// `serving`: the arguments that make the nodes serve a model (`--model …`, `--node-model …`);
    /// nil runs the chain only. `configure`: changes each node's `config.toml` before the first
    /// start (`devnet up --no-start`, the change, then `devnet up`, which resumes).
    static func withDevnet<T: Sendable>(
        participants: Int = 4, serving: [String]? = nil, configure: ((inout NodeConfig) -> Void)? = nil,
        _ body: (DevnetHarness) async throws -> T
    ) async throws -> T {
        let dir = try temporaryDirectory("devnet")
        // If the test hangs and the watchdog ends the process, the nodes must not outlive it.
        let cleanup = HangWatchdog.shared.addCleanup { killLeftovers(dir) }
        func tearDown() async {
            _ = try? await run(["devnet", "down", "--dir", dir.path], timeout: .seconds(120))
            killLeftovers(dir)
            try? FileManager.default.removeItem(at: dir)
            HangWatchdog.shared.removeCleanup(cleanup)
        }
        do {
            let arguments =
                [
                    "devnet", "up", "--dir", dir.path, "--participants", "\(participants)", "--test-hooks",
                    "--binary", binary.path, "--wait-timeout", "120",
                ] + (serving ?? ["--chain-only"])
            if let configure {
                let prepared = try await run(arguments + ["--no-start"])
                guard prepared.status == 0 else {
                    throw HarnessError("devnet up --no-start failed (\(prepared.status)):\n\(prepared.output)")
                }
                for node in try loadManifest(dir).nodes {
                    let file = URL(fileURLWithPath: node.home).appendingPathComponent("config.toml")
                    var config = try NodeConfig(file: file)
                    configure(&config)
                    try config.toml.write(to: file, atomically: true, encoding: .utf8)
                }
            }
            let up = try await run(arguments)
            guard up.status == 0 else {
                throw HarnessError("devnet up failed (\(up.status)):\n\(up.output)\n\(logs(dir))")
            }
            let harness = DevnetHarness(dir: dir, manifest: try loadManifest(dir))
            let value: T
            do {
                value = try await body(harness)
            } catch {
                throw HarnessError("\(error)\n\(logs(dir))")
            }
            await tearDown()
            return value
        } catch {
            await tearDown()
            throw error
        }
    }

    static func loadManifest(_ dir: URL) throws -> DevnetManifest {
        try DevnetManifest.load(from: dir)
    }

    /// Last resort after `devnet down`: SIGKILL any pid in the manifest that is still a node of this
    /// directory (`DevnetProcess` checks through /proc, so an unrelated process is never touched).
    static func killLeftovers(_ dir: URL) {
        guard let manifest = try? loadManifest(dir) else { return }
        for node in manifest.nodes { DevnetProcess.signal(node.pid, home: node.home, SIGKILL) }
    }

    /// The end of every node's log, for failure messages.
    static func logs(_ dir: URL) -> String {
        guard let manifest = try? loadManifest(dir) else { return "" }
        return manifest.nodes.map { node in
            let text = FileManager.default.contents(atPath: node.home + "/node.log").map {
                String(decoding: $0.suffix(3_000), as: UTF8.self)
            }
            return "--- node\(node.index) log (end) ---\n\(text ?? "(none)")"
        }.joined(separator: "\n")
    }

    // MARK: Driving the network

    func client(_ index: Int, timeout: Duration = .seconds(5)) throws -> ChainClient {
        try ChainClient(baseURL: manifest.nodes[index].rpcURL, timeout: timeout)
    }

    func height(_ index: Int) async -> UInt64? {
        try? await client(index, timeout: .seconds(2)).status().height
    }

    /// Polls `condition` every 200 ms until it holds or `timeout` passes (then fails with `what`).
    func waitUntil(
        _ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("timed out after \(timeout) waiting until \(what)")
    }

    /// Waits until each of `nodes` has committed `height`.
    func waitForHeight(_ height: UInt64, nodes: [Int], timeout: Duration = .seconds(60)) async throws {
        try await waitUntil("nodes \(nodes) reach height \(height)", timeout: timeout) {
            for node in nodes {
                guard let h = await self.height(node), h >= height else { return false }
            }
            return true
        }
    }

    func maxHeight(_ nodes: [Int]) async -> UInt64 {
        var best: UInt64 = 0
        for node in nodes { best = max(best, await height(node) ?? 0) }
        return best
    }

    func killNode(_ index: Int) async throws {
        let run = try await Self.run(["devnet", "kill-node", "\(index)", "--dir", dir.path])
        guard run.status == 0 else { throw HarnessError("kill-node \(index): \(run.output)") }
    }

    func restartNode(_ index: Int) async throws {
        let run = try await Self.run(["devnet", "restart-node", "\(index)", "--dir", dir.path])
        guard run.status == 0 else { throw HarnessError("restart-node \(index): \(run.output)") }
    }

    /// Sends `amount` from the faucet to `to` with the CLI through node `node` (or the node at
    /// `rpcURL`), waiting for the commit; returns the hash and height.
    func faucetSend(
        to: String, amount: String, node: Int = 0, rpcURL: String? = nil
    ) async throws -> (hash: String, height: UInt64) {
        let run = try await Self.run([
            "tx", "bank", "send", manifest.faucet.key, to, amount, "--home", manifest.faucet.home, "--node",
            rpcURL ?? manifest.nodes[node].rpcURL, "--json",
        ])
        guard run.status == 0 else { throw HarnessError("tx bank send failed (\(run.status)): \(run.output)") }
        let result = try JSONDecoder().decode(BroadcastResult.self, from: Data(run.stdout.utf8))
        guard result.code == 0, let height = result.height else {
            throw HarnessError("tx \(result.hash) failed: code \(result.code) \(result.log)")
        }
        return (result.hash, height)
    }

    /// Every safety property the fault tests promise, checked over heights 1…(lowest height of
    /// `nodes`): the same block hash, app hash, parent and txs at every height on every node (no
    /// fork), commit signers that are validators, listed once and more than 2/3 of them, and every
    /// tx in `committed` found by `/tx` on every node at the height it was committed at. Blocks are
    /// immutable, so each node's heights are checked once (`audit` remembers how far). Returns the
    /// common height.
    @discardableResult
    func checkConsistency(nodes: [Int], committed: [String: UInt64] = [:]) async throws -> UInt64 {
        var heights: [UInt64] = []
        for node in nodes {
            guard let h = await height(node) else { throw HarnessError("node\(node) does not answer /status") }
            heights.append(h)
        }
        let common = heights.min() ?? 0
        let validators = Set(manifest.nodes.map { $0.validatorAddress.lowercased() })
        let total = manifest.nodes.count
        let problems = try await withThrowingTaskGroup(of: [String].self) { group in
            for node in nodes {
                let from = await audit.checked(node) + 1
                guard from <= common else { continue }
                let client = try client(node)
                group.addTask {
                    var problems: [String] = []
                    for height in from...common {
                        let block = try await client.block(height)
                        let signers = block.commit.signers.map { $0.lowercased() }
                        if block.height != height {
                            problems.append("node\(node) answered \(block.height) for \(height)")
                        }
                        if Set(signers).count != signers.count { problems.append("a signer twice at \(height)") }
                        if !Set(signers).isSubset(of: validators) {
                            problems.append("a non-validator signed \(height)")
                        }
                        if signers.count * 3 <= total * 2 { problems.append("\(signers.count) signers at \(height)") }
                        if let fork = await audit.compare(block, node: node) { problems.append(fork) }
                    }
                    await audit.advance(node, to: common)
                    return problems
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        for problem in problems.prefix(20) { Issue.record(Comment(rawValue: problem)) }
        for (hash, height) in committed where height <= common {
            for node in nodes {
                do {
                    let tx = try await client(node).tx(hash)
                    #expect(tx.height == height, "tx \(hash) moved on node\(node)")
                    #expect(tx.code == 0)
                } catch {
                    Issue.record("tx \(hash) committed at \(height) is not found on node\(node): \(error)")
                }
            }
        }
        return common
    }

    /// Funds validator `index`'s account from the faucet (200 GNK) and deposits 100 GNK of
    /// collateral from it with `gonka tx collateral deposit`; returns the account.
    func depositCollateral(of index: Int) async throws -> Address {
        let node = manifest.nodes[index]
        _ = try await faucetSend(to: node.accountAddress.description, amount: "200gnk")
        let deposit = try await Self.run([
            "tx", "collateral", "deposit", "validator", "100gnk", "--home", node.home, "--node", node.rpcURL,
        ])
        #expect(deposit.status == 0, "\(deposit.output)")
        // The command waited for the block on node `index`; node 0 may apply it a moment later
        // (a CI run under load read node 0 one block behind and saw no deposit yet).
        try await waitUntil("\(node.accountAddress)'s 100 GNK deposit on node0", timeout: .seconds(30)) {
            try await client(0).collateral(node.accountAddress).deposit == Amount(gnk: 100)!
        }
        return node.accountAddress
    }

    /// Waits until every node of `nodes` shows `account`'s collateral `what` (`holds`), then checks
    /// that each recorded exactly one slash for `reason`, of `burned`, leaving `left` deposited.
    func expectSlashedOnEveryNode(
        _ account: Address, nodes: [Int], what: String, timeout: Duration, reason: String, burned: Amount,
        left: Amount, _ holds: @escaping (CollateralInfo) -> Bool
    ) async throws {
        try await waitUntil("\(account) \(what) on nodes \(nodes)", timeout: timeout) {
            for node in nodes {
                guard let info = try? await self.client(node).collateral(account), holds(info) else { return false }
            }
            return true
        }
        for node in nodes {
            let slashes = try await client(node).slashes(of: account)
            #expect(slashes.map(\.reason) == [reason], "node \(node)")
            #expect(slashes.first?.burnedDeposit == burned, "node \(node)")
            #expect(try await client(node).collateral(account).deposit == left, "node \(node)")
        }
    }

    /// The heights in `range` whose commit lists validator `index` among the signers.
    func signedHeights(by index: Int, in range: ClosedRange<UInt64>, via node: Int) async throws -> [UInt64] {
        let address = manifest.nodes[index].validatorAddress.lowercased()
        var signed: [UInt64] = []
        for height in range {
            let block = try await client(node).block(height)
            if block.commit.signers.map({ $0.lowercased() }).contains(address) { signed.append(height) }
        }
        return signed
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What the consistency checks have seen: the first node's block at each height (every other
/// node's must match it) and how far each node has been checked.
actor ChainAudit {
    private struct Reference {
        var node: Int
        var hash: String
        var appHash: String
        var lastBlockHash: String
        var txs: [String]
    }
    private var reference: [UInt64: Reference] = [:]
    private var checkedUpTo: [Int: UInt64] = [:]

    func checked(_ node: Int) -> UInt64 { checkedUpTo[node] ?? 0 }

    func advance(_ node: Int, to height: UInt64) { checkedUpTo[node] = max(checked(node), height) }

    /// A description of the fork if `block` differs from what another node holds at its height.
    func compare(_ block: BlockInfo, node: Int) -> String? {
        let mine = Reference(
            node: node, hash: block.hash, appHash: block.appHash, lastBlockHash: block.lastBlockHash,
            txs: block.txs.map(\.hash))
        guard let other = reference[block.height] else {
            reference[block.height] = mine
            return nil
        }
        if other.hash != mine.hash {
            return "FORK at \(block.height): node\(other.node) \(other.hash), node\(node) \(mine.hash)"
        }
        if other.appHash != mine.appHash {
            return "app hash differs at \(block.height) (node\(other.node) vs node\(node))"
        }
        if other.lastBlockHash != mine.lastBlockHash || other.txs != mine.txs {
            return "block contents differ at \(block.height) (node\(other.node) vs node\(node))"
        }
        return nil
    }
}
