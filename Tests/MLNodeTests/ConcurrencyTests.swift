import Foundation
import GonkaTestKit
import MLNode
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Slots, the wait queue, 429, and a client that disconnects mid-stream.
@Suite(.serialized, .timeLimit(.minutes(3)), .hangGuard)
struct ConcurrencyTests {
    /// A long streamed request on a raw socket that reads its first event and returns the socket.
    static func openStream(port: Int, maxTokens: Int) throws -> RawSocket {
        let body = """
            {"prompt":"Once upon a time","max_tokens":\(maxTokens),"temperature":1,"seed":5,"stream":true,"stop":["zzzzqqq"]}
            """
        let socket = try RawSocket(port: port)
        try socket.send(
            "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        var received = ""
        while !received.contains("data: {") {
            let chunk = try socket.receive()
            if chunk.isEmpty { throw RawSocket.Failure(description: "closed before the first event: \(received)") }
            received += chunk
        }
        #expect(received.hasPrefix("HTTP/1.1 200"))
        return socket
    }

    /// Closing the socket mid-stream frees the only slot at once: the next request runs promptly.
    @Test func disconnectFreesSlot() async throws {
        try await TestServer.with(parallel: 1, queue: 2) { server in
            let socket = try Self.openStream(port: server.port, maxTokens: 400)
            socket.close()
            let start = ContinuousClock.now
            let next = try await server.post(
                "/v1/completions", json: ["prompt": "Hi", "max_tokens": 2, "temperature": 0])
            let waited = ContinuousClock.now - start
            #expect(next.status == 200, "\(next.text)")
            // 400 tokens take many seconds; a freed slot answers in well under that.
            #expect(waited < .seconds(5), "second request waited \(waited)")
            // The stream's place in the node goes when its response is dropped.
            let deadline = ContinuousClock.now + .seconds(5)
            while server.backend.admittedRequests > 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(server.backend.admittedRequests == 0)
        }
    }

    /// With one slot and one queue place, a third concurrent request gets 429 with an OpenAI error body;
    /// the queued one is served once the slot is free.
    @Test func overCapacityIs429() async throws {
        try await TestServer.with(parallel: 1, queue: 1) { server in
            let running = try Self.openStream(port: server.port, maxTokens: 300)
            defer { running.close() }
            let queued = Task {
                try await server.post("/v1/completions", json: ["prompt": "Hi", "max_tokens": 2, "temperature": 0])
            }
            // Wait until the queued request is admitted.
            let deadline = ContinuousClock.now + .seconds(10)
            while server.backend.admittedRequests < 2 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let refused = try await server.post(
                "/v1/chat/completions", json: ["messages": [["role": "user", "content": "x"]]])
            #expect(refused.status == 429)
            #expect(refused.error["type"] as? String == "rate_limit_error")
            #expect(refused.error["code"] as? String == "server_overloaded")
            let refusedScore = try await server.post(
                "/v1/score", json: ["prompt_tokens": [1], "completion_tokens": [2]])
            #expect(refusedScore.status == 429)
            // Cheap routes need no slot.
            #expect(try await server.post("/v1/tokenize", json: ["prompt": "x"]).status == 200)
            running.close()
            let served = try await queued.value
            #expect(served.status == 200, "\(served.text)")
        }
    }

    /// Two slots serve two requests at once, each with its own cache: concurrent answers equal serial ones.
    @Test func parallelSlotsAgree() async throws {
        try await TestServer.with(parallel: 2, queue: 2) { server in
            let a: [String: any Sendable] = ["prompt": "The sky is", "max_tokens": 10, "temperature": 0]
            let b: [String: any Sendable] = ["prompt": "My favourite food is", "max_tokens": 10, "temperature": 0]
            let serialA = try await server.post("/v1/completions", json: a).text
            let serialB = try await server.post("/v1/completions", json: b).text
            async let concurrentA = server.post("/v1/completions", json: a)
            async let concurrentB = server.post("/v1/completions", json: b)
            let (ra, rb) = try await (concurrentA, concurrentB)
            func text(_ body: String) -> String? {
                let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                return ((object?["choices"] as? [[String: Any]])?.first?["text"]) as? String
            }
            #expect(text(ra.text) != nil && text(ra.text) == text(serialA))
            #expect(text(rb.text) != nil && text(rb.text) == text(serialB))
        }
    }
}

/// A blocking TCP client socket on loopback (the test closes it mid-response on purpose).
final class RawSocket: @unchecked Sendable {
    // `@unchecked Sendable`: used from one test at a time; `close` is idempotent under the lock.
    struct Failure: Error, CustomStringConvertible { let description: String }
    private var fd: Int32
    private let lock = NSLock()

    init(port: Int) throws {
        fd = try LoopbackSocket.connect(to: port)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send() failed") }
            sent += n
        }
    }

    /// The next bytes as text ("" at end of stream).
    func receive() throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { throw Failure(description: "recv() failed") }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    deinit { close() }
}
