import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A small fixed pool of OS threads for data-parallel kernels: the calling thread is worker 0 and
/// `threads - 1` helpers wait for jobs. A job is a body called once per worker index; the caller
/// returns when every worker has finished. Helpers spin briefly between jobs (a forward pass issues
/// a few hundred jobs per token) and then sleep on a condition variable.
///
/// `@unchecked Sendable`: the job closure is published by a sequentially consistent store of
/// `generation` and read by helpers only after they observe that store; it stays alive until
/// `remaining` reaches zero, which `run` waits for before returning. Jobs are not re-entrant: one
/// `run` at a time per pool (callers serialise through the model owner).
public final class ThreadPool: @unchecked Sendable {
    /// Workers including the calling thread.
    public let threads: Int
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var job: ((Int) -> Void)?
    private var handles: [pthread_t] = []

    /// A pool of `threads` workers (at least 1; the caller counts as one).
    public init(threads: Int) {
        self.threads = max(1, threads)
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

    /// Calls `body(worker)` for every worker index in `0..<threads` in parallel and returns when
    /// all have returned. With one thread it simply calls `body(0)`.
    public func run(_ body: (Int) -> Void) {
        let helpers = handles.count
        if helpers == 0 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            remaining.store(helpers, ordering: .sequentiallyConsistent)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
            escaping(0)
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > 1 << 14 { sched_yield() }
            }
            job = nil
        }
    }

    /// Splits `0..<count` into `threads` contiguous ranges and runs `body` on each non-empty one.
    public func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        if threads == 1 || count <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let n = threads
        run { worker in
            let start = count * worker / n
            let end = count * (worker + 1) / n
            if start < end { body(start..<end) }
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
            job?(index)
            remaining.subtract(1, ordering: .sequentiallyConsistent)
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
