import Benchmarks
import ChainNode
import Foundation
import GonkaTestKit
import Telemetry
import Testing

/// `gonka bench soak` (issue 23): its leak verdict on synthetic samples (a leak it must see, a flat
/// run it must pass), then a short soak of real processes under traffic that must show none.
@Suite(.serialized, .hangGuard) struct SoakTests {
    /// `minutes` of samples every 10 s on two nodes; node 1's RSS and fds grow by `rssPerMinute`
    /// MiB and `fdsPerMinute` a minute.
    static func report(minutes: Double, rssPerMinute: Double, fdsPerMinute: Double) -> SoakReport {
        let samples = stride(from: 0.0, through: minutes * 60, by: 10).map { seconds in
            let minute = seconds / 60
            var flat = SoakReport.NodeSample()
            flat.rssBytes = 200 << 20
            flat.fds = 60
            flat.diskBytes = 40 << 20
            var growing = flat
            growing.rssBytes = UInt64((200 + rssPerMinute * minute) * 1_048_576)
            growing.fds = 60 + Int(fdsPerMinute * minute)
            return SoakReport.Sample(seconds: seconds, nodes: [flat, growing])
        }
        return SoakReport(
            participants: 2, rate: 1, seconds: minutes * 60, sent: 10, succeeded: 10, failed: 0, skipped: 0,
            firstFailure: nil, samples: samples)
    }

    @Test func theVerdictSeesALeakAndPassesAFlatRun() {
        let flat = Self.report(minutes: 4, rssPerMinute: 0, fdsPerMinute: 0)
        #expect(flat.leaks(rssMiBPerMinute: 20, fdsPerMinute: 10).isEmpty)
        #expect(abs(flat.slopePerMinute("rss", node: 1)) < 1e-9)
        let leaking = Self.report(minutes: 4, rssPerMinute: 30, fdsPerMinute: 12)
        #expect(abs(leaking.slopePerMinute("rss", node: 1) - 30) < 0.5)
        let found = leaking.leaks(rssMiBPerMinute: 20, fdsPerMinute: 10)
        #expect(found.count == 2, "\(found)")
        #expect(found.allSatisfy { $0.hasPrefix("node 1") })
        var failing = flat
        failing.failed = 1
        failing.firstFailure = "HTTP 502"
        #expect(failing.leaks(rssMiBPerMinute: 20, fdsPerMinute: 10).count == 1)
        #expect(leaking.lines.contains { $0.contains("second-half slope") })
    }

    /// Open files counted once the requests have ended: a run whose last samples caught many
    /// connections open (a loaded machine) passes when they close, and a node that keeps them fails.
    @Test func openFilesAreJudgedOnceTheRequestsHaveEnded() throws {
        var busyEnd = Self.report(minutes: 2, rssPerMinute: 0, fdsPerMinute: 0)
        // The last three samples see 6, 12 and 19 requests' connections open: a slope of ~20/min.
        for (back, open) in [(3, 6), (2, 12), (1, 19)] {
            busyEnd.samples[busyEnd.samples.count - back].nodes[1].fds += open
        }
        #expect(busyEnd.slopePerMinute("fds", node: 1) > 10)
        #expect(busyEnd.leaks(rssMiBPerMinute: 20, fdsPerMinute: 10).count == 1, "no drained sample: the slope")
        var closed = busyEnd
        closed.drained = closed.samples.first!.nodes
        #expect(closed.leaks(rssMiBPerMinute: 20, fdsPerMinute: 10).isEmpty)
        #expect(closed.lines.contains { $0.contains("drained") })
        var kept = busyEnd
        kept.drained = kept.samples.first!.nodes
        kept.drained![1].fds += 12  // twelve more than at the quietest second-half sample, a minute on
        let found = kept.leaks(rssMiBPerMinute: 20, fdsPerMinute: 10)
        #expect(found == ["node 1: open fds grow 12.0/min (limit 10.0)"], "\(found)")
    }

