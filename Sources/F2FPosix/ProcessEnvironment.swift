import Glibc

/// What the executable needs from its process and user: environment, ids, host name, the
/// standard streams, signals, daemonisation. Here so that the command line stays free of libc.
public enum ProcessEnvironment {
    /// The signals that stop the switch cleanly.
    public static let stopSignals: [Int32] = [SIGINT, SIGTERM]
    /// Re-reads the friends file instead of stopping (`systemctl reload`).
    public static let reloadSignal: Int32 = SIGHUP

    /// Blocks the calling thread (one-shot commands that poll a running switch; never the loop).
    public static func sleep(_ duration: Duration) {
        var request = timespec(tv_sec: Int(duration.components.seconds), tv_nsec: Int(duration.components.attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }

    /// An environment variable, nil when unset or empty.
    public static func variable(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    public static var userID: UInt32 { getuid() }
    /// Whose rights the process has: files it creates are this user's, and files it trusts must be.
    public static var effectiveUserID: UInt32 { geteuid() }
    public static var processID: Int32 { getpid() }

    /// The login name of a user id from the password database, nil when it has none.
    public static func userName(of userID: UInt32) -> String? {
        guard let entry = getpwuid(userID), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    public static var hostName: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A group by name or number.
    public static func groupID(named name: String) -> UInt32? {
        if let number = UInt32(name) { return number }
        return getgrnam(name).map { $0.pointee.gr_gid }
    }

    /// Raises the soft limit on open descriptors to the hard limit: every client, console
    /// session and peer holds descriptors, and the distribution's soft default (1024) is far
    /// below what the hard limit allows. Returns the limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// A peer that goes away mid-send is an error return, not a signal that ends the process.
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Straight to the descriptor: unbuffered, so it shows up before any later log line.
    public static func writeToStandardOutput(_ text: String) {
        _ = FileSystem.writeAll(text, to: STDOUT_FILENO)
    }

    public static func writeToStandardError(_ text: String) {
        _ = FileSystem.writeAll(text, to: STDERR_FILENO)
    }

    /// Classic daemonisation, done before the loop or any thread exists: the parent exits, the
    /// child starts a session with its standard streams on /dev/null.
    public static func detachAsDaemon() throws(SystemError) {
        switch fork() {
        case -1:
            throw SystemError(errno: errno, operation: "fork")
        case 0:
            setsid()
            let null = open("/dev/null", O_RDWR)
            if null >= 0 {
                dup2(null, 0)
                dup2(null, 1)
                dup2(null, 2)
                if null > 2 { close(null) }
            }
        default:
            exit(0)
        }
    }
}
