import Inference

/// A request the ML node refuses, with the HTTP status and the OpenAI-style error body it maps to
/// (`{"error":{"message","type","param","code"}}`).
public struct MLNodeError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case invalidRequest
        case modelNotFound
        case contextLengthExceeded
        case overloaded
        case bodyTooLarge
        case notFound
        case internalError
        case conflict
        case unavailable
        case badGateway
        case gatewayTimeout
    }

    private let code: Code
    /// A sentence for the client.
    public let message: String
    /// The request field at fault, if one is.
    public let param: String?

    /// Malformed or out-of-range input (400).
    public static func invalidRequest(_ message: String, param: String? = nil) -> Self {
        Self(code: .invalidRequest, message: message, param: param)
    }
    /// A `model` this node does not serve (404, OpenAI's `model_not_found`).
    public static func modelNotFound(_ model: String, serving: String) -> Self {
        Self(
            code: .modelNotFound, message: "The model '\(model)' does not exist; this node serves '\(serving)'.",
            param: "model")
    }
    /// Prompt plus completion longer than the context (400).
    public static func contextLengthExceeded(need: Int, limit: Int, param: String = "max_tokens") -> Self {
        Self(
            code: .contextLengthExceeded,
            message: "This model's maximum context length is \(limit) tokens; the request needs \(need).",
            param: param)
    }
    /// Every slot busy and the queue full (429).
    public static func overloaded(slots: Int, queue: Int) -> Self {
        Self(
            code: .overloaded,
            message: "The node is at capacity (\(slots) running, \(queue) queued); retry later.", param: nil)
    }
    /// A body over the size limit (413).
    public static func bodyTooLarge(limit: Int) -> Self {
        Self(code: .bodyTooLarge, message: "The request body exceeds \(limit) bytes.", param: nil)
    }
    /// No such route (404).
    public static func notFound(_ path: String) -> Self {
        Self(code: .notFound, message: "No route for \(path).", param: nil)
    }
    /// The request conflicts with work in progress, e.g. a second PoC sprint (409).
    public static func conflict(_ message: String) -> Self {
        Self(code: .conflict, message: message, param: nil)
    }
    /// The node cannot serve this now, e.g. inference while it mines a PoC sprint (503).
    public static func unavailable(_ message: String) -> Self {
        Self(code: .unavailable, message: message, param: nil)
    }
    /// The upstream engine behind a remote backend failed or answered something unusable: down,
    /// malformed JSON, the wrong model, token counts or logprobs that do not add up (502).
    public static func badGateway(_ message: String) -> Self {
        Self(code: .badGateway, message: message, param: nil)
    }
    /// The upstream engine did not answer in time (504).
    public static func gatewayTimeout(_ message: String) -> Self {
        Self(code: .gatewayTimeout, message: message, param: nil)
    }
    /// A failure that is not the client's fault (500).
    public static func internalError(_ message: String) -> Self {
        Self(code: .internalError, message: message, param: nil)
    }

    /// The error for an ``InferenceError`` the engine raised on this request's input.
    public static func from(_ error: InferenceError, param: String? = nil) -> Self {
        Self(code: .invalidRequest, message: error.description, param: param)
    }

    /// The HTTP status code.
    public var status: Int {
        switch code {
        case .invalidRequest, .contextLengthExceeded: 400
        case .modelNotFound, .notFound: 404
        case .bodyTooLarge: 413
        case .overloaded: 429
        case .internalError: 500
        case .conflict: 409
        case .unavailable: 503
        case .badGateway: 502
        case .gatewayTimeout: 504
        }
    }

    /// OpenAI's `error.type`.
    public var type: String {
        switch code {
        case .invalidRequest, .contextLengthExceeded, .modelNotFound, .bodyTooLarge, .notFound:
            "invalid_request_error"
        case .overloaded: "rate_limit_error"
        case .internalError, .unavailable, .badGateway, .gatewayTimeout: "server_error"
        case .conflict: "invalid_request_error"
        }
    }

    /// A label without values (safe as a metric label); also the body's `error.code`.
    public var shortDescription: String {
        switch code {
        case .invalidRequest: "invalid_request"
        case .modelNotFound: "model_not_found"
        case .contextLengthExceeded: "context_length_exceeded"
        case .overloaded: "server_overloaded"
        case .bodyTooLarge: "request_too_large"
        case .notFound: "not_found"
        case .internalError: "internal_error"
        case .conflict: "conflict"
        case .unavailable: "service_unavailable"
        case .badGateway: "upstream_error"
        case .gatewayTimeout: "upstream_timeout"
        }
    }

    public var description: String { "\(shortDescription): \(message)" }
}
