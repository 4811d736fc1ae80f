import Foundation

/// `--node-model K=PATH` of `gonka devnet up`: node K (0-based, as the devnet names `nodeK`) serves
/// the GGUF file PATH under the devnet's registered model id instead of the default model. The
/// chain knows only the id, so any weights can stand behind it: the validation tests serve a
/// cheat model (`CheatModel` in Benchmarks) this way.
public struct DevnetNodeModel: Sendable, Hashable {
    /// The node's index.
    public var node: Int
    /// The GGUF file it serves.
    public var path: String

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
        self.path = URL(fileURLWithPath: (path as NSString).expandingTildeInPath).standardizedFileURL.path
    }

    /// Refuses an index outside `0..<participants`, an index given twice, and a file that is not there.
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
