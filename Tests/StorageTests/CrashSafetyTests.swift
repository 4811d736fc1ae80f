import Foundation
import GonkaCore
import GonkaTestKit
import Storage
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process commits to a file store in a loop and is killed with SIGKILL mid-commit; the
/// store must reopen at a complete version with exactly that version's contents and root.
@Suite(.hangGuard) struct CrashSafetyTests {
    @Test(.timeLimit(.minutes(2)))
    func killedWriterLeavesACompleteVersion() throws {
        let child = try #require(
            Self.childExecutable(), "storage-crash-child not found next to the test binary; run `swift build` first")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("state.sqlite")
        var rng = SplitMix64(seed: 2024)
        var expected: [[UInt8]: [UInt8]] = [:]
        var expectedVersion: UInt64 = 0

        for round in 0..<5 {
            let reported = try Self.runAndKill(
                child: child, path: path, commitsBeforeKill: 2 + rng.below(4), extraMicroseconds: rng.below(40_000))
            let store = try AuthenticatedStore(path: path)
            let found = try #require(store.latestVersion, "round \(round): nothing committed")
            // Every reported commit is durable; at most one more (committed, not yet reported) exists.
            #expect(found >= reported && found <= reported + 1, "round \(round): found \(found), reported \(reported)")
            while expectedVersion < found {
                expectedVersion += 1
                for write in StorageCrashWorkload.writes(forVersion: expectedVersion) {
                    expected[write.key] = write.value
                }
            }
            print("crash round \(round): child reported version \(reported), store reopened at \(found)")
            #expect(store.root == ReferenceTree.root(of: expected), "round \(round) version \(found)")
            let entries = try store.entries(withPrefix: [])
            #expect(entries.count == expected.count)
            #expect(entries.allSatisfy { expected[$0.key] == $0.value })
            try store.verifyIntegrity()
            try store.close()
        }
    }

    /// Starts the child on `path`, waits for `commitsBeforeKill` more "committed" lines, waits a few
    /// more microseconds (landing inside a later commit), SIGKILLs it and returns the last version
    /// it reported.
    static func runAndKill(child: URL, path: String, commitsBeforeKill: Int, extraMicroseconds: Int) throws -> UInt64 {
        let process = Process()
        process.executableURL = child
        process.arguments = [path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var buffer = ""
        var lines = 0
        var last: UInt64 = 0
        let reader = output.fileHandleForReading
        while lines < commitsBeforeKill {
            let chunk = reader.availableData
            if chunk.isEmpty { break }  // the child exited early
            buffer += String(decoding: chunk, as: UTF8.self)
            while let newline = buffer.firstIndex(of: "\n") {
                let line = buffer[..<newline]
                buffer = String(buffer[buffer.index(after: newline)...])
                if line.hasPrefix("committed "), let version = UInt64(line.dropFirst("committed ".count)) {
                    last = version
                    lines += 1
                }
            }
        }
        usleep(UInt32(extraMicroseconds))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Lines written before the kill may still be in the pipe.
        buffer += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        for line in buffer.split(separator: "\n") where line.hasPrefix("committed ") {
            if let version = UInt64(line.dropFirst("committed ".count)) { last = max(last, version) }
        }
        return last
    }

    /// The helper binary sits next to the test bundle in the build products folder.
    static func childExecutable() -> URL? {
        if let override = ProcessInfo.processInfo.environment["STORAGE_CRASH_CHILD"] {
            return URL(fileURLWithPath: override)
        }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("storage-crash-child")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }
}
