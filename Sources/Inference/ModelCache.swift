import Foundation

/// Where `make model` keeps the devnet model, and the one rule every command and benchmark uses to
/// pick a model file when none is named.
public enum ModelCache {
    /// The devnet model's file name.
    public static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// `explicit` if given, else `$GONKA_MODEL` when set and non-empty, else
    /// `~/.cache/gonka/models/SmolLM2-135M-Instruct.Q4_1.gguf` (which may not exist: callers check).
    public static func resolve(_ explicit: String?) -> String {
        if let explicit { return explicit }
        if let variable = ProcessInfo.processInfo.environment["GONKA_MODEL"], !variable.isEmpty { return variable }
        return FileManager.default.homeDirectoryForCurrentUser
            .appendingPathComponent(".cache/gonka/models/" + fileName).path
    }
}
