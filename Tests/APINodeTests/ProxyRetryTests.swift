import AsyncHTTPClient
import Dispatch
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaTestTraits
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Telemetry
import Testing

@testable import APINode

#if canImport(Glibc)
    import Glibc
#endif

/// The signing proxy sends a request to another API node only when it provably never reached
/// the first (no connection): a node that took the request and then failed may still have it
/// executed and charged on chain, and a re-signed copy would be a second inference, paid twice.
@Suite(.serialized, .hangGuard) struct ProxyRetryTests {
    @Test(.timeLimit(.minutes(2))) func aNodeThatFailsAfterTheRequestIsNotRetried() async throws {
        // The order of the nodes is random: a fresh proxy until the failing node is tried first.
        for _ in 0..<40 {
            let failing = try FakeAPINode(onPost: .drop)
            let healthy = try FakeAPINode(onPost: .answer)
            defer {
                failing.stop()
                healthy.stop()
            }
            let proxy = SigningProxy(
                key: SigningKey(), nodes: [failing.url, healthy.url], logger: TestNet.logger("proxy"))
            let response = await proxy.forward(body: chatBody("hi"), path: "/v1/chat/completions")
            guard failing.posts.count == 1 else {
                #expect(response.status.code == 200 && healthy.posts.count == 1)
                continue
            }
            #expect(response.status.code == 502)
            #expect(healthy.posts.isEmpty, "re-sent to another node: \(healthy.posts)")
            let id = try #require(response.headers[HTTPField.Name(GonkaHeader.inferenceID)!])
            #expect(id == failing.posts[0], "the id the client gets is the one the failed node was sent")
            return
        }
        Issue.record("the failing node was never tried first in 40 draws")
    }

    @Test(.timeLimit(.minutes(2))) func aNodeThatRefusesTheConnectionIsRetried() async throws {
        for _ in 0..<40 {
            // Answers /v1/node once, then closes its port: the POST is refused.
            let gone = try FakeAPINode(onPost: .answer, connections: 1)
            let healthy = try FakeAPINode(onPost: .answer)
            defer {
                gone.stop()
                healthy.stop()
            }
            let proxy = SigningProxy(
                key: SigningKey(), nodes: [gone.url, healthy.url], logger: TestNet.logger("proxy"))
            let response = await proxy.forward(body: chatBody("hi"), path: "/v1/chat/completions")
            #expect(response.status.code == 200)
            #expect(healthy.posts.count == 1)
            if gone.gets == 1 { return }
        }
        Issue.record("the refusing node was never tried first in 40 draws")
    }

    /// An API node that answers a head and a first event, then goes silent with the connection
    /// open (a partition without a reset): the proxy ends the client's stream after its idle
    /// timeout instead of holding it for the hour of its request timeout.
    @Test(.timeLimit(.minutes(2))) func aSilentNodeIsGivenUpAfterTheIdleTimeout() async throws {
        let silent = try FakeAPINode(onPost: .stall)
        defer { silent.stop() }
        let proxy = SigningProxy(
            key: SigningKey(), nodes: [silent.url], upstreamIdleTimeout: .seconds(1), logger: TestNet.logger("proxy"))
        try await GatewayTests().withProxy(proxy) { base in
            let started = ContinuousClock.now
            let answer = try await post(
                base + "/v1/chat/completions", body: chatBody("hi", stream: true), headers: [])
            let elapsed = ContinuousClock.now - started
            #expect(answer.status == 200)
            #expect(answer.text.hasPrefix("data: {\"first\":true}"), "\(answer.text.prefix(200))")
            #expect(answer.text.contains("upstream_failed"), "\(answer.text.prefix(300))")
            #expect(elapsed < FakeAPINode.stallFor / 2, "the stream ended after \(elapsed)")
        }
    }

    /// A TA that refuses before it starts anything (its chain is behind, so the request looks
    /// stale; it is out of the epoch's pool; it cannot count the prompt): the proxy signs the
    /// request for another node (the soak's 401s and unrecorded answers, docs/SOAK.md).
    @Test(
        .timeLimit(.minutes(2)),
        arguments: [
            APIError.stale("behind"), .notParticipant(SigningKey().publicKey.address, epoch: 3),
            .noTokenizer("m", reason: "no ML node"),
        ])
    func aTransferAgentThatRefusesBeforeStartingIsSkipped(refusal: APIError) async throws {
        for _ in 0..<40 {
            let behind = try FakeAPINode(onPost: .refuse(refusal))
            let healthy = try FakeAPINode(onPost: .answer)
            defer {
                behind.stop()
                healthy.stop()
            }
            let proxy = SigningProxy(
                key: SigningKey(), nodes: [behind.url, healthy.url], logger: TestNet.logger("proxy"))
            let response = await proxy.forward(body: chatBody("hi"), path: "/v1/chat/completions")
            #expect(response.status.code == 200)
            #expect(healthy.posts.count == 1)
            if behind.posts.count == 1 {
                let sample = "gonka_proxy_refusals_total{code=\"\(refusal.shortDescription)\"}"
                #expect(proxy.metrics.value(sample) == 1)
                return
            }
        }
        Issue.record("the refusing node was never tried first in 40 draws")
    }

