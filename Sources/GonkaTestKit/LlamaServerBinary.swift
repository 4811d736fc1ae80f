import Foundation

/// llama.cpp's server (`llama-server`) as `scripts/llama-server` caches it outside the clone, or
/// `$GONKA_LLAMA_SERVER`: nil when it is not built (the tests that need it are then skipped).
public enum LlamaServerBinary {
    public static let path: String? = {
        let environment = ProcessInfo.processInfo.environment
        let cache =
            environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        let path =
            environment["GONKA_LLAMA_SERVER"]
            ?? cache.appendingPathComponent("gonka/llama-server-0.3.36/llama-server").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()
}
