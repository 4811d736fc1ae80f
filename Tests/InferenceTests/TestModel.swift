import Foundation
import GonkaTestKit
import Inference

/// The embedded model for tests, found by ``TestModelFile``.
enum TestModel {
    /// The loaded model, or nil with `problem` saying why.
    static let loaded: Result<LlamaModel, any Error> = Result { try LlamaModel(path: TestModelFile.path()) }

    static var model: LlamaModel? { try? loaded.get() }

    static var problem: String {
        switch loaded {
        case .success: "none"
        case .failure(let error): "model unavailable: \(error)"
        }
    }

    /// A fixture file's bytes (`Tests/InferenceTests/Fixtures/NAME`), from its first `{` on.
    static func fixture(_ name: String) throws -> Data {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/" + name)
        let data = try Data(contentsOf: url)
        guard let brace = data.firstIndex(of: UInt8(ascii: "{")) else { return data }
        return data[brace...]
    }
}

struct TokenizerGolden: Decodable {
    struct Case: Decodable, Sendable {
        let text: String
        let ids: [Int]
    }
    struct Greedy: Decodable {
        let prompt_ids: [Int]
        let float_reference_next20: [Int]
    }
    let cases: [Case]
    let greedy: Greedy

    static func load() -> TokenizerGolden? {
        try? JSONDecoder().decode(TokenizerGolden.self, from: TestModel.fixture("tokenizer-golden.json"))
    }
}

struct ReferenceLogprobs: Decodable {
    struct Score: Decodable {
        let pos: Int
        let next: Int
        let next_logprob: Float
        let top5: [[Double]]
    }
    let ids: [Int]
    let scores: [Score]

    static func load() throws -> ReferenceLogprobs {
        try JSONDecoder().decode(ReferenceLogprobs.self, from: TestModel.fixture("reference-logprobs.json"))
    }
}
