import GonkaCore
import Inference
import Testing

/// The vectorised argmax, maximum and top-k of ``Logprobs`` give what the plain scans give: the
/// same index (lowest on ties), the same alternatives in the same order.
struct LogprobsTests {
    static func referenceArgmax(_ logits: [Float]) -> Int {
        var best = 0
        var value = -Float.infinity
        for (i, v) in logits.enumerated() where v > value {
            value = v
            best = i
        }
        return best
    }

    /// Every index sorted by logit (higher first, lower index on ties), the first k.
    static func referenceTop(_ logits: [Float], _ k: Int) -> [Int] {
        Array(logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }.prefix(k))
    }

    /// Logit rows of odd lengths (blocks of 16 plus a tail), with coarse values so ties are common,
    /// a few -inf, and the best values placed in the first block, the tail or the middle.
    static func rows() -> [[Float]] {
        var rng = PhiloxStream(seedString: "logprobs-tests")
        var rows: [[Float]] = []
        for (n, count) in [1, 3, 15, 16, 17, 31, 33, 100, 1000, 49_152 + 5].enumerated() {
            var row = (0..<count).map { _ in Float(Int(rng.nextUniformFloat() * 40)) / 4 - 5 }
            if count > 20 {
                row[count / 3] = -.infinity
                row[count - 1] = n % 2 == 0 ? 9.75 : row[count - 1]
                row[2] = n % 3 == 0 ? 9.75 : row[2]
            }
            rows.append(row)
        }
        rows.append([Float](repeating: -.infinity, count: 40))
        rows.append([Float](repeating: 1.5, count: 37))
        rows.append((0..<64).map { Float(-$0) })  // best first, descending
        rows.append((0..<64).map { Float($0) })  // best last, ascending: every block beats the kept
        return rows
    }

    @Test func argmaxAndMaximumMatchThePlainScan() {
        for row in Self.rows() {
            row.withUnsafeBufferPointer { buffer in
                #expect(Logprobs.argmax(buffer) == Self.referenceArgmax(row), "\(row.count) logits")
                #expect(Logprobs.maximum(buffer) == (row.max() ?? -.infinity))
            }
        }
        #expect([Float]().withUnsafeBufferPointer { Logprobs.argmax($0) } == 0)
    }

    @Test func topAlternativesMatchAFullSort() {
        for row in Self.rows() {
            for k in [0, 1, 2, 5, 20] {
                let token = Self.referenceArgmax(row)
                let entry = row.withUnsafeBufferPointer { Logprobs.entry($0, token: token, top: k) }
                let expected = Self.referenceTop(row, k)
                #expect(entry.top.map(\.token) == expected, "\(row.count) logits, top \(k)")
                #expect(entry.token == token)
                // (All -inf has no finite normaliser: only the order is defined.)
                let lse = row.withUnsafeBufferPointer { Logprobs.logSumExp($0) }
                guard lse.isFinite else { continue }
                #expect(zip(entry.top, expected).allSatisfy { $0.logprob == row[$1] - lse })
                #expect(entry.logprob == row[token] - lse)
            }
        }
    }
}
