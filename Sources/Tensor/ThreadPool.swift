import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A small fixed pool of OS threads for data-parallel kernels. A job is split into pieces that the
/// calling thread and `threads - 1` helpers claim from an atomic counter, so a helper the OS has
/// descheduled (the machine may be shared) delays nothing: the others take its pieces. Helpers spin
/// briefly between jobs (a forward pass issues a few hundred jobs per token), then sleep on a
/// condition variable.
///
/// `@unchecked Sendable`: `job` and `pieces` are written only while the job is closed (no helper is
/// between `active += 1` and `active -= 1` with `closed == false`) and published by the sequentially
/// consistent store that opens it; `parallelFor` returns only after closing the job and seeing
/// `active == 0`, so no helper touches the closure after it is gone. One job at a time per pool
/// (callers serialise through the model owner).
public final class ThreadPool: @unchecked Sendable {
    /// Workers including the calling thread.
    public let threads: Int
    private let generation = Atomic<Int>(0)
    private let next = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let active = Atomic<Int>(0)
    private let closed = Atomic<Bool>(true)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var job: ((Int) -> Void)?
    private var pieces = 0
    private var handles: [pthread_t] = []

    /// The nice value of the helper threads (``ThreadPriority``; 0: the process's own).
    public let niceness: Int32

    /// A pool of `threads` workers (at least 1; the caller counts as one), its helpers at `niceness`.
    public init(threads: Int, niceness: Int32 = 0) {
        self.threads = max(1, threads)
        self.niceness = niceness
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for index in 1..<self.threads {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            #if canImport(Darwin)
                var handle: pthread_t?
            #else
                var handle = pthread_t()
            #endif
            let status = pthread_create(
                &handle, nil,
                { raw in
                    #if canImport(Darwin)
                        let context = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
                    #else
                        guard let raw else { return nil }
                        let context = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
                    #endif
                    ThreadPriority.lowerCurrentThread(to: context.pool.niceness)
                    context.pool.workerLoop(index: context.index)
                    return nil
                }, context)
            #if canImport(Darwin)
                if status == 0, let handle { handles.append(handle) }
            #else
                if status == 0 { handles.append(handle) }
            #endif
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        for handle in handles { pthread_join(handle, nil) }
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Splits `0..<count` into contiguous ranges and runs `body` on each, in parallel; returns when
    /// all have run. Ranges are claimed dynamically (up to 8 per thread).
    public func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        if handles.isEmpty || count <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let pieces = min(count, threads * 8)
        let piece: (Int) -> Void = { i in body((count * i / pieces)..<(count * (i + 1) / pieces)) }
        withoutActuallyEscaping(piece) { escaping in
            job = escaping
            self.pieces = pieces
            next.store(0, ordering: .sequentiallyConsistent)
            done.store(0, ordering: .sequentiallyConsistent)
            closed.store(false, ordering: .sequentiallyConsistent)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
            drain(escaping, pieces: pieces)
            var spins = 0
            while done.load(ordering: .acquiring) < pieces {
                spins += 1
                if spins > 1 << 12 { sched_yield() }
            }
            closed.store(true, ordering: .sequentiallyConsistent)
            while active.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
            job = nil
        }
    }

    /// Claims and runs pieces until none are left.
    private func drain(_ job: (Int) -> Void, pieces: Int) {
        while true {
            let i = next.add(1, ordering: .acquiringAndReleasing).oldValue
            if i >= pieces { return }
            job(i)
            done.add(1, ordering: .releasing)
        }
    }

    private func workerLoop(index: Int) {
        var seen = 0  // the generation at construction: a job published before this thread started still runs
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                if spins < 200_000 {
                    current = generation.load(ordering: .acquiring)
                    continue
                }
                sleepers.add(1, ordering: .sequentiallyConsistent)
                pthread_mutex_lock(mutex)
                current = generation.load(ordering: .sequentiallyConsistent)
                while current == seen {
                    pthread_cond_wait(condition, mutex)
                    current = generation.load(ordering: .sequentiallyConsistent)
                }
                pthread_mutex_unlock(mutex)
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
            }
            seen = current
            if stopping.load(ordering: .sequentiallyConsistent) { return }
            active.add(1, ordering: .sequentiallyConsistent)
            if !closed.load(ordering: .sequentiallyConsistent), let job { drain(job, pieces: pieces) }
            active.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}

/// What a helper thread needs at start: its pool and its index.
///
/// The reference is `unowned(unsafe)` so helpers do not keep their pool alive: the pool's `deinit`
/// stops and joins them before its memory goes away.
private final class WorkerContext {
    unowned(unsafe) let pool: ThreadPool
    let index: Int
    init(pool: ThreadPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
