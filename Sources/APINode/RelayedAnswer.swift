import GonkaCore

/// What the Transfer Agent accepts as a complete non-streamed answer from an executor: a JSON
/// object with at least one choice. Anything else — the error object an executor writes when its
/// ML node stops mid-generation (its 200 head is already sent), a body cut off by the connection,
/// an answer over ``maxBytes`` — is the executor's failure, and the client gets a 502.
enum RelayedAnswer: Equatable {
    case complete
    case failed(String)

    /// The largest answer the TA reads whole: 8 choices of 128k tokens with top-20 logprobs stay
    /// well below it.
    static let maxBytes = 256 << 20

    /// `bytes` is the executor's body, or nil when it could not be read to its end.
    static func check(_ bytes: [UInt8]?) -> RelayedAnswer {
        guard let bytes else {
            return .failed("the answer was cut off (the connection closed or it passed \(maxBytes >> 20) MiB)")
        }
        guard let object = try? JSONValue(parsing: bytes), object.objectValue != nil else {
            return .failed("the answer is not a JSON object (\(bytes.count) bytes)")
        }
        if let error = object["error"], !error.isNull {
            return .failed(error["message"]?.stringValue ?? "the executor answered an error")
        }
        guard let choices = object["choices"]?.arrayValue, !choices.isEmpty else {
            return .failed("the answer has no choices")
        }
        return .complete
    }
}
