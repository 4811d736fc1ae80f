import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The progress of long work (a devnet start, a PoC sprint, a benchmark, a download) on one output.
///
/// On a terminal, ``update(_:)`` rewrites one line in place (`\r`, the text, erase to the end of the
/// line), at most every ``Policy/terminalInterval``; ``log(_:)`` prints a line that stays and redraws
/// the progress line under it. When the output is not a terminal (a pipe, a file, CI), there are no
/// control characters: ``update(_:)`` prints a plain line, at most one every ``Policy/plainInterval``
/// and never the same text twice in a row, and ``log(_:)`` prints its line at once.
/// ``finish(_:)`` ends the progress line (and prints a last line, if given) in both modes.
///
/// Thread-safe: several tasks may report to one line.
public final class ProgressLine: Sendable {
    /// Terminal (rewrite in place) or plain lines.
    public enum Mode: Sendable, Hashable {
        case terminal
        case plain
    }

    /// How often each mode writes an update.
    public struct Policy: Sendable, Hashable {
        /// The shortest time between two redraws on a terminal.
        public var terminalInterval: Duration
        /// The shortest time between two plain update lines.
        public var plainInterval: Duration

        /// A redraw at most every `terminalInterval`, a plain line at most every `plainInterval`.
        public init(terminalInterval: Duration = .milliseconds(100), plainInterval: Duration = .seconds(5)) {
            self.terminalInterval = terminalInterval
            self.plainInterval = plainInterval
        }
    }

    /// What a line writes, decided without I/O (so it is tested without a terminal or a clock).
    public struct State: Sendable, Hashable {
        public let mode: Mode
        public let policy: Policy
        /// Columns of the terminal; longer progress text is cut to fit (nil: no limit).
        public let width: Int?
        /// The progress text now shown (terminal) or last printed (plain).
        private var shown: String?
        /// The latest progress text, shown or not.
        private var latest: String?
        private var lastWrite: Duration?

        /// A line that has written nothing yet.
        public init(mode: Mode, policy: Policy = Policy(), width: Int? = nil) {
            self.mode = mode
            self.policy = policy
            self.width = width
        }

        /// The bytes to write for a new progress text at `now` (time since any fixed origin), or nil.
        /// An empty text clears the progress line at once (the work it described is over).
        public mutating func update(_ text: String, now: Duration) -> String? {
            if text.isEmpty {
                latest = nil
                defer { shown = nil }
                return mode == .terminal && shown != nil ? "\r\u{1B}[K" : nil
            }
            latest = text
            let interval = mode == .terminal ? policy.terminalInterval : policy.plainInterval
            if let lastWrite, now - lastWrite < interval { return nil }
            if text == shown { return nil }
            lastWrite = now
            shown = text
            switch mode {
            case .terminal: return "\r" + fitted(text) + "\u{1B}[K"
            case .plain: return text + "\n"
            }
        }

        /// The bytes that print `text` as a line of its own (above the progress line on a terminal).
        public mutating func log(_ text: String) -> String {
            switch mode {
            case .plain:
                return text + "\n"
            case .terminal:
                guard let shown else { return text + "\n" }
                return "\r\u{1B}[K" + text + "\n" + fitted(shown) + "\u{1B}[K"
            }
        }

        /// The bytes that end the progress line, printing `text` (if any) as the last line. A
        /// plain line whose last update was held back by the rate limit prints it first.
        public mutating func finish(_ text: String? = nil) -> String {
            defer {
                shown = nil
                latest = nil
                lastWrite = nil
            }
            switch mode {
            case .terminal:
                let clear = shown == nil ? "" : "\r\u{1B}[K"
                return clear + (text.map { $0 + "\n" } ?? "")
            case .plain:
                let pending = latest.flatMap { $0 != shown && $0 != text ? $0 + "\n" : nil } ?? ""
                return pending + (text.map { $0 + "\n" } ?? "")
            }
        }

        private func fitted(_ text: String) -> String {
            guard let width, width > 1, text.count >= width else { return text }
            return String(text.prefix(width - 2)) + "…"
        }
    }

    private let state: Mutex<State>
    private let fileDescriptor: Int32
    private let started = ContinuousClock.now

    /// A progress line on `fileDescriptor` (default: standard output). `mode` nil: a terminal when
    /// the descriptor is one (`isatty`), plain lines otherwise.
    public init(fileDescriptor: Int32 = STDOUT_FILENO, mode: Mode? = nil, policy: Policy = Policy()) {
        self.fileDescriptor = fileDescriptor
        let mode = mode ?? Self.mode(of: fileDescriptor)
        state = Mutex(State(mode: mode, policy: policy, width: mode == .terminal ? Self.columns(fileDescriptor) : nil))
    }

    /// The mode a line on `fileDescriptor` takes by default.
    public static func mode(of fileDescriptor: Int32) -> Mode { isatty(fileDescriptor) == 1 ? .terminal : .plain }

    /// Whether this line rewrites itself in place.
    public var mode: Mode { state.withLock { $0.mode } }

    /// Shows `text` as the current progress (rate-limited; see the type's description); an empty
    /// `text` clears it.
    public func update(_ text: String) {
        let now = ContinuousClock.now - started
        if let bytes = state.withLock({ $0.update(text, now: now) }) { emit(bytes) }
    }

    /// Prints `text` as a line that stays.
    public func log(_ text: String) {
        emit(state.withLock { $0.log(text) })
    }

    /// Ends the progress line; prints `text`, if given, as the last line.
    public func finish(_ text: String? = nil) {
        emit(state.withLock { $0.finish(text) })
    }

    private func emit(_ text: String) {
        guard !text.isEmpty else { return }
        // Whatever `print` buffered goes first, so the lines keep their order.
        fflush(nil)
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(fileDescriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }

    private static func columns(_ fileDescriptor: Int32) -> Int? {
        var size = winsize()
        #if canImport(Glibc)
            let request = UInt(TIOCGWINSZ)
        #else
            let request = TIOCGWINSZ
        #endif
        guard ioctl(fileDescriptor, request, &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
}
