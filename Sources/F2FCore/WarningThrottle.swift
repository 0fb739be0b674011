import F2FBase

/// At most `linesPerWindow` warnings of one kind per `window`; the rest are counted, and the
/// count is reported once the window is over. A stranger who can make the switch warn (a
/// refused connection, a bad handshake) thus costs a bounded number of log lines, however
/// fast it repeats, and the log still says how often it happened.
public struct WarningThrottle: Sendable {
    public let linesPerWindow: Int
    public let window: Duration

    public enum Verdict: Equatable, Sendable {
        /// Write the line; `suppressedBefore` lines of this kind were dropped in the window
        /// that ended before it and were not reported yet.
        case log(suppressedBefore: Int)
        case suppress
    }

    private struct Window: Sendable {
        var start: Instant
        var logged: Int
        var suppressed: Int
    }

    /// One entry per kind, and kinds are constants in the code: the table stays small.
    private var windows: [String: Window] = [:]

    public init(linesPerWindow: Int = 10, window: Duration = .seconds(10)) {
        precondition(linesPerWindow > 0 && window > .zero)
        self.linesPerWindow = linesPerWindow
        self.window = window
    }

    public mutating func admit(_ kind: String, now: Instant) -> Verdict {
        if var current = windows[kind], now - current.start < window {
            guard current.logged < linesPerWindow else {
                current.suppressed += 1
                windows[kind] = current
                return .suppress
            }
            current.logged += 1
            windows[kind] = current
            return .log(suppressedBefore: 0)
        }
        let unreported = windows[kind]?.suppressed ?? 0
        windows[kind] = Window(start: now, logged: 1, suppressed: 0)
        return .log(suppressedBefore: unreported)
    }

    /// Ends the windows that are over; returns the kinds that had lines suppressed, with their
    /// counts, for one summary line each.
    public mutating func expire(now: Instant) -> [(kind: String, suppressed: Int)] {
        var reports: [(kind: String, suppressed: Int)] = []
        for (kind, current) in windows where now - current.start >= window {
            if current.suppressed > 0 { reports.append((kind, current.suppressed)) }
            windows[kind] = nil
        }
        return reports.sorted { $0.kind < $1.kind }
    }

    /// Lines dropped so far in windows not yet reported.
    public var unreportedCount: Int {
        windows.values.reduce(0) { $0 + $1.suppressed }
    }
}
