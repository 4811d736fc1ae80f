/// The power cap of PROTOCOL §5.6 in integer math: no participant above a share L of the total,
/// by sort-and-threshold, nothing redistributed.
///
/// Sort ascending p₀ ≤ … ≤ pₙ₋₁, S_k = p₀ + … + p_{k−1}. Find the first k with
/// p_k > L·(S_k + p_k·(n−k)) (were p_k and everything above it set to p_k, p_k would hold more than
/// L); then cap = ⌊L·S_k / (1 − L·(n−k))⌋ and every weight is min(weight, cap). With L in ppm the
/// test is p_k·10⁶ > L·(S_k + p_k·(n−k)) and cap = ⌊L·S_k / (10⁶ − L·(n−k))⌋, in 128-bit integers.
///
/// L is relaxed when too few participants could ever satisfy it (PROTOCOL §5.6: 50% with two, 40%
/// with three, none with one, and never below 1/n); when 1 − L·(n−k) ≤ 0 no cap exists and the
/// weights stay. Callers pass positive weights only.
enum PowerCap {
    static let ppm: UInt128 = 1_000_000

    /// The effective limit for `count` participants, in ppm (`nil`: no cap).
    static func limitPpm(count: Int, maxPpm: UInt64) -> UInt64? {
        let relaxed: UInt64
        switch count {
        case ...1: return nil
        case 2: relaxed = max(maxPpm, 500_000)
        case 3: relaxed = max(maxPpm, 400_000)
        default: relaxed = maxPpm
        }
        // Someone always holds at least 1/n: a smaller limit has no solution.
        let n = UInt64(count)
        return max(relaxed, (1_000_000 + n - 1) / n)
    }

    /// `weights` capped, in the same order.
    static func apply(_ weights: [UInt64], maxPpm: UInt64) -> [UInt64] {
        let n = weights.count
        guard let limit = limitPpm(count: n, maxPpm: maxPpm) else { return weights }
        let l = UInt128(limit)
        let sorted = weights.sorted()
        var prefix: UInt128 = 0
        for (k, pk) in sorted.enumerated() {
            let p = UInt128(pk)
            let rest = UInt128(n - k)
            if p * ppm > l * (prefix + p * rest) {
                guard l * rest < ppm else { return weights }
                let cap = l * prefix / (ppm - l * rest)
                let capped = UInt64(cap)
                return weights.map { min($0, capped) }
            }
            prefix += p
        }
        return weights
    }
}
