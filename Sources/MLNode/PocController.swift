import Foundation
import ProofOfCompute
import Synchronization

/// The ML node's Proof-of-Compute side (PROTOCOL §5, §11; shapes in docs/POC.md): at most one
/// sprint at a time, validations beside it, and the flag that turns inference away while mining.
///
/// Engines are kept per `(H, config)`: the one of the running sprint is reused by validations of
/// the same sprint; another seed or model gets a fresh engine.
public final class PocController: Sendable {
    /// Bounds on what a request may ask for.
    public struct Limits: Sendable {
        /// Nonces one `/poc/validate` may recompute.
        public var maxValidateNonces: Int
        /// Floats the model's weights may take (pool plus the largest tensor): 2²⁸ = 1 GiB.
        public var maxModelFloats: Int
        /// The largest `batch_size`.
        public var maxBatchSize: Int

        public init(maxValidateNonces: Int = 10_000, maxModelFloats: Int = 1 << 28, maxBatchSize: Int = 4_096) {
            self.maxValidateNonces = maxValidateNonces
            self.maxModelFloats = maxModelFloats
            self.maxBatchSize = maxBatchSize
        }
    }

    /// What the node is doing, as `GET /poc/status` reports it.
    public enum Activity: String, Sendable, Codable {
        case idle, generating, validating
    }

