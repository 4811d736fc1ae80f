import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// `GONKA_OWNER_PID`: a long-running command (`node start`, `mlnode start`, `proxy`) shuts down
/// as on SIGTERM once the process with that id has exited. The test harnesses set it to the test
/// process, so the nodes a test run started (`devnet up` passes its environment on) never outlive
/// it, even when it crashes: a crashed run used to leave its devnet running for hours.
public struct OwnerWatch: Service {
    /// The environment variable naming the owner process.
    public static let variable = "GONKA_OWNER_PID"

    /// An owner that is not a process id.
    public struct BadOwner: Error, CustomStringConvertible, Sendable {
        /// What the variable held, in a sentence.
        public let description: String
    }

    let owner: pid_t
    let logger: Logger

    /// The watch the environment asks for, as services to add to a group: none when it asks for
    /// none. A value that is not a process id is an error, not silently ignored.
    public static func services(logger: Logger) throws(BadOwner) -> [any Service] {
        guard let text = ProcessInfo.processInfo.environment[variable], !text.isEmpty else { return [] }
        guard let pid = pid_t(text), pid > 1 else {
            throw BadOwner(description: "\(variable) must be the id of a running process, got \"\(text)\"")
        }
        return [OwnerWatch(owner: pid, logger: logger)]
    }

    var ownerIsGone: Bool { kill(owner, 0) != 0 && errno == ESRCH }

    /// Polls the owner every second until the graceful shutdown; signals SIGTERM once it is gone.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var signalled = false
            while !Task.isCancelled {
                if !signalled, ownerIsGone {
                    logger.notice(
                        "the owner process has exited; shutting down",
                        metadata: ["owner_pid": "\(owner)", "variable": "\(Self.variable)"])
                    // The same path as `kill -TERM`: the group's graceful shutdown, which then ends
                    // this loop too. To the process, not `raise` (this thread): dispatch's threads
                    // block signals, and one raised on them would wait there forever.
                    kill(getpid(), SIGTERM)
                    signalled = true
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
