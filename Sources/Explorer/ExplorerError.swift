import GonkaClient

/// Why a page cannot be shown: a friendly page with a status, never a 500 (issue 18, bad input).
public struct ExplorerError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case badRequest(title: String, message: String)
        case notFound(title: String, message: String)
        case chainUnavailable(message: String)
    }

    private let code: Code

    /// The request itself is malformed (an inference id that is not 64 hex digits, a height that is
    /// not a number, a query string over the limit): 400.
    public static func badRequest(_ title: String, _ message: String) -> Self {
        Self(code: .badRequest(title: title, message: message))
    }

    /// Well-formed, but the chain has no such thing (an unknown participant, a block above the tip): 404.
    public static func notFound(_ title: String, _ message: String) -> Self {
        Self(code: .notFound(title: title, message: message))
    }

    /// The chain node did not answer or answered something unexpected: 502, the page says which.
    public static func chainUnavailable(_ message: String) -> Self { Self(code: .chainUnavailable(message: message)) }

    /// The HTTP status of the page.
    public var status: Int {
        switch code {
        case .badRequest: 400
        case .notFound: 404
        case .chainUnavailable: 502
        }
    }

    /// The page's heading.
    public var title: String {
        switch code {
        case .badRequest(let title, _), .notFound(let title, _): title
        case .chainUnavailable: "The chain node did not answer"
        }
    }

    /// The sentence under the heading.
    public var message: String {
        switch code {
        case .badRequest(_, let message), .notFound(_, let message), .chainUnavailable(let message): message
        }
    }

    /// A label-safe code without associated values.
    public var shortDescription: String {
        switch code {
        case .badRequest: "bad_request"
        case .notFound: "not_found"
        case .chainUnavailable: "chain_unavailable"
        }
    }

    public var description: String { "\(status) \(title): \(message)" }

    /// A chain client's failure as a page: the node's own 404 stays a 404 (with `what` named), its
    /// 400 a 400, anything else (refused, timed out, garbled) a 502.
    static func from(_ error: ChainClientError, what: String) -> Self {
        switch error.httpStatus {
        case 404: .notFound("Not found", "\(what) is not on this chain.")
        case 400: .badRequest("Bad request", error.serverMessage ?? error.description)
        default: .chainUnavailable(error.description)
        }
    }
}
