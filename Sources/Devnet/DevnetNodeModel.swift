import Foundation

/// `--node-model K=PATH|URL` of `gonka devnet up`: node K (0-based, as the devnet names `nodeK`)
/// serves the GGUF file PATH in process, or has no in-process model and uses the ML node at URL
/// (`[api] ml = ""`, `ml_nodes = [URL]`: e.g. `gonka mlnode start --backend openai` in front of
/// llama.cpp's server), under the devnet's registered model id instead of the default model. The
/// chain knows only the id, so any weights or engine can stand behind it: the validation tests
/// serve a cheat model this way, the cross-engine tests another engine.
public struct DevnetNodeModel: Sendable, Hashable {
    /// The node's index.
    public var node: Int
    /// The GGUF file it serves, or the `http(s)://` URL of its ML node.
    public var path: String

    /// Whether ``path`` is an ML node's URL rather than a file.
    public var isURL: Bool { Self.isURL(path) }

    /// Whether a `--node-model` value names an ML node (`http://…`, `https://…`) rather than a file.
    public static func isURL(_ value: String) -> Bool { value.hasPrefix("http://") || value.hasPrefix("https://") }

    /// Memberwise.
    public init(node: Int, path: String) {
        self.node = node
        self.path = path
    }

    /// Parses `K=PATH` (K a non-negative integer, PATH non-empty; `~` expanded, made absolute).
    public init(parsing text: String) throws(DevnetError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw DevnetError("--node-model \"\(text)\" is not K=PATH (node index = GGUF file)")
        }
        let index = text[..<equals].trimmingCharacters(in: .whitespaces)
        let path = String(text[text.index(after: equals)...])
        guard let node = Int(index), node >= 0 else {
            throw DevnetError("--node-model \"\(text)\": K must be a node index (0, 1, …), got \"\(index)\"")
        }
        guard !path.isEmpty else { throw DevnetError("--node-model \"\(text)\" names no file after =") }
        self.node = node
        if Self.isURL(path) {
            guard let url = URL(string: path), let host = url.host, !host.isEmpty else {
                throw DevnetError("--node-model \"\(text)\": \(path) is not an http(s)://host:port URL")
            }
            var trimmed = path
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            self.path = trimmed
        } else {
            self.path = URL(fileURLWithPath: (path as NSString).expandingTildeInPath).standardizedFileURL.path
        }
    }

    /// Refuses an index outside `0..<participants`, an index given twice, and a file that is not
    /// there (a URL is not checked here: the API node waits for its ML node to answer).
    public static func check(_ models: [DevnetNodeModel], participants: Int) throws(DevnetError) {
        var seen: Set<Int> = []
        for model in models {
            guard (0..<participants).contains(model.node) else {
                throw DevnetError(
                    "--node-model \(model.node)=…: the devnet has nodes 0…\(participants - 1), not \(model.node)")
            }
            guard seen.insert(model.node).inserted else {
                throw DevnetError("--node-model names node \(model.node) twice")
            }
            if model.isURL { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: model.path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { throw DevnetError("--node-model \(model.node)=\(model.path): no such file") }
        }
    }

    /// `models` as node index → file, after ``check(_:participants:)``.
    public static func map(_ models: [DevnetNodeModel], participants: Int) throws(DevnetError) -> [Int: String] {
        try check(models, participants: participants)
        return Dictionary(uniqueKeysWithValues: models.map { ($0.node, $0.path) })
    }
}
