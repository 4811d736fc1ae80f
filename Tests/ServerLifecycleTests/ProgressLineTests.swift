import Foundation
import ServerLifecycle
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ProgressLine`: what it writes on a terminal and on a pipe, and its rate limits.
@Suite(.timeLimit(.minutes(1))) struct ProgressLineTests {
    typealias State = ProgressLine.State
    static let policy = ProgressLine.Policy(terminalInterval: .milliseconds(100), plainInterval: .seconds(5))

    @Test func plainLinesAreRateLimitedAndNeverRepeated() {
        var state = State(mode: .plain, policy: Self.policy)
        #expect(state.update("block 1", now: .zero) == "block 1\n")
        #expect(state.update("block 2", now: .seconds(1)) == nil)  // within 5 s of the last line
        #expect(state.update("block 6", now: .seconds(6)) == "block 6\n")
        #expect(state.update("block 6", now: .seconds(12)) == nil)  // the same text again
        #expect(state.log("node0 started") == "node0 started\n")  // logs are never held back
        #expect(state.update("block 13", now: .seconds(13)) == "block 13\n")
        #expect(state.update("block 14", now: .seconds(14)) == nil)
        // The held-back last update comes out before the closing line; no control characters anywhere.
        #expect(state.finish("done") == "block 14\ndone\n")
        #expect(state.update("again", now: .seconds(15)) == "again\n")
        #expect(state.update("held back", now: .seconds(16)) == nil)
        #expect(state.update("", now: .seconds(16)) == nil)  // cleared: nothing held back any more
        #expect(state.finish() == "")
    }

    @Test func aTerminalLineIsRewrittenInPlace() {
        var state = State(mode: .terminal, policy: Self.policy)
        #expect(state.log("before") == "before\n")  // nothing shown yet: nothing to redraw
        #expect(state.update("block 1", now: .zero) == "\rblock 1\u{1B}[K")
        #expect(state.update("block 2", now: .milliseconds(50)) == nil)  // redraws at most every 100 ms
        #expect(state.update("block 2", now: .milliseconds(150)) == "\rblock 2\u{1B}[K")
        // A log line clears the progress line, stays, and the progress line is drawn again below it.
        #expect(state.log("node0 synced") == "\r\u{1B}[Knode0 synced\n" + "block 2\u{1B}[K")
        #expect(state.finish("all synced") == "\r\u{1B}[Kall synced\n")
        #expect(state.finish() == "")
        // An empty text clears the line now, and a log line after it redraws nothing.
        #expect(state.update("run 2/2", now: .seconds(1)) == "\rrun 2/2\u{1B}[K")
        #expect(state.update("", now: .seconds(1)) == "\r\u{1B}[K")
        #expect(state.update("", now: .seconds(1)) == nil)
        #expect(state.log("result") == "result\n")
    }

    @Test func aTerminalLineFitsTheWidth() {
        var state = State(mode: .terminal, policy: Self.policy, width: 10)
        #expect(state.update("0123456789abc", now: .zero) == "\r01234567…\u{1B}[K")
        #expect(state.update("short", now: .seconds(1)) == "\rshort\u{1B}[K")
    }

    /// The whole type on a pipe: it chooses plain lines by itself and writes them in order with
    /// what `print` wrote before.
    @Test func onAPipeItWritesPlainLines() throws {
        let pipe = Pipe()
        let descriptor = pipe.fileHandleForWriting.fileDescriptor
        let line = ProgressLine(
            fileDescriptor: descriptor, policy: .init(terminalInterval: .zero, plainInterval: .seconds(3600)))
        #expect(line.mode == .plain)
        line.log("starting 2 nodes")
        line.update("node0 height 1")
        line.update("node0 height 2")  // held back: within the hour
        line.log("node0 synced")
        line.finish("ready")
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text == "starting 2 nodes\nnode0 height 1\nnode0 synced\nnode0 height 2\nready\n")
        #expect(!text.contains("\r") && !text.contains("\u{1B}"))
    }

    @Test func forcedTerminalModeOnAPipeWritesControlCharacters() throws {
        let pipe = Pipe()
        let line = ProgressLine(
            fileDescriptor: pipe.fileHandleForWriting.fileDescriptor, mode: .terminal,
            policy: .init(terminalInterval: .zero, plainInterval: .zero))
        line.update("1/3")
        line.update("2/3")
        line.finish("done")
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text == "\r1/3\u{1B}[K\r2/3\u{1B}[K\r\u{1B}[Kdone\n")
    }

    #if os(Linux)
        /// A pseudo-terminal is a terminal: the line chooses in-place rewriting by itself. (Linux's
        /// /dev/ptmx, unlocked and named with the asm-generic ioctls TIOCSPTLCK and TIOCGPTN.)
        @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/dev/ptmx")))
        func onATerminalItRewrites() throws {
            let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
            #expect(master >= 0)
            guard master >= 0 else { return }
            defer { close(master) }
            var unlock: Int32 = 0
            var number: UInt32 = 0
            #expect(ioctl(master, 0x4004_5431, &unlock) == 0)  // TIOCSPTLCK
            #expect(ioctl(master, 0x8004_5430, &number) == 0)  // TIOCGPTN
            let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
            #expect(slave >= 0)
            guard slave >= 0 else { return }
            defer { close(slave) }
            #expect(ProgressLine.mode(of: slave) == ProgressLine.Mode.terminal)
            let pipe = Pipe()
            #expect(ProgressLine.mode(of: pipe.fileHandleForWriting.fileDescriptor) == ProgressLine.Mode.plain)
            #expect(ProgressLine(fileDescriptor: slave).mode == ProgressLine.Mode.terminal)
        }
    #endif
}
