import Tensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The log-probability of one token and the most likely alternatives at its position.
public struct TokenLogprob: Sendable, Equatable {
    public let token: Int
    public let logprob: Float
    /// Up to the requested number of `(token, logprob)`, most likely first (lowest id on ties).
    public let top: [(token: Int, logprob: Float)]

    public init(token: Int, logprob: Float, top: [(token: Int, logprob: Float)]) {
        self.token = token
        self.logprob = logprob
        self.top = top
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.count == b.top.count
            && zip(a.top, b.top).allSatisfy { $0.token == $1.token && $0.logprob == $1.logprob }
    }
}

/// Log-softmax helpers over raw logits (no temperature: these are the model's own probabilities,
/// the quantity validators re-score).
public enum Logprobs {
    /// The most alternatives a caller may ask for.
    public static let maxTop = 20

    /// The index of the largest logit (lowest index on ties). Two vectorised passes (the maximum,
    /// then its first position) instead of one branchy scalar pass: ~49k logits per token.
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        guard let base = logits.baseAddress, !logits.isEmpty else { return 0 }
        let best = maximum(logits)
        // No logit above -inf (or only NaNs): index 0, as the scan for a strictly larger one gives.
        guard best > -.infinity else { return 0 }
        let raw = UnsafeRawPointer(base)
        let target = SIMD16<Float>(repeating: best)
        var i = 0
        while i + 16 <= logits.count {
            if any(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) .== target) { break }
            i += 16
        }
        while i < logits.count {
            if logits[i] == best { return i }
            i += 1
        }
        return 0
    }

    /// The largest logit (NaNs ignored; -inf for none).
    public static func maximum(_ logits: UnsafeBufferPointer<Float>) -> Float {
        guard let base = logits.baseAddress else { return -.infinity }
        let raw = UnsafeRawPointer(base)
        var acc = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + 16 <= logits.count {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            acc.replace(with: v, where: v .> acc)
            i += 16
        }
        var best = -Float.infinity
        for lane in 0..<16 where acc[lane] > best { best = acc[lane] }
        while i < logits.count {
            if logits[i] > best { best = logits[i] }
            i += 1
        }
        return best
    }

    /// `log Σ exp(logits)`.
    public static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> Float {
        let peak = maximum(logits)
        var sum: Double = 0
        var i = 0
        let m = SIMD16<Float>(repeating: peak)
        let raw = UnsafeRawPointer(logits.baseAddress!)
        var acc = SIMD16<Float>()
        while i + 16 <= logits.count {
            acc += Kernels.exp(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) - m)
            i += 16
        }
        sum = Double(acc.sum())
        while i < logits.count {
            sum += Double(Kernels.exp(logits[i] - peak))
            i += 1
        }
        return peak + Float(log(sum))
    }

    /// The logprob of `token` and the `top` best alternatives at one position.
    public static func entry(_ logits: UnsafeBufferPointer<Float>, token: Int, top: Int) -> TokenLogprob {
        let lse = logSumExp(logits)
        var best: [(token: Int, logprob: Float)] = []
        let k = max(0, min(top, maxTop))
        if k > 0 {
            best.reserveCapacity(k + 1)
            for (i, v) in logits.enumerated() where best.count < k || v > best[best.count - 1].logprob {
                var j = best.count
                while j > 0 && best[j - 1].logprob < v { j -= 1 }
                best.insert((i, v), at: j)
                if best.count > k { best.removeLast() }
            }
        }
        return TokenLogprob(token: token, logprob: logits[token] - lse, top: best.map { ($0.token, $0.logprob - lse) })
    }
}
