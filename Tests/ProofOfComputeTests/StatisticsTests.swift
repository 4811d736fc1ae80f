import Foundation
import GonkaCore
import Testing

@testable import ProofOfCompute

@Suite struct PocStatisticsTests {
    /// `P[X ≥ k]` summed directly in linear space: an independent check on small cases.
    static func direct(k: Int, n: Int, p: Double) -> Double {
        var total = 0.0
        for i in k...n {
            var choose = 1.0
            for j in 0..<i { choose = choose * Double(n - j) / Double(j + 1) }
            total += choose * pow(p, Double(i)) * pow(1 - p, Double(n - i))
        }
        return total
    }

    @Test func binomialTailAgainstHandComputedValues() {
        // Bin(10, ½): P[X ≥ 10] = 2⁻¹⁰, P[X ≥ 1] = 1 − 2⁻¹⁰, P[X ≥ 9] = 11 / 1024.
        #expect(abs(PocStatistics.binomialUpperTail(k: 10, n: 10, p: 0.5) - 1.0 / 1024) < 1e-15)
        #expect(abs(PocStatistics.binomialUpperTail(k: 1, n: 10, p: 0.5) - 1023.0 / 1024) < 1e-12)
        #expect(abs(PocStatistics.binomialUpperTail(k: 9, n: 10, p: 0.5) - 11.0 / 1024) < 1e-14)
        // Bin(3, 0.1): P[X ≥ 2] = 3·0.01·0.9 + 0.001 = 0.028.
        #expect(abs(PocStatistics.binomialUpperTail(k: 2, n: 3, p: 0.1) - 0.028) < 1e-15)
        // The protocol's case: Bin(200, 5e-4).
        for k in 1...8 {
            let expected = Self.direct(k: k, n: 200, p: 5e-4)
            let got = PocStatistics.binomialUpperTail(k: k, n: 200, p: 5e-4)
            #expect(abs(got - expected) / expected < 1e-9, "k = \(k): \(got) vs \(expected)")
        }
        // Edges, and a tail far below Double's normal range in linear space is still positive.
        #expect(PocStatistics.binomialUpperTail(k: 0, n: 200, p: 5e-4) == 1)
        #expect(PocStatistics.binomialUpperTail(k: 201, n: 200, p: 5e-4) == 0)
        let tiny = PocStatistics.binomialUpperTail(k: 200, n: 200, p: 5e-4)  // 5e-4^200 ≈ 10^-660
        #expect(tiny == 0 || tiny < 1e-300)
        let deep = PocStatistics.binomialUpperTail(k: 80, n: 200, p: 5e-4)  // ≈ 10^-207
        #expect(deep > 0 && deep < 1e-150)
    }

    /// The protocol's case: five or more of 200 (p₀ = 5e-4, threshold 1e-7); the devnet parameter
    /// `poc_fraud_min_mismatches` is what its own `poc_mismatch_rate_ppb` and
    /// `poc_fraud_threshold_ppb` give, so changing one without the other fails here.
    @Test func fraudMinMismatchesIsFiveOf200AndMatchesTheDevnetParameter() {
        #expect(PocStatistics.fraudMinMismatches(sampled: 200, mismatchRate: 5e-4, threshold: 1e-7) == 5)
        #expect(PocStatistics.fraudMinMismatches(.devnet) == Int(EpochParams.devnet.pocFraudMinMismatches))
        #expect(PocStatistics.fraudMinMismatches(.short) == Int(EpochParams.short.pocFraudMinMismatches))
        // Bin(10, ½): P[X ≥ 10] = 2⁻¹⁰ ≈ 9.8e-4 is the only tail below 1e-3; nothing is below 1e-4.
        #expect(PocStatistics.fraudMinMismatches(sampled: 10, mismatchRate: 0.5, threshold: 1e-3) == 10)
        #expect(PocStatistics.fraudMinMismatches(sampled: 10, mismatchRate: 0.5, threshold: 1e-4) == 11)
        #expect(PocStatistics.fraudMinMismatches(sampled: 0, mismatchRate: 5e-4, threshold: 1e-7) == 1)
    }

    /// The verdict (GonkaCore's ``PocVerdict``, the one the ledger and the orchestrator use):
    /// mismatches are distances at or above r_target, fraud from the fifth of 200.
    @Test func verdictCountsDistancesAtOrAboveTheTarget() {
        let params = EpochParams.devnet
        let r = params.rTargetNano
        for k in 0...6 {
            let recomputed = Array(repeating: r - 1, count: 200 - k) + Array(repeating: r, count: k)
            let verdict = PocVerdict(recomputedNano: recomputed, params: params)
            #expect(verdict.mismatches == k)
            #expect(verdict.fraud == (k >= 5), "k = \(k)")
        }
        #expect(PocVerdict(recomputedNano: [], params: params) == PocVerdict(recomputedNano: [0], params: params))
    }

    @Test func sampleIsDeterministicWithoutReplacementAndOrderFree() {
        let nonces = (0..<1_000).map { UInt64($0) * 4 + 1 }
        let seed = PocSeed.validationSample(validatorPublicKeyHex: Seeds.pk2, blockHashHex: Seeds.h)
        #expect(seed == Hash.sha256("\(Seeds.pk2)/\(Seeds.h)"))
        let sample = PocStatistics.sampleNonces(from: nonces, count: 200, seed: seed)
        #expect(sample.count == 200)
        #expect(Set(sample).count == 200)
        #expect(Set(sample).isSubset(of: Set(nonces)))
        #expect(
            PocStatistics.sampleNonces(from: nonces.reversed() + nonces.prefix(10), count: 200, seed: seed) == sample)
        let other = PocStatistics.sampleNonces(from: nonces, count: 200, seed: Hash.sha256("other"))
        #expect(other != sample)
        #expect(sample != Array(nonces.prefix(200)))
        // At most `count`: fewer nonces than that are all taken.
        #expect(PocStatistics.sampleNonces(from: [5, 3, 5], count: 200, seed: seed) == [3, 5])
    }
}

@Suite struct NonceLatticeTests {
    @Test func latticeNoncesAndMembership() throws {
        let lattice = try NonceLattice(nodeIndex: 2, nodeCount: 5)
        #expect((0..<4).compactMap { lattice.nonce(at: $0) } == [2, 7, 12, 17])
        #expect(lattice.contains(17) && !lattice.contains(18))
        #expect(lattice.nonce(at: UInt64.max / 5 + 1) == nil)
        #expect(NonceLattice.all.contains(12_345))
        // Two nodes of one participant never share a nonce.
        let other = try NonceLattice(nodeIndex: 3, nodeCount: 5)
        #expect(
            Set((0..<100).compactMap { lattice.nonce(at: $0) }).isDisjoint(
                with: (0..<100).compactMap { other.nonce(at: $0) }))
    }

    @Test(arguments: [(UInt64(0), UInt64(0)), (3, 3), (4, 2)])
    func impossibleLatticesAreRefused(index: UInt64, count: UInt64) {
        #expect(throws: PocError.invalidLattice(index: index, count: count)) {
            _ = try NonceLattice(nodeIndex: index, nodeCount: count)
        }
    }

    @Test func codable() throws {
        let lattice = try JSONDecoder().decode(NonceLattice.self, from: Data(#"{"node_index":1,"node_count":4}"#.utf8))
        #expect(lattice == (try NonceLattice(nodeIndex: 1, nodeCount: 4)))
        #expect(throws: DecodingError.self) {
            _ = try JSONDecoder().decode(NonceLattice.self, from: Data(#"{"node_index":4,"node_count":4}"#.utf8))
        }
    }
}
