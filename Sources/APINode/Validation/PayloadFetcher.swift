import AsyncHTTPClient
import Foundation
import GonkaCore
import NIOCore
import NIOHTTP1

/// Fetches an inference's payload from its executor's API node (`GET /v1/inferences/{id}/payload`,
/// PROTOCOL §6.3) with a signed validator request, retrying a few times. What comes back is
/// checked later against the commitment; here only transport matters: a payload refused, missing
/// or oversized after every try is `unavailable` (the inference then fails `unavailable`); one whose
/// executor could not be reached at all (no connection, a timeout, a gateway error, every try) is
/// `unreachable`, which the worker checks again later (``ValidationWorker``'s deferral) before
/// calling it unavailable: an honest executor restarting must not be convicted for it.
struct PayloadFetcher: Sendable {
    let http: HTTPClient
    let key: SigningKey
    let chainID: String
    /// Tries per payload and the wait before the second (doubling after).
    var attempts = 3
    var firstBackoff: Duration = .seconds(1)
    /// Largest payload accepted (a 16k-token output with 20 alternatives is ~2.8 MB).
    var maxBytes = 16 << 20
    var timeout: TimeAmount = .seconds(10)

    /// The outcome of one fetch: the bytes, or why there are none.
    enum Outcome: Sendable, Equatable {
        case bytes([UInt8])
        /// The executor answered and did not give the payload (refused, missing, oversized).
        case unavailable(String)
        /// The executor's API node did not answer (no connection, timeout, 502/503/504) on any try.
        case unreachable(String)
    }

    func fetch(inferenceID: String, executor: Address, baseURL: String, now: @Sendable () -> Int64) async -> Outcome {
        var lastReason = "no attempt"
        var answered = false
        var backoff = firstBackoff
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 {
                try? await Task.sleep(for: backoff)
                backoff *= 2
            }
            if Task.isCancelled { return .unavailable("cancelled") }
            switch await fetchOnce(inferenceID: inferenceID, executor: executor, baseURL: baseURL, timestamp: now()) {
            case .bytes(let bytes): return .bytes(bytes)
            case .unavailable(let reason):
                answered = true
                lastReason = reason
            case .unreachable(let reason): lastReason = reason
            }
        }
        return answered ? .unavailable(lastReason) : .unreachable(lastReason)
    }

    private func fetchOnce(inferenceID: String, executor: Address, baseURL: String, timestamp: Int64) async -> Outcome {
        var request = HTTPClientRequest(url: baseURL + "/v1/inferences/\(inferenceID)/payload")
        for (name, value) in PayloadRequestSigning.headers(
            inferenceID: inferenceID, key: key, executor: executor, chainID: chainID, timestamp: timestamp)
        {
            request.headers.add(name: name, value: value)
        }
        do {
            let response = try await http.execute(request, timeout: timeout)
            guard response.status == .ok else {
                let body = try? await response.body.collect(upTo: 4096)
                let reason =
                    "HTTP \(response.status.code): \(body.map { String(buffer: $0) }.map { String($0.prefix(200)) } ?? "")"
                // A gateway or an overloaded node in front of the executor: not the executor's answer.
                return [502, 503, 504].contains(response.status.code) ? .unreachable(reason) : .unavailable(reason)
            }
            let body = try await response.body.collect(upTo: maxBytes)
            return .bytes(Array(buffer: body))
        } catch let error as NIOTooManyBytesError {
            return .unavailable("the payload is larger than \(maxBytes) bytes (\(error))")
        } catch {
            // No connection, a reset or a timeout: the executor did not answer.
            return .unreachable("\(error)")
        }
    }
}
