import Foundation
import GonkaClient
import GonkaCore
import Ledger

/// The steps of the devnet commands, shared with `gonka bench chain`.
public enum DevnetRunner {
    /// A fresh layout, or the existing one when `dir` holds a stopped devnet. Refuses a running one.
    /// `nodeModels`: node K serves that GGUF file instead of `model` (``DevnetLayout/create``); only
    /// for a new devnet, since a resumed one keeps the files its configs name.
    public static func prepare(
        dir: URL, participants: Int, testHooks: Bool, reset: Bool, binary: String,
        extraAccounts: [Address] = [], model: String? = nil, nodeModels: [Int: String] = [:], validate: Bool = true,
        epochs: EpochParams = .devnet, registeredModel: Genesis.Model = .devnetDefault, hosts: [DevnetHost] = []
    ) async throws -> DevnetManifest {
        let fm = FileManager.default
        if fm.fileExists(atPath: DevnetManifest.url(in: dir).path) {
            let existing = try DevnetManifest.load(from: dir)
            let running = existing.nodes.filter { DevnetProcess.isRunning($0.pid, home: $0.home) }
            guard running.isEmpty else {
                throw DevnetError(
                    "a devnet is already running in \(dir.path) (\(running.map(\.moniker).joined(separator: ", "))); "
                        + "stop it first: gonka devnet down --dir \(dir.path)")
            }
            if !reset {
                guard nodeModels.isEmpty, validate, epochs == .devnet, registeredModel == .devnetDefault, hosts.isEmpty
                else {
                    throw DevnetError(
                        "\(dir.path) holds a devnet already: --node-model, --no-validation, --short-epochs, --sampler, "
                            + "--validation-threshold-ppm and --netns apply to a new one (add --reset)")
                }
                var resumed = existing
                resumed.binary = binary
                return resumed
            }
        }
        if reset, fm.fileExists(atPath: dir.path) { try fm.removeItem(at: dir) }
        if fm.fileExists(atPath: dir.path),
            let contents = try? fm.contentsOfDirectory(atPath: dir.path), !contents.isEmpty
        {
            throw DevnetError("\(dir.path) exists and is not a devnet; choose another --dir or pass --reset to wipe it")
        }
        return try DevnetLayout.create(
            dir: dir, participants: participants, testHooks: testHooks, binary: binary, extraAccounts: extraAccounts,
            model: model, nodeModels: nodeModels, validate: validate, epochs: epochs, registeredModel: registeredModel,
            hosts: hosts)
    }

    /// Starts every node and records the pids; `progress` gets a `started` step per node.
    public static func start(
        _ manifest: DevnetManifest, dir: URL, progress: (Progress) -> Void = { _ in }
    ) throws -> DevnetManifest {
        var manifest = manifest
        for index in manifest.nodes.indices {
            let node = manifest.nodes[index]
            let pid = try DevnetProcess.start(
                binary: manifest.binary, home: node.home, logPath: node.logPath, netns: node.netns)
            manifest.nodes[index].pid = pid
            // Saved after each start, so a failure part-way still leaves `down` able to stop them.
            try manifest.save(to: dir)
            progress(.step(node: node.moniker, .started, detail: "pid \(pid), rpc \(node.rpcURL)"))
        }
        return manifest
    }

    /// For the `bench chain*` commands: starts the prepared devnet, waits for block 2, runs
    /// `measure`, then stops every node and deletes `dir` (unless `keep`), whatever `measure` did.
    /// `progress` gets the line saying where a kept devnet is; `starting` the nodes' steps while they start.
    public static func withStarted(
        _ prepared: DevnetManifest, dir: URL, keep: Bool, progress: (String) -> Void,
        starting: (Progress) -> Void = { _ in }, _ measure: (DevnetManifest) async throws -> Void
    ) async throws {
        var manifest = prepared
        var failure: (any Error)?
        do {
            manifest = try start(manifest, dir: dir, progress: starting)
            try await waitForHeight(2, manifest: manifest, timeout: .seconds(90), progress: starting)
            try await measure(manifest)
        } catch {
            failure = error
        }
        for node in manifest.nodes { _ = await DevnetProcess.stop(node.pid, home: node.home) }
        if keep {
            progress("devnet kept in \(dir.path)")
        } else {
            try? FileManager.default.removeItem(at: dir)
        }
        if let failure { throw failure }
    }

    /// Waits until every node reports `height` or more; a node that dies or a deadline that passes
    /// is an error naming the node and showing the end of its log. `progress` gets a `synced` step
    /// as each node gets there and, between, what the wait is at.
    public static func waitForHeight(
        _ height: UInt64, manifest: DevnetManifest, timeout: Duration, progress: (Progress) -> Void = { _ in }
    ) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + timeout
        var last: [Int: String] = [:]
        var heights: [Int: UInt64] = [:]
        var synced: Set<Int> = []
        while true {
            var done = true
            for node in manifest.nodes {
                guard DevnetProcess.isRunning(node.pid, home: node.home) else {
                    throw DevnetError(
                        "\(node.moniker) exited; the end of \(node.logPath):\n\(DevnetProcess.tail(node.logPath))")
                }
                do {
                    let status = try await ChainClient(baseURL: node.rpcURL, timeout: .seconds(2)).status()
                    last[node.index] = "height \(status.height), \(status.peers.count) peers"
                    heights[node.index] = status.height
                    if status.height < height {
                        done = false
                    } else if synced.insert(node.index).inserted {
                        progress(
                            .step(
                                node: node.moniker, .synced,
                                detail: "height \(status.height), \(status.peers.count) peers"))
                    }
                } catch {
                    last[node.index] = "\(error)"
                    done = false
                }
            }
            if done { return }
            let waited = Int((clock.now - start).components.seconds)
            let each = manifest.nodes.map { "\($0.moniker) \(heights[$0.index].map(String.init) ?? "-")" }
            progress(
                .waiting(
                    "waiting for block \(height): \(synced.count)/\(manifest.nodes.count) synced, "
                        + "heights \(each.joined(separator: ", ")) (\(waited) s)"))
            if clock.now >= deadline {
                let lines = manifest.nodes.map { "  \($0.moniker): \(last[$0.index] ?? "?") (log \($0.logPath))" }
                throw DevnetError(
                    "not every node reached height \(height) in \(timeout):\n" + lines.joined(separator: "\n")
                        + "\nthe nodes keep running; look at the logs, then `gonka devnet down --dir …`")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Node `index` of the manifest, or an error naming the indices it has.
    public static func node(_ index: Int, in manifest: DevnetManifest) throws -> DevnetManifest.Node {
        guard manifest.nodes.indices.contains(index) else {
            throw DevnetError("no node \(index) (this devnet has nodes 0–\(manifest.nodes.count - 1))")
        }
        return manifest.nodes[index]
    }
}
