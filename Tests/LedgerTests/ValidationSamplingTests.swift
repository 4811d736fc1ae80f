import GonkaCore
import Ledger
import Testing

/// PROTOCOL §7.1 sampling and the seed obligation. `ValidationVectors.draws` / `.decisions` come from
/// `scripts/gen-validation-vectors.py` (hashlib and exact `Fraction` arithmetic).
@Suite struct ValidationSamplingTests {
    let params = ValidationParams.defaults
    let keys: [Address]

    init() throws {
        keys = try (1...4).map { try SigningKey(seed: [UInt8](repeating: UInt8($0), count: 32)).publicKey.address }
    }

    @Test func drawIsTheBigEndianFirstEightBytes() throws {
        for line in ValidationVectors.draws.split(separator: "\n") {
            let f = line.split(separator: " ")
            let seed = try #require(Hash(hex: String(f[0])))
            #expect(ValidationSampling.draw(seed: seed, inferenceID: String(f[1])) == UInt64(f[2]), "\(line)")
        }
        let digest = Hash.sha256("\(Hash.zero.hex)/x").bytes
        let expected = digest[0..<8].reduce(UInt64(0)) { $0 * 256 + UInt64($1) }
        #expect(ValidationSampling.draw(seed: .zero, inferenceID: "x") == expected)
    }

    @Test func decisionsMatchExactFractions() throws {
        let lines = ValidationVectors.decisions.split(separator: "\n")
        var obliged = 0
        for line in lines {
            let f = line.split(separator: " ").map { UInt64($0)! }
            #expect(try ValidationSampling.minimumAveragePpb(traffic: f[0], params: params) == f[6], "\(line)")
            let p = try ValidationSampling.probability(
                traffic: f[0], reputation: f[1], ownWeight: f[2], modelTotalWeight: f[3], executorWeight: f[4],
                params: params)
            #expect(p.admits(f[5]) == (f[7] == 1), "\(line)")
            if f[7] == 1 { obliged += 1 }
        }
        // Both outcomes are exercised.
        #expect(obliged > 20 && obliged < lines.count - 20)
    }

    @Test(arguments: [
        (UInt64(0), UInt64(1_000_000_000)), (100, 1_000_000_000), (101, 999_806_123), (2_550, 525_000_000),
        (5_000, 50_000_000), (5_001, 49_992_000), (7_500, 30_000_000), (9_999, 10_008_000), (10_000, 10_000_000),
        (1_000_000, 10_000_000),
    ])
    func floorIsPiecewiseLinear(traffic: UInt64, ppb: UInt64) throws {
        // 101: 10⁹ − ⌊950,000,000 × 1 / 4,900⌋ = 10⁹ − 193,877 (rounded up to the ppb).
        #expect(try ValidationSampling.minimumAveragePpb(traffic: traffic, params: params) == ppb)
    }

    @Test func probabilityIsCappedAtOne() throws {
        // A new executor (reputation 0) at low traffic: target 1, own weight 10 of 10 others: p = 1.
        let p = try ValidationSampling.probability(
            traffic: 0, reputation: 0, ownWeight: 10, modelTotalWeight: 30, executorWeight: 20, params: params)
        #expect(p.isCertain)
        #expect(p.admits(.max) && p.admits(0))
        // Far above one: still every draw.
        let big = try ValidationSampling.probability(
            traffic: 0, reputation: 0, ownWeight: .max, modelTotalWeight: .max, executorWeight: .max - 1,
            params: params)
        #expect(big.admits(.max))
        #expect(big.approximateValue == 1)
    }

