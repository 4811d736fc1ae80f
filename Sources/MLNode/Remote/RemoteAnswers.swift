import Foundation
import GonkaCore
import Inference

/// The checks every upstream answer passes before the node believes it: a token is an id of this
/// model's vocabulary, logprobs are numbers no greater than 0, the alternatives are as many as asked
/// (the vocabulary permitting) without repeats. A failed check is a 502 naming it: the node never
/// serves or bills a token it cannot vouch for.
enum RemoteAnswers {
    /// Slack for a logprob of a certain token computed in float (log(1) may round above 0).
    static let logprobSlack = 1e-3

    /// `position` as the node reports it: its token and logprob, and the `top` best alternatives,
    /// most likely first.
    static func checked(
        _ position: UpstreamPosition, top: Int, vocabularySize: Int, at index: Int
    ) throws(MLNodeError) -> TokenLogprob {
        func bad(_ what: String) -> MLNodeError { .badGateway("The upstream engine's position \(index): \(what).") }
        guard (0..<vocabularySize).contains(position.token) else {
            throw bad("token \(position.token) is outside the vocabulary (0..<\(vocabularySize))")
        }
        guard !position.logprob.isNaN, position.logprob <= logprobSlack else {
            throw bad("logprob \(position.logprob) is not a log-probability")
        }
        let wanted = min(top, vocabularySize)
        guard position.top.count >= wanted else {
            throw bad("\(position.top.count) alternatives where \(wanted) were asked for")
        }
        guard Set(position.top.map(\.token)).count == position.top.count else { throw bad("repeated alternatives") }
        for alternative in position.top {
            guard (0..<vocabularySize).contains(alternative.token) else {
                throw bad("alternative \(alternative.token) is outside the vocabulary")
            }
            guard !alternative.logprob.isNaN, alternative.logprob <= logprobSlack else {
                throw bad("alternative logprob \(alternative.logprob) is not a log-probability")
            }
        }
        let best = position.top.sorted { $0.logprob != $1.logprob ? $0.logprob > $1.logprob : $0.token < $1.token }
            .prefix(wanted)
        return TokenLogprob(
            token: position.token, logprob: Float(min(0, position.logprob)),
            top: best.map { (token: $0.token, logprob: Float(min(0, $0.logprob))) })
    }

    /// A payload that is an error report (`{"error": …}`) becomes a 502 with it.
    static func checkNotError(_ payload: [UInt8]) throws(MLNodeError) {
        guard let value = try? JSONValue(parsing: payload), let error = value["error"], !error.isNull else { return }
        throw .badGateway("The upstream engine reported an error: \(Upstream.excerpt(payload))")
    }
}
