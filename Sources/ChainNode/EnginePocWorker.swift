import Foundation
import GonkaCore
import ProofOfCompute
import Tensor
import Synchronization

/// The PoC worker that runs the ``ProofOfCompute`` engine in the node's own process on `threads`
/// threads (the devnet's CPU "ML node"). One engine per sprint (its weights depend on hash(P)),
/// shared by the search and the validations of that sprint.
public final class EnginePocWorker: PocWorker {
    public let threads: Int
    /// Nonces tried between two reports of the search (each report becomes one batch tx).
    let reportEvery: Int
    /// `[poc] max_nonces_per_second`: a cap on the search's rate (`nil`: none).
    public let maxNoncesPerSecond: Int?
    private let current = Mutex<(key: String, engine: PocEngine)?>(nil)

    public init(threads: Int, reportEvery: Int = 64, maxNoncesPerSecond: Int? = nil) {
        self.threads = max(threads, 1)
        self.reportEvery = max(reportEvery, 1)
        self.maxNoncesPerSecond = maxNoncesPerSecond.map { max($0, 1) }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func engine(blockHashHex: String, model: String) throws -> PocEngine {
        guard let config = PocModelConfig.preset(named: model) else {
            throw Failure(description: "unknown poc_model \"\(model)\"")
        }
        let key = "\(model)/\(blockHashHex.lowercased())"
        if let cached = current.withLock({ $0 }), cached.key == key { return cached.engine }
        // Below the chain's and the API's threads: a sprint takes the CPU they leave.
        let engine = try PocEngine(
            blockHashHex: blockHashHex, config: config, threads: threads, niceness: ThreadPriority.batchCompute)
        current.withLock { $0 = (key, engine) }
        return engine
    }

    public func generate(_ job: PocJob) throws -> AsyncStream<PocFound> {
        let engine = try engine(blockHashHex: job.blockHashHex, model: job.model)
        let lattice = try NonceLattice(nodeIndex: job.nodeIndex, nodeCount: job.nodeCount)
        let batches = try engine.search(
            publicKeyHex: job.publicKeyHex, lattice: lattice,
            rTarget: PocDistance.distance(fromNano: job.rTargetNano), batchSize: reportEvery,
            startIndex: job.startIndex,
            maxNoncesPerSecond: maxNoncesPerSecond)
        let (stream, continuation) = AsyncStream.makeStream(of: PocFound.self, bufferingPolicy: .unbounded)
        let relay = Task {
            for await batch in batches {
                // The ledger's test is on the fixed-point value: keep only what passes it.
                var found = PocFound(nonces: [], distancesNano: [])
                for (nonce, d) in zip(batch.nonces, batch.distances) {
                    let nano = PocDistance.nano(d)
                    if nano < job.rTargetNano {
                        found.nonces.append(nonce)
                        found.distancesNano.append(nano)
                    }
                }
                if !found.nonces.isEmpty { continuation.yield(found) }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in
            relay.cancel()
            engine.stop()
        }
        return stream
    }

    public func validate(
        blockHashHex: String, model: String, publicKeyHex: String, nonces: [UInt64]
    ) async throws
        -> [UInt64]
    {
        let engine = try engine(blockHashHex: blockHashHex, model: model)
        // Seconds of arithmetic: off the cooperative pool, which the node's consensus shares.
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        try engine.distances(publicKeyHex: publicKeyHex, nonces: nonces).map(PocDistance.nano)
                    })
            }
        }
    }

    public func stop() async {
        current.withLock { $0?.engine.stop() }
    }
}
