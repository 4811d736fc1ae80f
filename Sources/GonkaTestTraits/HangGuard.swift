import GonkaTestKit
import Testing

/// Arms `HangWatchdog` for each test it applies to (on a suite: each test in it) with the test's
/// time limit plus two minutes. Swift Testing's time limit cancels a test and then waits for it; a
/// test stuck where cancellation does not reach would stall the whole run, so past that the
/// watchdog reports it and ends the process (status 124) instead. A target of its own, linked by
/// the test targets only: it imports Testing, which the `gonka` executable (linking GonkaTestKit)
/// must not.
public struct HangGuard: TestTrait, SuiteTrait, TestScoping {
    public static let grace: Duration = .seconds(120)
    public static let defaultLimit: Duration = .seconds(600)

    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard testCase != nil else { return try await function() }
        let limit = (test.timeLimit ?? Self.defaultLimit) + Self.grace
        let token = HangWatchdog.shared.arm("\(test.name) (\(test.sourceLocation.fileName))", limit: limit)
        defer { HangWatchdog.shared.disarm(token) }
        try await function()
    }
}

extension Trait where Self == HangGuard {
    /// See ``HangGuard``.
    public static var hangGuard: Self { Self() }
}
