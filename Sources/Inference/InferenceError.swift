/// A request the engine cannot serve as asked (bad ids, too long, bad parameters).
public struct InferenceError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case tokenOutOfVocabulary(id: Int, position: Int, vocabularySize: Int)
        case contextOverflow(need: Int, limit: Int)
        case emptyInput(String)
        case invalidParameter(name: String, reason: String)
    }

    private let code: Code

    public static func tokenOutOfVocabulary(id: Int, position: Int, vocabularySize: Int) -> Self {
        Self(code: .tokenOutOfVocabulary(id: id, position: position, vocabularySize: vocabularySize))
    }
    public static func contextOverflow(need: Int, limit: Int) -> Self {
        Self(code: .contextOverflow(need: need, limit: limit))
    }
    public static func emptyInput(_ what: String) -> Self { Self(code: .emptyInput(what)) }
    public static func invalidParameter(_ name: String, _ reason: String) -> Self {
        Self(code: .invalidParameter(name: name, reason: reason))
    }

    /// The request field at fault, for an invalid parameter.
    public var parameter: String? {
        if case .invalidParameter(let name, _) = code { return name }
        return nil
    }

    /// A label without values (safe as a metric label).
    public var shortDescription: String {
        switch code {
        case .tokenOutOfVocabulary: "token_out_of_vocabulary"
        case .contextOverflow: "context_overflow"
        case .emptyInput: "empty_input"
        case .invalidParameter: "invalid_parameter"
        }
    }

    public var description: String {
        switch code {
        case .tokenOutOfVocabulary(let id, let position, let size):
            "token id \(id) at position \(position) is outside the vocabulary (0..<\(size))"
        case .contextOverflow(let need, let limit): "\(need) tokens exceed the context of \(limit)"
        case .emptyInput(let what): "\(what) is empty"
        case .invalidParameter(let name, let reason): "invalid \(name): \(reason)"
        }
    }
}
