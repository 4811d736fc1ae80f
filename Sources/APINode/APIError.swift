import Foundation
import GonkaCore

/// A refused or failed API request: the HTTP status and the OpenAI-style body
/// `{"error":{"message","type","param","code"}}` (PROTOCOL §11). `shortDescription` is the code,
/// safe as a metric label.
public struct APIError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: String, Hashable, Sendable {
        case invalidRequest = "invalid_request"
        case unauthorized = "invalid_signature"
        case staleRequest = "stale_request"
        case unknownRequester = "unknown_requester"
        case insufficientBalance = "insufficient_balance"
        case forbidden = "forbidden"
        case notTheDraw = "not_the_draw"
        case transferAgentNotInPool = "transfer_agent_not_in_pool"
        case notAddressed = "not_addressed_to_this_node"
        case modelNotFound = "model_not_found"
        case notFound = "not_found"
        case replay = "replayed_request"
        case bodyTooLarge = "body_too_large"
        case overloaded = "overloaded"
        case noExecutor = "no_executor"
        case notParticipant = "not_participant"
        case upstream = "upstream_failed"
        case upstreamTimeout = "upstream_timeout"
        case chainUnavailable = "chain_unavailable"
        case noTokenizer = "no_tokenizer"
        case noMLNode = "no_ml_node"
        case spendingLimit = "spending_limit_reached"
        case internalError = "internal_error"
    }

    private let code: Code
    public let message: String
    public let param: String?

    private init(_ code: Code, _ message: String, param: String? = nil) {
        self.code = code
        self.message = message
        self.param = param
    }

    public static func invalidRequest(_ message: String, param: String? = nil) -> Self {
        Self(.invalidRequest, message, param: param)
    }
    public static func unauthorized(_ message: String) -> Self { Self(.unauthorized, message) }
    public static func stale(_ message: String) -> Self { Self(.staleRequest, message) }
    public static func unknownRequester(_ address: String) -> Self {
        Self(
            .unknownRequester,
            "The account \(address) has no public key on chain; send X-Gonka-Public-Key with the request.")
    }
    public static func insufficientBalance(need: UInt64, have: UInt64) -> Self {
        Self(.insufficientBalance, "The escrow needs \(need) ngonka; the account holds \(have) ngonka.")
    }
    public static func forbidden(_ message: String) -> Self { Self(.forbidden, message) }
    public static func notTheDraw(_ message: String) -> Self { Self(.notTheDraw, message) }
    /// An executor's answer to a Transfer Agent outside the executor pool in its view (§6.4): the
    /// chain would refuse the TA's Start. The TA reads the pool again and, out of it, refuses the
    /// request as `not_participant`, so the client (or proxy) sends it to another node.
    public static func transferAgentNotInPool(_ message: String) -> Self { Self(.transferAgentNotInPool, message) }
    public static func notAddressed(_ message: String) -> Self { Self(.notAddressed, message) }
    public static func modelNotFound(_ model: String) -> Self {
        Self(.modelNotFound, "The model '\(model)' is not served by this network.", param: "model")
    }
    public static func notFound(_ what: String) -> Self { Self(.notFound, "\(what) was not found.") }
    public static func replay(_ id: String) -> Self {
        Self(.replay, "The request \(id) was seen before (replay).")
    }
    public static func bodyTooLarge(limit: Int) -> Self {
        Self(.bodyTooLarge, "The request body is larger than \(limit) bytes.")
    }
    public static func overloaded(_ message: String) -> Self { Self(.overloaded, message) }
    /// An executor drawn for a model it has no enabled ML node for now (all removed, disabled or
    /// never added): not a capacity problem, so not a 429.
    public static func noMLNode(_ model: String) -> Self {
        Self(.noMLNode, "No ML node of this executor serves '\(model)' now.")
    }
    public static func noExecutor(_ message: String) -> Self { Self(.noExecutor, message) }
    /// This node is not an active participant of the current epoch (its PoC was not accepted, or
    /// it was jailed or found INVALID): the chain refuses a Start it sends (§6.2, §6.4), so it
    /// refuses the request before anything is started, and the client can send it elsewhere.
    public static func notParticipant(_ address: Address, epoch: UInt64?) -> Self {
        Self(
            .notParticipant,
            "This node (\(address)) is not an active participant\(epoch.map { " of epoch \($0)" } ?? "") and cannot "
                + "act as Transfer Agent until it is again; nothing was started or charged. Send the request to "
                + "another API node.")
    }
    public static func upstream(_ message: String) -> Self { Self(.upstream, message) }
    public static func upstreamTimeout(_ message: String) -> Self { Self(.upstreamTimeout, message) }
    public static func chainUnavailable(_ message: String) -> Self { Self(.chainUnavailable, message) }
    /// The Transfer Agent cannot count the prompt with `model`'s tokenizer (no ML node of its own
    /// for the model answers `/v1/tokenize`): it refuses rather than bill an estimate.
    public static func noTokenizer(_ model: String, reason: String) -> Self {
        Self(
            .noTokenizer,
            "This node cannot count the prompt's tokens for '\(model)' (\(reason)); requests are billed by the "
                + "model's own tokenizer, never estimated. Retry, or send the request to another node.",
            param: "model")
    }
    public static func spendingLimit(_ message: String) -> Self { Self(.spendingLimit, message) }
    public static func internalError(_ message: String) -> Self { Self(.internalError, message) }

    /// The HTTP status (§6.2's list: 401 signatures, 402 balance, 403 routing, 404 model, 409 replay,
    /// 413 size, 429 capacity, 502/504 when every attempt failed).
    public var status: Int {
        switch code {
        case .invalidRequest: 400
        case .unauthorized, .staleRequest, .unknownRequester: 401
        case .insufficientBalance, .spendingLimit: 402
        case .forbidden, .notTheDraw, .transferAgentNotInPool, .notAddressed: 403
        case .modelNotFound, .notFound: 404
        case .replay: 409
        case .bodyTooLarge: 413
        case .overloaded: 429
        case .upstream, .noExecutor: 502
        case .chainUnavailable, .noTokenizer, .noMLNode, .notParticipant: 503
        case .upstreamTimeout: 504
        case .internalError: 500
        }
    }

    /// OpenAI's error `type`.
    public var type: String {
        switch status {
        case 401: "authentication_error"
        case 402: "insufficient_quota"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 409: "conflict_error"
        case 429: "rate_limit_error"
        case 400, 413: "invalid_request_error"
        default: "server_error"
        }
    }

    public var shortDescription: String { code.rawValue }

    /// The codes of refusals a Transfer Agent makes before it reserves or starts anything, so the
    /// same request signed for another node cannot become a second inference: its chain is behind
    /// (`stale_request`), it is out of the epoch's pool (`not_participant`), it cannot count the
    /// prompt (`no_tokenizer`). `gonka proxy` sends these elsewhere.
    public static let refusedBeforeStartCodes: Set<String> = [
        Code.staleRequest.rawValue, Code.notParticipant.rawValue, Code.noTokenizer.rawValue,
    ]
    public var description: String { "\(status) \(shortDescription): \(message)" }

    /// The OpenAI-style JSON body.
    public var body: [UInt8] {
        let inner: JSONValue = [
            "message": .string(message), "type": .string(type), "code": .string(code.rawValue),
            "param": param.map { .string($0) } ?? .null,
        ]
        return JSONValue.object([("error", inner)]).bytes(sortedKeys: true)
    }

    /// Reads an OpenAI-style error body (from an executor or an ML node) once: its `error.code` and
    /// `error.message` (at most `limit` characters), each nil where the body lacks it.
    static func decode(_ body: some Collection<UInt8>, limit: Int = 300) -> (code: String?, message: String?) {
        let error = (try? JSONValue(parsing: body))?["error"]
        let message = error?["message"]?.stringValue.flatMap { text in
            text.isEmpty ? nil : text.count > limit ? String(text.prefix(limit)) + "…" : text
        }
        return (error?["code"]?.stringValue, message)
    }
}
