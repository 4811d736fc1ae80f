import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension DevnetRunner {
    /// Stops the signing proxy, then every node at once (SIGTERM, SIGKILL after the grace period);
    /// `report` gets one line per process saying how it ended, as each ends.
    public static func stopAll(_ manifest: DevnetManifest, report: (String) -> Void) async {
        if let proxy = manifest.proxy {
            let outcome = await DevnetProcess.stop(proxy.pid, home: manifest.faucet.home, role: "proxy")
            report("proxy: \(outcome.rawValue)")
        }
        await withTaskGroup(of: String.self) { group in
            for node in manifest.nodes {
                group.addTask {
                    let outcome = await DevnetProcess.stop(node.pid, home: node.home)
                    return "\(node.moniker): \(outcome.rawValue)"
                }
            }
            for await line in group { report(line) }
        }
    }

    /// Kills `node` with SIGKILL (a crash, for fault tests) and waits up to 5 s for it to be gone.
    public static func kill(_ node: DevnetManifest.Node) async throws {
        guard DevnetProcess.signal(node.pid, home: node.home, SIGKILL) else {
            throw DevnetError("\(node.moniker) is not running")
        }
        for _ in 0..<50 where DevnetProcess.isRunning(node.pid, home: node.home) {
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Stops node `index` if it runs, starts it again from its home and records the new pid in the
    /// manifest (saved); returns the pid.
    public static func restart(_ index: Int, in manifest: inout DevnetManifest, dir: URL) async throws -> Int32 {
        let node = try self.node(index, in: manifest)
        _ = await DevnetProcess.stop(node.pid, home: node.home)
        let pid = try DevnetProcess.start(
            binary: manifest.binary, home: node.home, logPath: node.logPath, netns: node.netns)
        manifest.nodes[index].pid = pid
        try manifest.save(to: dir)
        return pid
    }
}
