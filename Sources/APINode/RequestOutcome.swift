/// How one request ended on one node: exactly one per request and role, counted in
/// `gonka_api_request_outcome_total{role,outcome,reason}` and written on the request's root span.
enum RequestOutcome: Sendable, Equatable {
    /// The answer went out whole.
    case completed
    /// The request was refused (a 4xx or 429 for the client), with its error code.
    case refused(String)
    /// The path failed: a 5xx, an answer cut off mid-way, or a client that went away.
    case failed(String)

    /// A refusal or a failure by the error's status.
    init(_ error: APIError) {
        self = error.status < 500 ? .refused(error.shortDescription) : .failed(error.shortDescription)
    }

    /// An executor's non-200 answer relayed as it is.
    init(relayedStatus status: Int) {
        self = status < 500 ? .refused("http_\(status)") : .failed("http_\(status)")
    }

    var outcome: String {
        switch self {
        case .completed: "completed"
        case .refused: "refused"
        case .failed: "failed"
        }
    }

    /// A bounded label: an error code, one of a few fixed words, or `ok`.
    var reason: String {
        switch self {
        case .completed: "ok"
        case .refused(let reason), .failed(let reason): reason
        }
    }
}