    @Test func trustedExecutorOnABusyNetworkIsCheckedAtTheFloor() throws {
        // Reputation 100, traffic ≥ 10,000: target = 0.01; own weight = all others: p = 0.01 exactly.
        let p = try ValidationSampling.probability(
            traffic: 20_000, reputation: 100, ownWeight: 50, modelTotalWeight: 150, executorWeight: 100,
            params: params)
        #expect(p.numerator * 100 == p.denominator)
        #expect(!p.admits(UInt64.max / 100 + 1))  // r/2⁶⁴ just above 0.01
        #expect(p.admits(UInt64.max / 100 - 1))
        // Zero weight, or no one else: never.
        #expect(
            try ValidationSampling.probability(
                traffic: 0, reputation: 0, ownWeight: 0, modelTotalWeight: 10, executorWeight: 5, params: params
            )
            .admits(0) == false)
        #expect(
            try ValidationSampling.probability(
                traffic: 0, reputation: 0, ownWeight: 5, modelTotalWeight: 5, executorWeight: 5, params: params)
                == .zero)
    }

    @Test func rejectsUnusableCutoffs() {
        var bad = params
        bad.trafficHalfwayCutoff = bad.trafficFullCutoff
        #expect(throws: ValidationSamplingError.invalidParameters) {
            try ValidationSampling.minimumAveragePpb(traffic: 1, params: bad)
        }
        bad = params
        bad.minValidationAveragePpm = 60_000
        #expect(throws: ValidationSamplingError.invalidParameters) {
            try ValidationSampling.minimumAveragePpb(traffic: 1, params: bad)
        }
    }

    // MARK: obligations

    func snapshot(traffic: UInt64 = 20_000, reputation: UInt64 = 100) -> ValidationObligations.Snapshot {
        .init(
            traffic: traffic,
            modelWeights: ["m": [keys[0]: 100, keys[1]: 100, keys[2]: 200], "other": [keys[1]: 10, keys[2]: 10]],
            reputations: [keys[1]: reputation, keys[2]: reputation])
    }

    func inferences(_ n: Int, executor: Address, model: String = "m") -> [ValidationObligations.FinishedInference] {
        (0..<n).map { .init(id: Hash.sha256("inference-\(model)-\($0)").hex, executor: executor, model: model) }
    }

    @Test func neverObligedForItsOwnInferencesOrModelsItDoesNotServe() throws {
        // Reputation 0 and no traffic (target 1), and only the executor and the validator serve "m":
        // p = 1 for everything it may validate.
        var snap = snapshot(traffic: 0, reputation: 0)
        snap.modelWeights["m"] = [keys[0]: 100, keys[1]: 100]
        let own = inferences(50, executor: keys[0])
        let unserved = inferences(50, executor: keys[1], model: "other")
        let unknown = inferences(50, executor: keys[1], model: "nobody-serves")
        let others = inferences(50, executor: keys[1])
        let ids = try ValidationObligations.obligations(
            validator: keys[0], seed: Hash.sha256("s"), inferences: own + unserved + unknown + others, snapshot: snap,
            params: params)
        #expect(ids == others.map(\.id).sorted())
    }

    @Test func deterministicAndIndependentOfOrder() throws {
        let all = inferences(300, executor: keys[1]) + inferences(300, executor: keys[2])
        let seed = Hash.sha256("secret")
        let a = try ValidationObligations.obligations(
            validator: keys[0], seed: seed, inferences: all, snapshot: snapshot(), params: params)
        let b = try ValidationObligations.obligations(
            validator: keys[0], seed: seed, inferences: all.reversed() + all, snapshot: snapshot(), params: params)
        #expect(a == b)
        let other = try ValidationObligations.obligations(
            validator: keys[0], seed: Hash.sha256("another"), inferences: all, snapshot: snapshot(), params: params)
        #expect(a != other)
    }

    /// The claim audit's batch (each model's total summed once) decides exactly as the worker's
    /// one-inference call does, across models and executors.
    @Test func theBatchDecidesAsTheOneInferenceCallDoes() throws {
        let snap = snapshot(traffic: 5_000, reputation: 50)
        // Distinct ids (the helper's ids depend on the model and the index only).
        let all =
            inferences(400, executor: keys[1]) + inferences(800, executor: keys[2]).suffix(400)
            + inferences(200, executor: keys[2], model: "other") + inferences(1_100, executor: keys[0]).suffix(100)
        let seed = Hash.sha256("batch")
        for validator in keys.prefix(3) {
            let batch = try ValidationObligations.obligations(
                validator: validator, seed: seed, inferences: all, snapshot: snap, params: params)
            let single = try all.filter { inference in
                let p = try ValidationObligations.probability(
                    validator: validator, inference: inference, snapshot: snap, params: params)
                return p.numerator > 0
                    && ValidationSampling.isObliged(seed: seed, inferenceID: inference.id, probability: p)
            }.map(\.id).sorted()
            #expect(Set(all.map(\.id)).count == all.count)
            #expect(batch.count == single.count && batch == single, "\(batch.count) vs \(single.count)")
            #expect(!batch.isEmpty)
        }
    }

    @Test func obligedFractionMatchesP() throws {
        // Reputation 50 at traffic 5,000: target = 0.05 + 0.95 × 0.5 = 0.525; own weight 100 of the 200
        // that is not the executor's (keys[2] weighs 200 of 400): p = 0.2625. 20,000 ids: σ ≈ 0.0031,
        // tolerance 5σ.
        let snap = snapshot(traffic: 5_000, reputation: 50)
        let all = inferences(20_000, executor: keys[2])
        let p = try ValidationObligations.probability(
            validator: keys[0], inference: all[0], snapshot: snap, params: params)
        #expect(abs(p.approximateValue - 0.2625) < 1e-12)
        let ids = try ValidationObligations.obligations(
            validator: keys[0], seed: Hash.sha256("fraction"), inferences: all, snapshot: snap, params: params)
        let fraction = Double(ids.count) / Double(all.count)
        #expect(abs(fraction - 0.2625) < 5 * (0.2625 * 0.7375 / 20_000).squareRoot(), "obliged \(fraction)")
    }
}

extension ValidationSampling.Probability {
    /// The value as a `Double`, for the tests' statistics only: the ledger module has no floating
    /// point (DESIGN §2.1, determinism boundary).
    var approximateValue: Double { min(1, Double(numerator) / Double(denominator)) }
}
