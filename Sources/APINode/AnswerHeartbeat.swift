import AsyncHTTPClient
import NIOCore

/// Keeps an executor's open answer audibly alive (PROTOCOL §6.3): while it has nothing to write
/// (a long prompt's prefill, a non-streamed answer before its end) it writes a keepalive every
/// heartbeat, so the Transfer Agent's idle timeout (`executorIdleTimeout`) fires only for an
/// executor that is gone — dead, or behind a partition that never sends a reset — and the
/// client's request ends with an error instead of hanging.
enum AnswerHeartbeat {
    /// What the executor's relay loop reads: the ML node's bytes, or a tick of the heartbeat.
    enum Piece: Sendable {
        case bytes(ByteBuffer)
        case tick
    }

    /// The keepalive: an SSE comment in a stream (clients skip comment lines), a space before the
    /// JSON of a whole answer (JSON allows whitespace before a value; the TA trims it).
    static func keepalive(streaming: Bool) -> ByteBuffer {
        ByteBuffer(string: streaming ? ": keepalive\n\n" : " ")
    }

    /// `body`'s buffers, with a tick every half `interval` between them. The reader and the ticker
    /// are cancelled when the consumer stops (its loop ends or throws).
    static func merge(
        _ body: HTTPClientResponse.Body, every interval: Duration
    ) -> AsyncThrowingStream<Piece, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Piece.self)
        let reader = Task {
            do {
                for try await buffer in body { continuation.yield(.bytes(buffer)) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval / 2)
                continuation.yield(.tick)
            }
        }
        continuation.onTermination = { _ in
            reader.cancel()
            ticker.cancel()
        }
        return stream
    }

    /// A whole answer without the keepalive spaces before its JSON.
    static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        Array(bytes.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
    }
}
