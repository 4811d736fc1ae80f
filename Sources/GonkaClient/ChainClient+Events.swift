import AsyncHTTPClient
import ChainRPCTypes
import Foundation
import NIOCore
import NIOHTTP1

extension ChainClient {
    /// The node's event stream (`GET /events`): new blocks, committed txs and ledger events, in
    /// order, until the node closes it or the task is cancelled. The request starts on the first
    /// `next()`.
    public func events() -> ChainEventStream { ChainEventStream(client: self) }
}

/// `GET /events` as an `AsyncSequence` of `ChainEvent`.
public struct ChainEventStream: AsyncSequence, Sendable {
    public typealias Element = ChainEvent
    let client: ChainClient

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(client: client) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: ChainClient
        var body: HTTPClientResponse.Body.AsyncIterator?
        var parser = SSEParser()
        var pending: [SSEParser.Event] = []
        var finished = false

        init(client: ChainClient) { self.client = client }

        public mutating func next() async throws(ChainClientError) -> ChainEvent? {
            let url = client.baseURL + "/events"
            while true {
                if !pending.isEmpty {
                    let event = pending.removeFirst()
                    do {
                        return try ChainEvent(name: event.name, data: event.data)
                    } catch {
                        throw .invalidResponse(url: url, reason: "event \(event.name): \(error)")
                    }
                }
                if finished { return nil }
                if body == nil { body = try await open(url) }
                let chunk: ByteBuffer?
                do {
                    chunk = try await body?.next()
                } catch {
                    throw client.classify(error, url: url)
                }
                guard let chunk else {
                    finished = true
                    pending += parser.finish()
                    continue
                }
                pending += parser.feed(chunk.readableBytesView)
            }
        }

        private func open(_ url: String) async throws(ChainClientError) -> HTTPClientResponse.Body.AsyncIterator {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "text/event-stream")
            let response: HTTPClientResponse
            do {
                // A stream has no natural end; only connecting is bounded.
                response = try await client.http.execute(request, deadline: .distantFuture)
            } catch {
                throw client.classify(error, url: url)
            }
            guard response.status.code == 200 else {
                let body = (try? await response.body.collect(upTo: 1 << 16)).map { Array($0.readableBytesView) } ?? []
                throw ChainClient.serverError(status: Int(response.status.code), body: .init(body))
            }
            return response.body.makeAsyncIterator()
        }
    }
}

/// A server-sent-events decoder (the WHATWG event-stream format): bytes in, complete events out.
/// Pure, so it is tested on literal streams split at every byte.
public struct SSEParser: Sendable {
    public struct Event: Hashable, Sendable {
        public var name: String
        public var data: String
        public init(name: String, data: String) {
            self.name = name
            self.data = data
        }
    }

    private var line: [UInt8] = []
    private var name = ""
    private var data: [String] = []
    private var lastWasCR = false

    public init() {}

    /// Feeds the next bytes; returns every event they complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        var out: [Event] = []
        for byte in bytes {
            // Lines end in LF, CR or CRLF; a LF right after a CR ends nothing new.
            if byte == 0x0A, lastWasCR {
                lastWasCR = false
                continue
            }
            lastWasCR = byte == 0x0D
            if byte == 0x0A || byte == 0x0D {
                if let event = endLine() { out.append(event) }
            } else {
                line.append(byte)
            }
        }
        return out
    }

    /// The stream ended: a last event without its blank line is dropped, as the format says.
    public mutating func finish() -> [Event] {
        line = []
        name = ""
        data = []
        return []
    }

    private mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            defer {
                name = ""
                data = []
            }
            guard !data.isEmpty else { return nil }
            return Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n"))
        }
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.hasPrefix(" ") { value = value.dropFirst() }
        } else {
            field = Substring(text)
            value = ""
        }
        switch field {
        case "event": name = String(value)
        case "data": data.append(String(value))
        default: break
        }
        return nil
    }
}