    /// The memory gauges of a node's real exposition (its chain metrics after a scrape), keyed by
    /// family and label; other families and comments are not taken.
    @Test func theMemoryGaugesAreReadFromANodesExposition() {
        let metrics = ChainMetrics()
        metrics.registry.set("gonka_cache_bytes", [("cache", "state_page")], 3 << 20)
        metrics.registry.set("gonka_cache_bytes", [("cache", "state_node")], 1_234)
        metrics.registry.set("gonka_height", [], 17)
        ProcessMemory.current().record(into: metrics.registry)
        let gauges = SoakProbe.memoryGauges(exposition: metrics.registry.exposition)
        #expect(gauges["cache.state_page"] == Double(3 << 20))
        #expect(gauges["cache.state_node"] == 1_234)
        #expect(gauges.keys.allSatisfy { $0.hasPrefix("cache.") || $0.hasPrefix("heap.") || $0.hasPrefix("resident.") })
        // This test process's own memory: some anonymous memory, and glibc's count of the heap.
        #expect((gauges["resident.anon"] ?? 0) > Double(1 << 20), "\(gauges)")
        #expect((gauges["heap.in_use"] ?? 0) > 0, "\(gauges)")
        #expect(gauges.count == 2 + 2 + 3, "\(gauges.keys.sorted())")
    }

    /// What ``HeapTrimmer`` relies on: free chunks the arenas keep between live ones stay resident
    /// until trimmed, and a trim gives their whole pages back. 96 MiB in 2 KiB blocks, every one
    /// but each 64th freed (the live ones 128 KiB apart, so the top cannot shrink by itself).
    @Test func trimmingTheHeapGivesItsFreePagesBack() async {
        let blocks = 48 * 1024
        let size = 2048
        let freed = await BackgroundCompute.run { () -> Int in
            var pointers: [UnsafeMutableRawPointer] = []
            pointers.reserveCapacity(blocks)
            for _ in 0..<blocks {
                guard let block = malloc(size) else { continue }
                memset(block, 1, size)
                pointers.append(block)
            }
            for (i, block) in pointers.enumerated() where i % 64 != 63 { free(block) }
            let before = ProcessMemory.current().residentAnonBytes
            ProcessMemory.trimHeap()
            let after = ProcessMemory.current().residentAnonBytes
            for (i, block) in pointers.enumerated() where i % 64 == 63 { free(block) }
            return before - after
        }
        // 94.5 MiB was freed; other suites allocate meanwhile, so at least half of it.
        #expect(freed > 48 << 20, "the trim gave back \(freed >> 20) MiB")
    }

    @Test(
        .timeLimit(.minutes(6)), .enabled(if: DevnetHarness.nodeAvailable, "needs `gonka node start`"),
        .enabled(if: (try? TestModelFile.path()) != nil, "needs the model (make model)"))
    func aShortSoakShowsNoClearLeak() async throws {
        let model = try TestModelFile.path()
        let run = try await DevnetHarness.run(
            [
                "bench", "soak", "--participants", "2", "--minutes", "2", "--rate", "1", "--interval", "10",
                "--max-tokens", "8", "--keep-blocks", "50", "--model", model, "--json",
            ], timeout: .seconds(330))
        #expect(run.status == 0, "\(run.stderr.suffix(2_000))")
        let json = try #require(run.stdout.split(separator: "\n").last { $0.hasPrefix("{") })
        let report = try JSONDecoder().decode(SoakReport.self, from: Data(json.utf8))
        #expect(report.samples.count >= 10)
        #expect(report.succeeded >= 60, "\(report.lines.joined(separator: "\n"))")
        // Each node's own account of its memory was read at every sample: its caches, heap and
        // resident memory (issue 23), and the page cache is what SQLite has filled.
        let last = try #require(report.samples.last)
        for node in last.nodes {
            let gauges = try #require(node.gauges, "no memory gauges read")
            for key in [
                "cache.state_page", "cache.state_node", "cache.state_value", "cache.mempool", "resident.anon",
                "heap.in_use", "heap.free",
            ] {
                #expect(gauges[key] != nil, "\(key) missing from \(gauges.keys.sorted())")
            }
            #expect((gauges["cache.state_page"] ?? 0) > 0 && (gauges["heap.in_use"] ?? 0) > 0, "\(gauges)")
            #expect((gauges["resident.anon"] ?? 0) < Double(node.rssBytes), "\(gauges)")
        }
        // A clear leak: RSS climbing 40 MiB a minute, or 10 more open files a minute, once warm.
        let leaks = report.leaks(rssMiBPerMinute: 40, fdsPerMinute: 10)
        #expect(leaks.isEmpty, "\(leaks)\n\(report.lines.joined(separator: "\n"))")
    }
}
