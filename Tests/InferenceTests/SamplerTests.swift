import GonkaCore
import GonkaTestKit
import Inference
import Tensor
import Testing

/// The sampler's partial selection (top-k heap, top-p narrowing) draws exactly what sorting the whole
/// vocabulary draws.
struct SamplerTests {
    /// The definition: sort every candidate (most likely first, lower id on ties), keep k, keep the
    /// top-p prefix of the (id-order) total mass, draw with the same uniform.
    static func reference(_ logits: [Float], _ p: SamplingParameters, u: Float) -> Int {
        let maximum = logits.max() ?? 0
        var candidates: [(id: Int, weight: Float)] = []
        for (id, v) in logits.enumerated() {
            let w = Kernels.exp((v - maximum) / p.temperature)
            if w > 0 && w >= p.minP { candidates.append((id, w)) }
        }
        let total = candidates.reduce(Float(0)) { $0 + $1.weight }
        candidates.sort { $0.weight != $1.weight ? $0.weight > $1.weight : $0.id < $1.id }
        let truncated = p.topK > 0 && candidates.count > p.topK
        if truncated { candidates.removeLast(candidates.count - p.topK) }
        if p.topP < 1 {
            let cutoff = truncated ? candidates.reduce(Float(0)) { $0 + $1.weight } : total
            var running: Float = 0
            var keep = candidates.count
            for (i, c) in candidates.enumerated() {
                running += c.weight
                if running >= p.topP * cutoff {
                    keep = i + 1
                    break
                }
            }
            candidates.removeLast(candidates.count - keep)
        }
        let kept = candidates.reduce(Float(0)) { $0 + $1.weight }
        var running: Float = 0
        for c in candidates {
            running += c.weight
            if u * kept < running { return c.id }
        }
        return candidates.last?.id ?? 0
    }

    @Test(arguments: [
        SamplingParameters(temperature: 1, topK: 40),
        SamplingParameters(temperature: 0.7, topP: 0.9),
        SamplingParameters(temperature: 1.3, topK: 50, topP: 0.8),
        SamplingParameters(temperature: 1, topP: 0.999),
        SamplingParameters(temperature: 0.5, topK: 1),
    ])
    /// Seconds of sorting per case: computed off the cooperative pool (`BackgroundCompute`), checked
    /// here.
    func partialSelectionMatchesFullSort(parameters: SamplingParameters) async {
        let draws = await BackgroundCompute.run { () -> [(trial: Int, got: Int, reference: Int)] in
            var random = PhiloxStream(seedString: "sampler-test")
            var draws: [(trial: Int, got: Int, reference: Int)] = []
            for trial in 0..<6 {
                // A peaked, vocabulary-sized distribution like a model's, with some exact ties.
                let logits = (0..<49_152).map { i -> Float in
                    let x = random.nextUniformFloat()
                    return i % 97 == 0 ? 3 : -12 * x * x + (i < 30 ? 8 * random.nextUniformFloat() : 0)
                }
                var parameters = parameters
                parameters.seed = UInt64(trial)
                var sampler = Sampler(parameters)
                var uniforms = PhiloxStream(seedString: "gonka/inference/sampler/\(trial)")
                for _ in 0..<2 {
                    let u = uniforms.nextUniformFloat()
                    let got = logits.withUnsafeBufferPointer { sampler.sample($0) }
                    draws.append((trial, got, Self.reference(logits, parameters, u: u)))
                }
            }
            return draws
        }
        #expect(draws.count == 12)
        for draw in draws {
            #expect(draw.got == draw.reference, "trial \(draw.trial), \(parameters)")
        }
    }
}