    /// `GET /poc/status`.
    public struct Status: Sendable, Codable, Hashable {
        public var state: Activity
        public var noncesTried: UInt64
        public var hits: UInt64
        public var noncesPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case state
            case noncesTried = "nonces_tried"
            case hits
            case noncesPerSecond = "nonces_per_second"
        }
    }

    private struct EngineKey: Hashable {
        let blockHash: String
        let config: PocModelConfig
    }

    private struct State {
        var engines: [EngineKey: PocEngine] = [:]
        /// The running sprint's id and engine.
        var sprint: (id: UInt64, engine: PocEngine)?
        var nextSprint: UInt64 = 0
        var validations = 0
        /// The engine of the latest sprint (its counters are the status).
        var lastSprintEngine: PocEngine?
    }

    public let threads: Int
    public let limits: Limits
    private let state = Mutex(State())

    public init(threads: Int, limits: Limits = .init()) {
        self.threads = max(1, threads)
        self.limits = limits
    }

    /// True while a sprint runs: inference is refused (503) so the node's cores mine.
    public var isGenerating: Bool { state.withLock { $0.sprint != nil } }

    public var status: Status {
        state.withLock { s in
            let progress = s.lastSprintEngine?.progress ?? PocProgress()
            let activity: Activity = s.sprint != nil ? .generating : s.validations > 0 ? .validating : .idle
            return Status(
                state: activity, noncesTried: progress.noncesTried, hits: progress.hits,
                noncesPerSecond: progress.noncesPerSecond)
        }
    }

    /// The engine for `(blockHash, config)`, built if needed; refuses models over ``Limits/maxModelFloats``.
    func engine(blockHash: String, config: PocModelConfig) async throws(MLNodeError) -> PocEngine {
        do {
            try config.validate()
        } catch {
            throw .invalidRequest(error.description, param: "config")
        }
        let largest = PocWeights.layout(for: config).map { $0.shape.reduce(1, *) }.max() ?? 0
        let floats = PocWeights.poolSize(for: config) + largest
        guard floats <= limits.maxModelFloats else {
            throw .invalidRequest(
                "The PoC model needs \(floats) weights in memory; this node allows \(limits.maxModelFloats).",
                param: "config")
        }
        let canonical: String
        do {
            canonical = try PocSeed.canonicalBlockHash(blockHash)
        } catch {
            throw .invalidRequest("block_hash must be 64 hex digits.", param: "block_hash")
        }
        let key = EngineKey(blockHash: canonical, config: config)
        if let engine = state.withLock({ $0.engines[key] }) { return engine }
        // Drawing the pool is real work for the larger presets: off the caller's executor.
        let threads = self.threads
        let built = await Self.offload { () throws(PocError) -> PocEngine in
            try PocEngine(blockHashHex: canonical, config: config, threads: threads)
        }
        let engine: PocEngine
        switch built {
        case .success(let value): engine = value
        case .failure(let error): throw .invalidRequest(error.description, param: "config")
        }
        return state.withLock { s in
            if let existing = s.engines[key] { return existing }
            // Keep the running sprint's engine and the new one; drop the rest.
            s.engines = s.engines.filter { entry in s.sprint.map { $0.engine === entry.value } ?? false }
            s.engines[key] = engine
            return engine
        }
    }

    /// Starts a sprint: the hits of `lattice` as a stream. 409 while another sprint runs.
    /// Call ``sprintEnded(_:)`` with the returned id when the stream is done.
    func startSprint(
        engine: PocEngine, publicKey: String, lattice: NonceLattice, rTarget: Double, batchSize: Int
    ) throws(MLNodeError) -> (id: UInt64, batches: AsyncStream<PocBatch>) {
        guard (1...limits.maxBatchSize).contains(batchSize) else {
            throw .invalidRequest("batch_size must be in 1...\(limits.maxBatchSize).", param: "batch_size")
        }
        let id: UInt64 = try state.withLock { (s: inout State) throws(MLNodeError) -> UInt64 in
            if s.sprint != nil { throw .conflict("A PoC sprint is already running; POST /poc/stop first.") }
            s.nextSprint += 1
            s.sprint = (s.nextSprint, engine)
            s.lastSprintEngine = engine
            return s.nextSprint
        }
        do {
            let stream = try engine.search(
                publicKeyHex: publicKey, lattice: lattice, rTarget: rTarget, batchSize: batchSize)
            return (id, stream)
        } catch {
            sprintEnded(id)
            let param = error.shortDescription == "invalid_public_key" ? "public_key" : nil
            throw .invalidRequest(error.description, param: param)
        }
    }

    /// Marks sprint `id` finished (its stream ended or its consumer left) and stops its search.
    func sprintEnded(_ id: UInt64) {
        let engine: PocEngine? = state.withLock { s in
            guard let sprint = s.sprint, sprint.id == id else { return nil }
            s.sprint = nil
            return sprint.engine
        }
        engine?.stop()
    }

    /// `POST /poc/stop`: stops the running sprint, if any; returns whether one was running. The node
    /// is free at once (even if the sprint's consumer never ran), so inference and a new sprint may
    /// start; the old search thread ends after its current forward pass.
    public func stop() -> Bool {
        let engine: PocEngine? = state.withLock { s in
            let engine = s.sprint?.engine
            s.sprint = nil
            return engine
        }
        engine?.stop()
        return engine != nil
    }

    /// Recomputes the distances of `nonces` on a thread of its own (never on the caller's executor).
    func validate(engine: PocEngine, publicKey: String, nonces: [UInt64]) async throws(MLNodeError) -> [Double] {
        guard nonces.count <= limits.maxValidateNonces else {
            throw .invalidRequest(
                "At most \(limits.maxValidateNonces) nonces per request; got \(nonces.count).", param: "nonces")
        }
        state.withLock { $0.validations += 1 }
        defer { state.withLock { $0.validations -= 1 } }
        let result = await Self.offload { () throws(PocError) -> [Double] in
            try engine.distances(publicKeyHex: publicKey, nonces: nonces)
        }
        switch result {
        case .success(let distances): return distances
        case .failure(let error): throw .invalidRequest(error.description, param: "public_key")
        }
    }

    /// Runs CPU-bound `work` on a thread of its own and awaits it: never blocks a NIO event loop or a
    /// thread of the cooperative pool (two of them on a 2-core machine).
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws(PocError) -> T) async -> Result<T, PocError>
    {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: Result { () throws(PocError) -> T in try work() }) }
            thread.stackSize = 1 << 22
            thread.start()
        }
    }
}
