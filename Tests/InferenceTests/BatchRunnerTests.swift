import GonkaTestKit
import Inference
import Testing

/// The batched runner and the prefix cache: a sequence's logits do not depend on its neighbours in
/// a step, on how its prompt was chunked, or on whether its prefix came from the cache.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct BatchRunnerTests {
    static func prompt(_ model: LlamaModel, _ text: String) -> [Int] { model.tokenizer.encode(text) }

    /// Largest |Δ| between two logit rows, and the same argmax.
    static func distance(_ a: [Float], _ b: [Float]) -> Float {
        #expect(a.count == b.count)
        #expect(a.indices.max { a[$0] < a[$1] } == b.indices.max { b[$0] < b[$1] })
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// Two sequences in one step, one of them prefilled in chunks, give the logits each gives alone.
    @Test func aBatchOfSequencesMatchesEachAlone() async throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let worst = try await BackgroundCompute.run {
            let a = Self.prompt(model, "The capital of France is")
            let b = Self.prompt(model, String(repeating: "One two three four five six seven. ", count: 6))
            let aloneA = try LlamaSession(model: model, capacity: 128).evaluate(a)
            let aloneB = try LlamaSession(model: model, capacity: 128).evaluate(b)
            let runner = LlamaBatchRunner(model: model, threads: 1)
            let cacheA = KVCache(config: model.config, capacity: 128)
            let cacheB = KVCache(config: model.config, capacity: 128)
            var rows: [Int: [Float]] = [:]
            // B's first chunk rides along with all of A, then B's rest alone.
            try runner.run([
                .init(cache: cacheA, ids: a), .init(cache: cacheB, ids: Array(b.prefix(20)), logitsFrom: 20),
            ]) {
                entry, _, logits in rows[entry] = Array(logits)
            }
            #expect(rows.keys.sorted() == [0])
            try runner.run([.init(cache: cacheB, ids: Array(b.dropFirst(20)))]) { _, _, logits in
                rows[1] = Array(logits)
            }
            #expect(cacheA.count == a.count && cacheB.count == b.count)
            return max(Self.distance(aloneA, rows[0]!), Self.distance(aloneB, rows[1]!))
        }
        // Bit-identical: `Kernels.matMul` computes each row of a batch as a one-row call does.
        #expect(worst == 0, "largest logit distance \(worst)")
    }

    /// A bad entry is refused before anything runs: no cache advances.
    @Test func aBadEntryChangesNothing() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let runner = LlamaBatchRunner(model: model)
        let good = KVCache(config: model.config, capacity: 8)
        let small = KVCache(config: model.config, capacity: 2)
        #expect(throws: InferenceError.contextOverflow(need: 3, limit: 2)) {
            try runner.run([.init(cache: good, ids: [1, 2]), .init(cache: small, ids: [1, 2, 3])]) { _, _, _ in }
        }
        #expect(throws: InferenceError.self) {
            try runner.run([.init(cache: good, ids: [1]), .init(cache: small, ids: [-1])]) { _, _, _ in }
        }
        #expect(throws: InferenceError.emptyInput("token batch")) {
            try runner.run([.init(cache: good, ids: [])]) { _, _, _ in }
        }
        #expect(good.count == 0 && small.count == 0)
    }

    /// A prompt sharing whole blocks with a stored one restores them, computes only the rest, and
    /// gets the logits a full prefill gets.
    @Test func aRestoredPrefixGivesTheSameLogits() async throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        try await BackgroundCompute.run {
            let system = Self.prompt(model, String(repeating: "You are a careful and helpful assistant. ", count: 5))
            let first = system + Self.prompt(model, " What is two plus two?")
            let second = system + Self.prompt(model, " Name a colour.")
            let prefixes = PrefixCache(config: model.config, budgetBytes: 64 << 20, blockSize: 16)
            let session = LlamaSession(model: model, capacity: 256)
            _ = try session.evaluate(first)
            prefixes.store(first, from: session.cache)
            #expect(prefixes.storedBlocks == first.count / 16)
            let full = try LlamaSession(model: model, capacity: 256).evaluate(second)

            let restored = LlamaSession(model: model, capacity: 256)
            let reused = prefixes.restore(second, into: restored.cache)
            #expect(reused == system.count / 16 * 16 && reused > 0)
            #expect(restored.count == reused)
            let rest = try restored.evaluate(Array(second.dropFirst(reused)))
            #expect(Self.distance(full, rest) == 0)

            // A prompt that differs in its first block reuses nothing; the prompt's last position is
            // never restored (its logits are needed).
            let other = LlamaSession(model: model, capacity: 256)
            #expect(prefixes.restore([1] + second.dropFirst(), into: other.cache) == 0)
            #expect(prefixes.restore(Array(first.prefix(32)), into: other.cache) == 16)
        }
    }

    /// Least recently used blocks go first when the budget is full; a zero budget stores nothing.
    @Test func evictsLeastRecentlyUsedWithinTheBudget() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let blockBytes = PrefixCache(config: model.config, budgetBytes: 0, blockSize: 4).blockBytes
        let prefixes = PrefixCache(config: model.config, budgetBytes: 2 * blockBytes, blockSize: 4)
        let session = LlamaSession(model: model, capacity: 16)
        _ = try session.evaluate([1, 2, 3, 4, 5, 6, 7, 8])
        let cache = session.cache
        prefixes.store([1, 2, 3, 4, 5, 6, 7, 8], from: cache)
        #expect(prefixes.storedBlocks == 2)
        prefixes.store([9, 9, 9, 9], from: cache)
        #expect(prefixes.storedBlocks == 2)
        let probe = KVCache(config: model.config, capacity: 16)
        // [1…4] was used before [5…8] and [9…]: it went.
        #expect(prefixes.restore([1, 2, 3, 4, 5], into: probe) == 0)
        #expect(prefixes.restore([9, 9, 9, 9, 0], into: probe) == 4)
        let none = PrefixCache(config: model.config, budgetBytes: 0)
        none.store(Array(repeating: 1, count: 16), from: cache)
        #expect(none.storedBlocks == 0)
    }
}