    @Test func otherRefusalsReachTheClient() {
        #expect(SigningProxy.refusedBeforeStart(ByteBuffer(bytes: APIError.stale("old").body)) == "stale_request")
        // Refusals the client must see (or that may come after an executor had the request).
        for other in [
            APIError.unauthorized("bad"), .insufficientBalance(need: 2, have: 1), .chainUnavailable("down"),
            .upstream("gone"), .noMLNode("m"),
        ] {
            #expect(SigningProxy.refusedBeforeStart(ByteBuffer(bytes: other.body)) == nil, "\(other)")
        }
        #expect(SigningProxy.refusedBeforeStart(ByteBuffer(string: "not json")) == nil)
    }

    /// A 401 or 503 the proxy does not retry reaches the client as it was.
    @Test(.timeLimit(.minutes(2))) func aRefusalThatIsNotRetriedReachesTheClient() async throws {
        let node = try FakeAPINode(onPost: .refuse(.chainUnavailable("down")))
        defer { node.stop() }
        let proxy = SigningProxy(key: SigningKey(), nodes: [node.url], logger: TestNet.logger("proxy"))
        let response = await proxy.forward(body: chatBody("hi"), path: "/v1/chat/completions")
        #expect(response.status.code == 503)
        #expect(node.posts.count == 1)
    }

    @Test func onlyConnectionFailuresCountAsNeverReached() {
        #expect(SigningProxy.neverReached(HTTPClientError.getConnectionFromPoolTimeout))
        #expect(SigningProxy.neverReached(IOError(errnoCode: ECONNREFUSED, reason: "connect")))
        #expect(!SigningProxy.neverReached(IOError(errnoCode: ECONNRESET, reason: "read")))
        #expect(!SigningProxy.neverReached(SomeOtherError()))
    }

    struct SomeOtherError: Error {}
}

/// A fake API node on a raw loopback socket: `GET /v1/node` answers an address and chain id;
/// a POST is answered with a chat completion (`.answer`) or read whole and the connection closed
/// without a word (`.drop`: a node that died after receiving it), or refused with an API error
/// (`.refuse`: e.g. a TA whose chain is behind). `connections`: it closes its
/// port after that many, so later connections are refused.
final class FakeAPINode: Sendable {
    enum OnPost: Sendable { case answer, drop, stall, refuse(APIError) }

    /// How long a `.stall` node keeps its connection open without a word.
    static let stallFor = Duration.seconds(20)

    let url: String
    private let socket: LoopbackSocket
    private let state = Mutex<(gets: Int, posts: [String], closed: Bool)>((0, [], false))

    /// The inference ids of the POSTs received (hex(SHA-256(signature)) of their Authorization).
    var posts: [String] { state.withLock { $0.posts } }
    var gets: Int { state.withLock { $0.gets } }

    init(onPost: OnPost, connections: Int = .max) throws {
        socket = try LoopbackSocket(listening: 16)
        url = "http://127.0.0.1:\(socket.port)"
        let fd = socket.fd
        let address = SigningKey().publicKey.address.description
        DispatchQueue.global().async { [self] in
            var served = 0
            while served < connections {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                served += 1
                // The last one: the port closes before it is answered, so the next is refused.
                if served == connections { closeListener() }
                let request = Self.read(client)
                if request.head.hasPrefix("GET /v1/node") {
                    state.withLock { $0.gets += 1 }
                    Self.write(client, status: "200 OK", body: #"{"address":"\#(address)","chain_id":"gonka-test"}"#)
                } else if request.head.hasPrefix("POST") {
                    state.withLock { $0.posts.append(Self.inferenceID(request.head) ?? "?") }
                    switch onPost {
                    case .answer:
                        Self.write(
                            client, status: "200 OK",
                            body: #"{"id":"x","object":"chat.completion","choices":[],"usage":{}}"#)
                    case .drop:
                        break
                    case .stall:
                        // A head and one event of a stream, then silence with the connection open.
                        let text =
                            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                            + "data: {\"first\":true}\n\n"
                        _ = Array(text.utf8).withUnsafeBytes {
                            send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                        }
                        usleep(UInt32(Self.stallFor.components.seconds * 1_000_000))
                    case .refuse(let error):
                        Self.write(
                            client, status: "\(error.status) Refused", body: String(decoding: error.body, as: UTF8.self)
                        )
                    }
                } else {
                    Self.write(client, status: "404 Not Found", body: "{}")
                }
                close(client)
            }
        }
    }

    /// Closes the listening port (once; `accept` then fails and the loop ends).
    func stop() { closeListener() }

    private func closeListener() {
        state.withLock { s in
            guard !s.closed else { return }
            s.closed = true
            shutdown(socket.fd, Int32(SHUT_RDWR))
            close(socket.fd)
        }
    }

    private static func inferenceID(_ head: String) -> String? {
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("authorization: gonka ") {
            guard let signature = Data(base64Encoded: String(line.dropFirst("authorization: gonka ".count))) else {
                return nil
            }
            return InferenceRequestSigning.inferenceID(developerSignature: Array(signature))
        }
        return nil
    }

    /// The head and the body (by `Content-Length`).
    private static func read(_ fd: Int32) -> (head: String, body: [UInt8]) {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
                let length =
                    head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if bytes.count - end.upperBound >= length { return (head, Array(bytes[end.upperBound...])) }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return (String(decoding: bytes, as: UTF8.self), []) }
            bytes += buffer[..<n]
        }
    }

    private static func write(_ fd: Int32, status: String, body: String) {
        let text =
            "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n\(body)"
        _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
