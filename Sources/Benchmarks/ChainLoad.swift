import Foundation
import GonkaClient

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body`, a chain RPC call, turning its typed error into the benchmark's own.
func rpc<T>(_ body: () async throws(ChainClientError) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw BenchmarkError("\(error)")
    }
}

/// When each tx was accepted by a node (the start of its commit latency).
actor SubmitRecorder {
    var times: [String: ContinuousClock.Instant] = [:]
    var retries = 0
    func record(_ hash: String, at instant: ContinuousClock.Instant) { times[hash] = times[hash] ?? instant }
    func retry() { retries += 1 }

    /// Broadcasts one tx (sync mode) and records when it was accepted; a refusal `isTemporary`
    /// says will pass is retried after `pause`, up to `tries` times.
    func submit(
        _ bytes: [UInt8], hash: String, client: ChainClient, clock: ContinuousClock, tries: Int, pause: Duration,
        isTemporary: (ChainClientError) -> Bool
    ) async throws {
        for _ in 0..<tries {
            let sentAt = clock.now
            do throws(ChainClientError) {
                _ = try await client.broadcast(bytes, mode: .sync)
                record(hash, at: sentAt)
                return
            } catch {
                guard isTemporary(error) else { throw BenchmarkError("submitting \(hash): \(error)") }
                retry()
                try await Task.sleep(for: pause)
            }
        }
        throw BenchmarkError("gave up submitting \(hash) after \(tries) tries")
    }
}

/// Follows the committed blocks of one node by polling, noting when each was first seen.
struct BlockFollower: Sendable {
    struct Seen: Sendable {
        var height: UInt64
        var timeMs: Int64
        var hashes: [String]
        var seenAt: ContinuousClock.Instant
    }

    let client: ChainClient
    let from: UInt64
    let wanted: Set<String>

    func run(clock: ContinuousClock, until deadline: ContinuousClock.Instant) async -> [Seen] {
        var seen: [Seen] = []
        var next = from
        var remaining = wanted
        while !remaining.isEmpty, clock.now < deadline {
            guard let status = try? await client.status(), status.height >= next else {
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            let now = clock.now
            while next <= status.height {
                guard let block = try? await client.block(next) else { break }
                let hashes = block.txs.map(\.hash)
                for hash in hashes { remaining.remove(hash) }
                seen.append(Seen(height: next, timeMs: block.timeMs, hashes: hashes, seenAt: now))
                next += 1
            }
        }
        return seen
    }
}

/// CPU time and memory of a process, from /proc.
enum ProcessSample {
    static func cpuSeconds(_ pid: Int32?) -> Double {
        guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after "(comm)": state is field 3, utime 14 and stime 15 of the whole line.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func memory(_ pid: Int32?) -> (rss: Int, peak: Int) {
        guard let pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            return (0, 0)
        }
        func kib(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        return (kib("VmRSS:"), kib("VmHWM:"))
    }
}
