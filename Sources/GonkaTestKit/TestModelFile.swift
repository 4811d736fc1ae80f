import Foundation

/// Where tests find the embedded model (docs/DESIGN.md §5): `GONKA_MODEL`, else the `make model`
/// cache (`GONKA_MODELS`, default `~/.cache/gonka/models`), fetched through `scripts/fetch-model`
/// under a file lock when absent, so parallel test processes download it once. One place for every
/// test target that needs the model.
public enum TestModelFile {
    public static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// The repository's root (this file is `Sources/GonkaTestKit/TestModelFile.swift`).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// The model's path, fetching it first if needed.
    public static func path() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["GONKA_MODEL"], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else {
                throw Unavailable(description: "GONKA_MODEL=\(path) does not exist")
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
            throw Unavailable(description: "scripts/fetch-model failed (status \(process.terminationStatus))")
        }
        return path
    }
}
