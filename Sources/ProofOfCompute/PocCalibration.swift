import GonkaCore

/// `r_target` for a wanted hit rate (PROTOCOL §5.2, `gonka poc calibrate`): the distance quantile
/// over a sample of nonces.
public enum PocCalibration {
    /// The result of a calibration run.
    public struct Result: Sendable, Hashable, Codable {
        public var rTarget: Double
        public var rTargetNano: UInt64
        public var hitRate: Double
        public var nonces: Int

        enum CodingKeys: String, CodingKey {
            case rTarget = "r_target"
            case rTargetNano = "r_target_nano"
            case hitRate = "hit_rate"
            case nonces
        }
    }

    /// The fixed key and seed calibration samples with: the distance distribution does not depend
    /// on them (input, permutation and target are independent draws), only on the model.
    public static let publicKeyHex = Hash.sha256("gonka/poc/calibration/pk").hex
    public static let blockHashHex = Hash.sha256("gonka/poc/calibration/H").hex

    /// The threshold below which a fraction `hitRate` of `distances` lies: with the distances sorted
    /// and `k = round(hitRate × N)` (at least 1, at most N − 1), the midpoint of the k-th and
    /// (k+1)-th smallest, so exactly k of the sample are `< r`.
    public static func rTarget(distances: [Double], hitRate: Double) throws(PocError) -> Double {
        guard distances.count >= 2 else { throw .invalidArgument("need at least 2 distances to calibrate") }
        guard hitRate > 0, hitRate < 1 else { throw .invalidArgument("hit rate \(hitRate) must be in (0, 1)") }
        let sorted = distances.sorted()
        let k = Swift.min(Swift.max(1, Int((hitRate * Double(sorted.count)).rounded())), sorted.count - 1)
        return (sorted[k - 1] + sorted[k]) / 2
    }

    /// Measures `r_target` on the first `nonces` nonces of the calibration key.
    public static func measure(
        engine: PocEngine, hitRate: Double, nonces: Int, startNonce: UInt64 = 0
    ) throws(PocError)
        -> Result
    {
        guard nonces >= 2 else { throw .invalidArgument("need at least 2 nonces to calibrate") }
        let list = (0..<UInt64(nonces)).map { startNonce &+ $0 }
        let distances = try engine.distances(publicKeyHex: publicKeyHex, nonces: list)
        let r = try rTarget(distances: distances, hitRate: hitRate)
        return Result(rTarget: r, rTargetNano: PocDistance.nano(r), hitRate: hitRate, nonces: nonces)
    }
}
