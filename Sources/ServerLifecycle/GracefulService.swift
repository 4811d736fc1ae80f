import Logging
import ServiceLifecycle

/// A service that, when the task running it is cancelled, first shuts it down gracefully and
/// only then cancels it: cancellation becomes graceful shutdown with a deadline.
///
/// Why every HTTP listener runs in one: a Hummingbird server whose task is cancelled drops the
/// connections it has accepted but not yet handed to its accept loop, and NIO traps on each
/// ("Deinited NIOAsyncWriter without calling finish()", swift-nio#2813). That killed whole test
/// runs whenever a test network was torn down while a client was still connecting, and would kill
/// a node whose service group is cancelled (a sibling service failing) under load. A graceful
/// shutdown closes the listener first and serves out what was accepted, so nothing is dropped.
///
/// Graceful shutdown of the surrounding group is passed on unchanged. Past `gracePeriod` a
/// shutdown that has not finished (a response that never ends) is escalated to cancellation, which
/// is safe by then because the listener is closed.
public struct GracefulService<Base: Service>: Service {
    public let base: Base
    public let gracePeriod: Duration
    let logger: Logger

    public init(_ base: Base, gracePeriod: Duration = .seconds(10), logger: Logger) {
        self.base = base
        self.gracePeriod = gracePeriod
        self.logger = logger
    }

    public func run() async throws {
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(
                    service: base, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .cancelGroup)
            ],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = gracePeriod
        let group = ServiceGroup(configuration: configuration)
        // Unstructured on purpose: a child task would be cancelled with us, the very thing avoided.
        let running = Task { try await group.run() }
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await running.value
        } onCancelOrGracefulShutdown: {
            Task { await group.triggerGracefulShutdown() }
        }
    }
}

extension Service {
    /// This service, stopped gracefully even when its task is cancelled (``GracefulService``).
    public func stoppingGracefully(gracePeriod: Duration = .seconds(10), logger: Logger) -> GracefulService<Self> {
        GracefulService(self, gracePeriod: gracePeriod, logger: logger)
    }
}
