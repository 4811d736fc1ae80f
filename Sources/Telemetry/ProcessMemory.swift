import CSystemShims
import Foundation

/// This process's memory as the kernel and the C allocator count it, so that a growing RSS can be
/// told apart (issue 23): anonymous pages (the heap, stacks) from file-backed ones (the mapped
/// model, the binary), and within the heap what live objects hold from what the allocator keeps
/// free without returning it to the kernel (fragmentation).
public struct ProcessMemory: Sendable, Equatable {
    /// `RssAnon` and `RssFile` of `/proc/self/status`.
    public var residentAnonBytes: Int
    public var residentFileBytes: Int
    /// glibc's `mallinfo2`: bytes in the arenas' allocated chunks (`uordblks`), in allocations
    /// mmapped on their own (`hblkhd`: large buffers, resident only where touched), and in free
    /// chunks the arenas keep without returning them (`fordblks`). 0 where the allocator does not say.
    public var heapInUseBytes: Int
    public var heapMmappedBytes: Int
    public var heapFreeBytes: Int
    /// Whether the heap figures are the allocator's (glibc); without it they are 0 and not exported.
    public var heapCounted = false

    /// Reads the figures now (a few syscalls; the allocator walks its arenas' free lists).
    public static func current() -> ProcessMemory {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        var memory = ProcessMemory(
            residentAnonBytes: statusNumber(status, "RssAnon:") * 1024,
            residentFileBytes: statusNumber(status, "RssFile:") * 1024, heapInUseBytes: 0, heapMmappedBytes: 0,
            heapFreeBytes: 0)
        let heap = gonka_heap_stats_read()
        memory.heapInUseBytes = Int(clamping: heap.in_use)
        memory.heapMmappedBytes = Int(clamping: heap.mmapped)
        memory.heapFreeBytes = Int(clamping: heap.free)
        memory.heapCounted = heap.available != 0
        return memory
    }

    /// Gives the free pages the C allocator keeps back to the kernel (glibc's `malloc_trim(0)`; a
    /// no-op elsewhere), on a thread of its own: the call walks every arena. Whether any memory was
    /// released. Issue 23's hour at 4 requests/s: the heap in use was flat over the second half
    /// while the free chunks the arenas kept (resident) grew from 36 to 70 MiB, all of the RSS
    /// growth; the arenas do not give back pages between live chunks by themselves.
    @discardableResult public static func releaseFreeHeap() async -> Bool {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: trimHeap()) }.start()
        }
    }

    /// Caps the C allocator's arenas at `count` (glibc's `M_ARENA_MAX`; a no-op elsewhere) unless
    /// `MALLOC_ARENA_MAX` is set in the environment, which then decides. glibc otherwise opens up to
    /// 8 per core as threads contend, and each keeps its own free chunks between live ones: long-lived
    /// cache entries scattered over many arenas pin pages no trim can give back (issue 23). Measured
    /// over an hour at 4 requests/s: the free chunks kept at minute 30 fell from 31–34 to 12–13 MiB,
    /// the RSS growth over the last 30 minutes stayed about the same (+6.2–7.2%, +4.5–7.6% before).
    /// Call it before threads start. Whether the cap was set.
    @discardableResult public static func limitHeapArenas(_ count: Int) -> Bool {
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil else { return false }
        return gonka_heap_limit_arenas(Int32(clamping: count)) != 0
    }

    /// ``releaseFreeHeap()`` on the calling thread.
    @discardableResult public static func trimHeap() -> Bool { gonka_heap_trim() != 0 }

    /// The number after `name` on its line of a `/proc/PID/status` text: kB for memory lines
    /// ("RssAnon:\t  1234 kB"), a count for others ("Threads:\t8").
    public static func statusNumber(_ status: String, _ name: String) -> Int {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
        return Int(line.dropFirst(name.count).split(whereSeparator: \.isWhitespace).first ?? "") ?? 0
    }

    /// Sets `gonka_process_resident_bytes{kind=anon|file}` and, where the allocator counts it,
    /// `gonka_process_heap_bytes{kind=in_use|mmapped|free}`.
    public func record(into registry: MetricsRegistry) {
        registry.set("gonka_process_resident_bytes", [("kind", "anon")], residentAnonBytes)
        registry.set("gonka_process_resident_bytes", [("kind", "file")], residentFileBytes)
        guard heapCounted else { return }
        registry.set("gonka_process_heap_bytes", [("kind", "in_use")], heapInUseBytes)
        registry.set("gonka_process_heap_bytes", [("kind", "mmapped")], heapMmappedBytes)
        registry.set("gonka_process_heap_bytes", [("kind", "free")], heapFreeBytes)
    }
}
