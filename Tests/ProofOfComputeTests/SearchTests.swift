import Foundation
import GonkaCore
import Testing

@testable import ProofOfCompute

@Suite struct PocSearchTests {
    @Test(.timeLimit(.minutes(3))) func searchFindsLatticeHitsAndStops() async throws {
        let engine = try Shared.engine
        let lattice = try NonceLattice(nodeIndex: 1, nodeCount: 3)
        let r = 1.395
        var found = PocBatch(nonces: [], distances: [])
        for await batch in try engine.search(publicKeyHex: Seeds.pk, lattice: lattice, rTarget: r, batchSize: 64) {
            found.nonces += batch.nonces
            found.distances += batch.distances
            if found.nonces.count >= 20 { engine.stop() }
        }
        #expect(found.nonces.count >= 20)
        #expect(found.nonces.allSatisfy(lattice.contains))
        #expect(found.distances.allSatisfy { $0 < r })
        #expect(Set(found.nonces).count == found.nonces.count)
        // Validation recomputes the same distances.
        #expect(try engine.distances(publicKeyHex: Seeds.pk, nonces: found.nonces) == found.distances)
        // Every lattice nonce below the last hit was tried: the misses recompute to ≥ r.
        let last = try #require(found.nonces.max())
        let tried = stride(from: UInt64(1), through: last, by: 3).filter { !found.nonces.contains($0) }
        #expect(try engine.distances(publicKeyHex: Seeds.pk, nonces: tried).allSatisfy { $0 >= r })
        let progress = engine.progress
        #expect(!progress.running)
        #expect(progress.hits == UInt64(found.nonces.count))
        #expect(progress.noncesTried >= UInt64(tried.count + found.nonces.count))
        #expect(progress.noncesPerSecond > 0)
    }

    @Test(.timeLimit(.minutes(3))) func cancellingTheConsumerEndsTheSearch() async throws {
        let engine = try PocEngine(blockHashHex: Seeds.h2, config: .devnet, threads: 1)
        let stream = try engine.search(publicKeyHex: Seeds.pk, lattice: .all, rTarget: 2, batchSize: 8)
        let consumer = Task {
            var count = 0
            for await _ in stream { count += 1 }
            return count
        }
        while engine.progress.noncesTried < 16 { try await Task.sleep(for: .milliseconds(5)) }
        consumer.cancel()
        _ = await consumer.value
        // The thread notices at its next forward pass.
        var waited = 0
        while engine.progress.running && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(!engine.progress.running)
    }

