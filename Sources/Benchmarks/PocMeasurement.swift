import Foundation
import GonkaCore
import ProofOfCompute
import Tensor

/// The measurements of `gonka poc …`: r_target calibration and the fast-vs-reference mismatch rate.
/// Progress lines go to `progress`, the report's lines to `output`.
public enum PocMeasurement {
    /// `gonka poc calibrate`: r_target, the distance below which `hitRate` of the nonces falls,
    /// measured on `nonces` nonces of the calibration key and seed.
    public static func calibrate(
        preset: String, config: PocModelConfig, threads: Int, nonces: Int, hitRate wanted: Double,
        progress: (String) -> Void, output: (String) -> Void
    ) throws {
        let engine = try PocEngine(
            blockHashHex: PocCalibration.blockHashHex, config: config, threads: threads)
        progress("calibrating \(preset) (\(config)) on \(nonces) nonces, \(threads) thread(s)…")
        let start = ContinuousClock.now
        let result = try PocCalibration.measure(engine: engine, hitRate: wanted, nonces: nonces)
        let seconds = (ContinuousClock.now - start).seconds
        output("hit_rate       \(String(format: "%.6g", wanted))")
        output("r_target       \(String(format: "%.9f", result.rTarget))")
        output("r_target_nano  \(result.rTargetNano)")
        output(
            "nonces         \(nonces) in \(String(format: "%.1f", seconds)) s (\(rate(Double(nonces), seconds))/s)")
    }

    /// `gonka poc mismatch`: how often the fast engine and the scalar reference disagree about a
    /// nonce's validity at `rTarget` (nil: the reference distances' quantile at `hitRate`).
    public static func mismatch(
        preset: String, config: PocModelConfig, threads: Int, nonces: Int, rTarget: Double?, hitRate: Double,
        hitRateText: String, progress: (String) -> Void, output: (String) -> Void
    ) throws {
        let pool = ThreadPool(threads: threads)
        let weights = try PocWeights(blockHashHex: PocCalibration.blockHashHex, config: config, pool: pool)
        let engine = PocEngine(weights: weights, threads: threads)
        let reference = PocReference(weights: weights)
        let pk = PocCalibration.publicKeyHex
        progress("comparing \(nonces) nonces of \(preset) (\(config)) on \(threads) thread(s)…")
        var fast = [Double](repeating: 0, count: nonces)
        var slow = [Double](repeating: 0, count: nonces)
        let chunk = 2_000
        let start = ContinuousClock.now
        var done = 0
        while done < nonces {
            let end = min(done + chunk, nonces)
            let list = (done..<end).map { UInt64($0) }
            let d = try engine.distances(publicKeyHex: pk, nonces: list)
            for i in 0..<d.count { fast[done + i] = d[i] }
            slow.withUnsafeMutableBufferPointer { out in
                let out = out
                let base = done
                pool.parallelFor(list.count) { range in
                    for i in range {
                        out[base + i] = (try? reference.distance(publicKeyHex: pk, nonce: list[i])) ?? .nan
                    }
                }
            }
            done = end
            let elapsed = (ContinuousClock.now - start).seconds
            // A running tally, so a long run that is cut short still says something.
            let wanted = hitRate
            let soFar = Array(slow[0..<done])
            let r = try rTarget ?? PocCalibration.rTarget(distances: soFar, hitRate: wanted)
            let flips = (0..<done).filter { (fast[$0] < r) != (slow[$0] < r) }.count
            let worst = (0..<done).map { abs(fast[$0] - slow[$0]) }.max() ?? 0
            progress(
                "  \(done)/\(nonces) (\(String(format: "%.0f", elapsed)) s): \(flips) mismatches at r \(String(format: "%.9f", r)), max |fast - ref| \(String(format: "%.3g", worst))"
            )
        }
        let rate = hitRate
        let r = try rTarget ?? PocCalibration.rTarget(distances: slow, hitRate: rate)
        var mismatches = 0
        var diffs: [Double] = []
        diffs.reserveCapacity(nonces)
        for i in 0..<nonces {
            if (fast[i] < r) != (slow[i] < r) { mismatches += 1 }
            diffs.append(abs(fast[i] - slow[i]))
        }
        diffs.sort()
        let p99 = diffs[min(diffs.count - 1, Int(Double(diffs.count) * 0.99))]
        let mean = diffs.reduce(0, +) / Double(diffs.count)
        let maxDiff = diffs.last ?? 0
        let near = slow.filter { abs($0 - r) <= maxDiff }.count
        // With no mismatch seen, the 95% upper bound of the rate is about 3 / n (the rule of three).
        let bound = mismatches == 0 ? 3 / Double(nonces) : Double(mismatches) / Double(nonces)
        output("nonces              \(nonces)")
        output(
            "r_target            \(String(format: "%.9f", r))\(rTarget == nil ? " (reference quantile at \(hitRateText))" : "")"
        )
        output("mismatches          \(mismatches)")
        output("mismatch_rate       \(String(format: "%.3g", Double(mismatches) / Double(nonces)))")
        output("rate_upper_95       \(String(format: "%.3g", bound))\(mismatches == 0 ? " (rule of three)" : "")")
        output("|fast - ref| max    \(String(format: "%.3g", maxDiff))")
        output("|fast - ref| p99    \(String(format: "%.3g", p99))")
        output("|fast - ref| mean   \(String(format: "%.3g", mean))")
        output("within max of r     \(near) nonces (the only ones that could flip)")
        output("seconds             \(String(format: "%.0f", (ContinuousClock.now - start).seconds))")
    }
}
