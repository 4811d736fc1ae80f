import Foundation
import Inference

/// The embedded model for tests: `GONKA_MODEL`, else the `make model` cache; fetched through
/// `scripts/fetch-model` under a file lock when absent (one download even with parallel test runs).
enum TestModel {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// The loaded model, or nil with `problem` saying why.
    static let loaded: Result<LlamaModel, any Error> = Result {
        let path = try locate()
        return try LlamaModel(path: path)
    }

    static var model: LlamaModel? { try? loaded.get() }

    static var problem: String {
        switch loaded {
        case .success: "none"
        case .failure(let error): "model unavailable: \(error)"
        }
    }

    struct FetchFailed: Error, CustomStringConvertible {
        let description: String
    }

    static func locate() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["GONKA_MODEL"], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else {
                throw FetchFailed(description: "GONKA_MODEL=\(path) does not exist")
            }
            return path
        }
        let directory =
            environment["GONKA_MODELS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/gonka/models").path
        let path = directory + "/" + fileName
        if FileManager.default.fileExists(atPath: path) { return path }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "flock", directory + "/.fetch.lock", repositoryRoot.appendingPathComponent("scripts/fetch-model").path,
        ]
        process.environment = environment.merging(["GONKA_MODELS": directory]) { $1 }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: path) else {
            throw FetchFailed(description: "scripts/fetch-model failed (status \(process.terminationStatus))")
        }
        return path
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
