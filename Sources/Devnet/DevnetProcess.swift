import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Starting, finding and stopping devnet node processes. Each node runs detached in its own
/// process group (so a Ctrl-C in the terminal that ran `devnet up` does not reach it), with stdout and
/// stderr appended to `HOME/node.log`.
public enum DevnetProcess {
    /// Starts `binary node start --home HOME` (or `binary ARGUMENTS`) and returns its pid. With
    /// `netns`, the process runs in that network namespace: `ip netns exec NETNS binary …` (ip
    /// enters the namespace and execs the binary, so the pid is the node's).
    public static func start(
        binary: String, home: String, logPath: String, arguments: [String]? = nil, netns: String? = nil
    ) throws -> Int32 {
        closeOnExec()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (pgroup 0 = its pid), outside the terminal's foreground group.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        var arguments = [binary] + (arguments ?? ["node", "start", "--home", home])
        var program = binary
        if let netns {
            guard let ip = ipCommand else {
                throw DevnetError("--netns needs iproute2's `ip` (apt-get install iproute2)")
            }
            arguments = [ip, "netns", "exec", netns] + arguments
            program = ip
        }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, program, &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw DevnetError("cannot start \(binary): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// iproute2's `ip` on PATH or in /usr/sbin, /sbin.
    static var ipCommand: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return directories.map { $0 + "/ip" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Marks every descriptor above stderr close-on-exec. A node outlives the command that
    /// started it; if it inherited, say, the pipe a caller reads this command's output from, that
    /// caller would never see end-of-file.
    private static func closeOnExec() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for entry in entries {
            guard let fd = Int32(entry), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Whether `pid` is a live (not zombie) `gonka node start` process for `home`: a recycled pid
    /// of some other program is never mistaken for a node, so it is never signalled.
    public static func isRunning(_ pid: Int32?, home: String, role: String = "node") -> Bool {
        guard let pid, pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        return isProcess(role: role, home: home, snapshot: { ProcessSnapshot.read(pid) }, pause: { usleep(10_000) })
    }

    /// What `/proc` shows of one process: its state letter, whether it is a kernel thread, and its
    /// arguments (empty when the kernel shows none).
    struct ProcessSnapshot: Sendable, Equatable {
        var state: Character
        var isKernelThread: Bool
        var arguments: [String]

        /// nil when there is no such process (any more).
        static func read(_ pid: Int32) -> ProcessSnapshot? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // After "comm)": state ppid pgrp session tty_nr tpgid flags …
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard let state = fields.first?.first else { return nil }
            let flags = fields.count > 6 ? UInt64(fields[6]) ?? 0 : 0
            let kernelThreadFlag: UInt64 = 0x0020_0000  // PF_KTHREAD
            let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            return ProcessSnapshot(
                state: state, isKernelThread: flags & kernelThreadFlag != 0,
                arguments: cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
        }
    }

    /// The decision behind ``isRunning(_:home:role:)``, apart from `/proc` so it can be tested.
    ///
    /// A live process with no arguments is looked at again (up to `attempts` times, `pause` between):
    /// the kernel shows none while `execve` is between installing the new program and writing its
    /// arguments. That window opens just as `posix_spawn` returns, and again when `ip netns exec`
    /// execs the node, which is when `devnet up` first asks whether the node it just started is
    /// running; read once, a healthy node looked like one that had exited (stop 30's CI failure).
    /// An exiting process also shows none, and ends as a zombie or gone; a kernel thread always
    /// shows none and is never a node.
    static func isProcess(
        role: String, home: String, attempts: Int = 50, snapshot: () -> ProcessSnapshot?, pause: () -> Void
    ) -> Bool {
        for attempt in 0..<attempts {
            guard let process = snapshot(), process.state != "Z", process.state != "X", !process.isKernelThread
            else { return false }
            if !process.arguments.isEmpty {
                return process.arguments.contains(role) && process.arguments.contains(home)
            }
            if attempt + 1 < attempts { pause() }
        }
        return false
    }

    /// Sends `signal` to the node if it is the node; returns whether it was.
    @discardableResult
    public static func signal(_ pid: Int32?, home: String, role: String = "node", _ signal: Int32) -> Bool {
        guard let pid, isRunning(pid, home: home, role: role) else { return false }
        return kill(pid, signal) == 0
    }

    /// SIGTERM, up to `grace` for a clean exit, then SIGKILL. Returns how it ended.
    public static func stop(
        _ pid: Int32?, home: String, role: String = "node", grace: Duration = .seconds(10)
    ) async -> StopOutcome {
        guard signal(pid, home: home, role: role, SIGTERM) else { return .notRunning }
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while clock.now < deadline {
            if !isRunning(pid, home: home, role: role) { return .exited }
            try? await Task.sleep(for: .milliseconds(100))
        }
        signal(pid, home: home, role: role, SIGKILL)
        for _ in 0..<50 where isRunning(pid, home: home, role: role) { try? await Task.sleep(for: .milliseconds(100)) }
        return .killed
    }

    /// How ``stop(_:home:role:grace:)`` ended a process (the raw value is what `devnet down` prints).
    public enum StopOutcome: String, Sendable {
        case notRunning = "not running"
        case exited = "stopped"
        case killed = "killed after the grace period"
    }

    /// The last `lines` lines of a log file (for error messages).
    public static func tail(_ path: String, lines: Int = 15) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "(no log at \(path))" }
        let text = String(decoding: data.suffix(16_384), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// This executable's path (so `devnet up` starts nodes of the same build by default).
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }
}