    /// The rate cap is an upper bound on the work done whatever the machine's speed: after 1.5 s
    /// at 100 nonces/s at most 150 nonces (plus the forward pass under way) were tried.
    @Test(.timeLimit(.minutes(3))) func aRateCapLimitsTheNoncesTried() async throws {
        let engine = try PocEngine(blockHashHex: Seeds.h2, config: .devnet, threads: 1)
        let started = ContinuousClock.now
        let stream = try engine.search(
            publicKeyHex: Seeds.pk, lattice: .all, rTarget: 2, batchSize: 8, maxNoncesPerSecond: 100)
        let consumer = Task { for await _ in stream {} }
        try await Task.sleep(for: .milliseconds(1_500))
        engine.stop()
        await consumer.value
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let tried = engine.progress.noncesTried
        #expect(tried > 0)
        #expect(
            Double(tried) <= 100 * seconds + Double(PocEngine.cappedForwardBatch), "\(tried) nonces in \(seconds) s")
        #expect(!engine.progress.running, "a capped search idles in short naps and still stops at once")
    }

    @Test func badSearchArgumentsAreRefused() throws {
        let engine = try Shared.engine
        #expect(throws: PocError.self) {
            _ = try engine.search(publicKeyHex: "nothex", lattice: .all, rTarget: 1.4, batchSize: 8)
        }
        #expect(throws: PocError.self) {
            _ = try engine.search(publicKeyHex: Seeds.pk, lattice: .all, rTarget: 1.4, batchSize: 0)
        }
        #expect(throws: PocError.self) {
            _ = try engine.search(publicKeyHex: Seeds.pk, lattice: .all, rTarget: .nan, batchSize: 8)
        }
        for cap in [0, -5] {
            #expect(throws: PocError.self) {
                _ = try engine.search(
                    publicKeyHex: Seeds.pk, lattice: .all, rTarget: 1.4, batchSize: 8, maxNoncesPerSecond: cap)
            }
        }
    }

    @Test func calibrationGivesTheWantedHitRateOnFreshNonces() throws {
        let engine = try Shared.engine
        let result = try PocCalibration.measure(engine: engine, hitRate: 1.0 / 16, nonces: 1_200)
        #expect(result.rTargetNano == PocDistance.nano(result.rTarget))
        // Fresh nonces (other range, other key): about 1/16 pass. Binomial(1200, 1/16): mean 75, sd 8.4.
        let fresh = try engine.distances(publicKeyHex: Seeds.pk2, nonces: Array(1_000_000..<1_001_200))
        let hits = fresh.filter { $0 < result.rTarget }.count
        #expect((40...110).contains(hits), "hits \(hits) of 1200 at r = \(result.rTarget)")
        #expect(throws: PocError.self) { _ = try PocCalibration.rTarget(distances: [1, 2, 3], hitRate: 0) }
        #expect(throws: PocError.self) { _ = try PocCalibration.rTarget(distances: [1], hitRate: 0.5) }
    }

    /// The "cheaper model" cheat: a participant searches with fewer layers (same seed, so the same
    /// tensors for the layers it keeps). Its hits, recomputed with the full model, fail often enough
    /// that the binomial test flags fraud; an honest participant's hits pass.
    @Test func fewerLayersAreCaughtByRecomputation() throws {
        let full = try Shared.engine
        var cheap = PocModelConfig.devnet
        cheap.nLayers = 1
        let cheater = try PocEngine(blockHashHex: Seeds.h, config: cheap, threads: 2)
        let r = try PocCalibration.measure(engine: full, hitRate: 1.0 / 16, nonces: 800).rTarget
        let candidates = Array(UInt64(0)..<2_400)
        let cheapDistances = try cheater.distances(publicKeyHex: Seeds.pk, nonces: candidates)
        let claimed = zip(candidates, cheapDistances).filter { $0.1 < r }.map(\.0)
        #expect(claimed.count >= 100)
        let sample = PocStatistics.sampleNonces(
            from: claimed, count: 200, validatorPublicKeyHex: Seeds.pk2, blockHashHex: Seeds.h)
        let recomputed = try full.distances(publicKeyHex: Seeds.pk, nonces: sample)
        let verdict = Self.verdict(recomputed, r: r)
        print(
            "cheater: \(claimed.count) claimed, \(verdict.mismatches) of \(sample.count) fail full-model recomputation")
        #expect(verdict.fraud)

        let honestDistances = try full.distances(publicKeyHex: Seeds.pk, nonces: candidates)
        let honest = zip(candidates, honestDistances).filter { $0.1 < r }.map(\.0)
        let honestSample = PocStatistics.sampleNonces(
            from: honest, count: 200, validatorPublicKeyHex: Seeds.pk2, blockHashHex: Seeds.h)
        #expect(!Self.verdict(try full.distances(publicKeyHex: Seeds.pk, nonces: honestSample), r: r).fraud)
    }

    /// The chain's verdict (§5.4) on distances as the wire carries them (fixed point).
    static func verdict(_ distances: [Double], r: Double) -> PocVerdict {
        PocVerdict(
            recomputedNano: distances.map(PocDistance.nano), rTargetNano: PocDistance.nano(r),
            minMismatches: EpochParams.devnet.pocFraudMinMismatches)
    }
}
