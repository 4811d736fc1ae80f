import ServiceLifecycle
import Synchronization

/// Where one listener is: starting, listening on a port, or stopped (with why). What a caller
/// waiting for a listener's port needs: a listener that stops before it listens (a port in use)
/// must end the wait with its error, or the wait never ends.
public final class ListenerState: Sendable {
    private enum Phase {
        case starting
        case listening(Int)
        case ended(any Error)
    }

    /// What a listener that stopped without an error of its own reports to a waiting caller.
    public struct Stopped: Error, CustomStringConvertible {
        public var description: String { "the listener stopped before it listened" }
    }

    private let phase = Mutex<Phase>(.starting)

    public init() {}

    /// The listener is bound to `port` (from its `onServerRunning`).
    public func listening(_ port: Int) { phase.withLock { $0 = .listening(port) } }

    /// The listener stopped; a caller waiting in ``port()`` gets `error` if it never listened.
    public func ended(_ error: any Error) {
        phase.withLock { phase in
            if case .starting = phase { phase = .ended(error) }
        }
    }

    /// The port, once listening (waits for it); throws what the listener ended with if it stops
    /// first.
    public func port() async throws -> Int {
        while true {
            switch phase.withLock({ $0 }) {
            case .listening(let port): return port
            case .ended(let error): throw error
            case .starting: try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// `service`, reporting here when it ends (``ended(_:)``).
    public func reporting(_ service: some Service) -> some Service { Reporting(base: service, state: self) }

    private struct Reporting<Base: Service>: Service {
        let base: Base
        let state: ListenerState

        func run() async throws {
            do {
                try await base.run()
                state.ended(Stopped())
            } catch {
                state.ended(error)
                throw error
            }
        }
    }
}
