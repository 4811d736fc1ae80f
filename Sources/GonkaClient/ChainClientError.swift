/// Why a call to a chain node failed: the node answered with an error (its HTTP status and the
/// `{"error":{"code","message"}}` it sent), it could not be reached, it did not answer in time, or
/// it answered something this client cannot read.
public struct ChainClientError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case http(status: Int, code: String, message: String)
        case connectionRefused(url: String, reason: String)
        case timeout(url: String)
        case invalidResponse(url: String, reason: String)
        case invalidURL(String)
        case invalidArgument(String)
    }

    private let code: Code

    /// The node answered with HTTP `status` and the error `code`/`message` from its JSON body.
    public static func http(status: Int, code: String, message: String) -> Self {
        Self(code: .http(status: status, code: code, message: message))
    }
    /// Nothing accepted a connection at `url`.
    public static func connectionRefused(url: String, reason: String) -> Self {
        Self(code: .connectionRefused(url: url, reason: reason))
    }
    /// No complete answer from `url` before the deadline.
    public static func timeout(url: String) -> Self { Self(code: .timeout(url: url)) }
    /// The answer from `url` is not what the chain RPC contract says.
    public static func invalidResponse(url: String, reason: String) -> Self {
        Self(code: .invalidResponse(url: url, reason: reason))
    }
    /// The node URL itself is unusable.
    public static func invalidURL(_ url: String) -> Self { Self(code: .invalidURL(url)) }
    /// A caller-side argument (hash, path) is malformed; nothing was sent.
    public static func invalidArgument(_ reason: String) -> Self { Self(code: .invalidArgument(reason)) }

    /// The HTTP status when the node answered with an error, else `nil`.
    public var httpStatus: Int? {
        if case .http(let status, _, _) = code { return status }
        return nil
    }

    /// The node's short error code (`bad_sequence`, `not_found`, …) when it sent one.
    public var serverCode: String? {
        if case .http(_, let code, _) = code { return code }
        return nil
    }

    /// The node's error message when it sent one.
    public var serverMessage: String? {
        if case .http(_, _, let message) = code { return message }
        return nil
    }

    /// A label without associated values (safe for metrics).
    public var shortDescription: String {
        switch code {
        case .http: "http_error"
        case .connectionRefused: "connection_refused"
        case .timeout: "timeout"
        case .invalidResponse: "invalid_response"
        case .invalidURL: "invalid_url"
        case .invalidArgument: "invalid_argument"
        }
    }

    public var description: String {
        switch code {
        case .http(let status, let code, let message): "node answered \(status) \(code): \(message)"
        case .connectionRefused(let url, let reason): "cannot connect to \(url) (\(reason)); is the node running?"
        case .timeout(let url): "no answer from \(url) in time"
        case .invalidResponse(let url, let reason): "unexpected answer from \(url): \(reason)"
        case .invalidURL(let url): "\"\(url)\" is not a node URL (expected http://HOST:PORT)"
        case .invalidArgument(let reason): reason
        }
    }
}
