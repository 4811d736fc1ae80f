import Foundation
import GonkaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Measures the state store on a file in a temporary directory (for `gonka bench` and the storage
/// tests). Nothing here is asserted anywhere: it reports, it does not judge.
public enum StoreBenchmark {
    /// What one run measured.
    public struct Report: Sendable, CustomStringConvertible {
        /// Keys written before the measured part (the tree size it starts from).
        public var prefilledKeys: Int
        /// Key updates per commit.
        public var batch: Int
        /// Throughput of the prefill (inserts into a growing tree), updates/s.
        public var prefillUpdatesPerSecond: Double
        /// Updates in the measured part: half overwrites of existing keys, half new keys.
        public var updates: Int
        /// Committed key updates per second in the measured part (commit time included).
        public var updatesPerSecond: Double
        /// Mean time of one `commit` in the measured part, milliseconds.
        public var meanCommitMilliseconds: Double
        /// Measured updates per second of process CPU time (all threads). On a busy machine this is
        /// the steadier figure; on an idle one wall-clock rate ≈ this minus time spent in fsync.
        public var updatesPerCPUSecond: Double
        /// Proofs generated (random present keys of the final tree), then verified.
        public var proofs: Int
        public var proofsGeneratedPerSecond: Double
        public var proofsVerifiedPerSecond: Double
        /// Mean `serialized()` size and binary depth of the proofs.
        public var meanProofBytes: Double
        public var meanProofDepth: Double
        /// Whether every proof verified.
        public var allProofsVerified: Bool
        /// Database + WAL size at the end.
        public var fileBytes: Int64
        /// The final root (the same for every run with the same arguments).
        public var root: Hash

        public var description: String {
            func rate(_ value: Double) -> String { String(Int(value.rounded())) }
            return """
                state store benchmark: \(prefilledKeys) keys prefilled (\(rate(prefillUpdatesPerSecond)) updates/s), \
                batches of \(batch)
                  updates: \(updates) at \(rate(updatesPerSecond)) updates/s \
                (\(String(format: "%.1f", meanCommitMilliseconds)) ms per commit; \
                \(rate(updatesPerCPUSecond)) updates per CPU-second)
                  proofs:  \(proofs) generated at \(rate(proofsGeneratedPerSecond))/s, \
                verified at \(rate(proofsVerifiedPerSecond))/s, mean \(Int(meanProofBytes)) bytes, \
                depth \(String(format: "%.1f", meanProofDepth)), all verified: \(allProofsVerified)
                  file: \(fileBytes / 1_048_576) MiB, root \(root)
                """
        }
    }

    /// Prefills a file store with `keys` random 32-byte keys (64-byte values) in commits of
    /// `batch`, then times `updates` further updates (default: max(keys / 2, 10 batches)) committed
    /// in batches of `batch`, then `proofs` proof generations and verifications of random keys.
    public static func run(
        keys: Int = 100_000, batch: Int = 1_000, proofs: Int = 10_000, updates: Int? = nil,
        durability: AuthenticatedStore.Options.Durability = .full
    ) throws -> Report {
        guard keys >= 1, batch >= 1, proofs >= 0 else {
            throw StorageError.invalidArgument("benchmark sizes must be positive")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gonka-store-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.sqlite").path
        let store = try AuthenticatedStore(path: path, options: .init(durability: durability))
        // Seeded, so every run writes the same keys.
        var random = PhiloxStream(seedString: "gonka/bench/store")
        var allKeys: [[UInt8]] = []
        var values: [[UInt8]] = []
        var version: UInt64 = 0
        let clock = ContinuousClock()

        func commitBatch(_ count: Int, overwriteShare: Int) throws {
            for index in 0..<count {
                let value = random.bytes(64)
                if !allKeys.isEmpty, index % 100 < overwriteShare {
                    let target = Int(random.uniformInt(below: UInt64(allKeys.count)))
                    values[target] = value
                    try store.set(allKeys[target], value)
                } else {
                    let key = random.bytes(32)
                    allKeys.append(key)
                    values.append(value)
                    try store.set(key, value)
                }
            }
            version += 1
            _ = try store.commit(version: version)
        }

        let prefillStart = clock.now
        var written = 0
        while written < keys {
            let count = min(batch, keys - written)
            try commitBatch(count, overwriteShare: 0)
            written += count
        }
        let prefillTime = clock.now - prefillStart

        let measured = updates ?? max(keys / 2, 10 * batch)
        let updateStart = clock.now
        let updateCPUStart = processCPUSeconds()
        var done = 0
        var commits = 0
        while done < measured {
            let count = min(batch, measured - done)
            try commitBatch(count, overwriteShare: 50)
            done += count
            commits += 1
        }
        let updateTime = clock.now - updateStart
        let updateCPU = max(processCPUSeconds() - updateCPUStart, 1e-9)

        var picks: [Int] = []
        for _ in 0..<proofs { picks.append(Int(random.uniformInt(below: UInt64(allKeys.count)))) }
        var generated: [StateProof] = []
        generated.reserveCapacity(proofs)
        let proofStart = clock.now
        for pick in picks { generated.append(try store.proof(allKeys[pick])) }
        let proofTime = clock.now - proofStart

        let root = store.root
        var verified = true
        let verifyStart = clock.now
        for (pick, proof) in zip(picks, generated)
        where !StateCommitment.verify(proof, key: allKeys[pick], value: values[pick], root: root) {
            verified = false
        }
        let verifyTime = clock.now - verifyStart

        let bytes = generated.reduce(0) { $0 + $1.serialized().count }
        let depth = generated.reduce(0) { $0 + $1.siblings.count }
        try store.close()
        var fileBytes: Int64 = 0
        for suffix in ["", "-wal"] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
            fileBytes += (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return Report(
            prefilledKeys: keys, batch: batch, prefillUpdatesPerSecond: Double(keys) / seconds(prefillTime),
            updates: measured, updatesPerSecond: Double(measured) / seconds(updateTime),
            meanCommitMilliseconds: seconds(updateTime) * 1000 / Double(max(commits, 1)),
            updatesPerCPUSecond: Double(measured) / updateCPU,
            proofs: proofs, proofsGeneratedPerSecond: Double(proofs) / seconds(proofTime),
            proofsVerifiedPerSecond: Double(proofs) / seconds(verifyTime),
            meanProofBytes: Double(bytes) / Double(max(proofs, 1)),
            meanProofDepth: Double(depth) / Double(max(proofs, 1)),
            allProofsVerified: verified, fileBytes: fileBytes, root: root)
    }

    /// CPU time of the whole process (every thread), seconds.
    private static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return max(Double(parts.seconds) + Double(parts.attoseconds) * 1e-18, 1e-9)
    }
}
