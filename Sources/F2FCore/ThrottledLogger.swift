import F2FBase
import Logging

/// A logger for warnings that someone else can trigger at will: each kind of warning goes
/// through a `WarningThrottle`, and `reportSuppressed()` (run every second by the owner)
/// writes one line per kind with the count of what was dropped.
public final class ThrottledLogger {
    public let logger: Logger
    private var throttle: WarningThrottle
    private let now: () -> Instant

    public init(logger: Logger, throttle: WarningThrottle = WarningThrottle(), now: @escaping () -> Instant) {
        self.logger = logger
        self.throttle = throttle
        self.now = now
    }

    /// `kind` names the class of event (`pending-evicted`, `handshake-failed`): lines of one
    /// kind share a budget.
    public func warning(
        _ kind: String, _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        switch throttle.admit(kind, now: now()) {
        case .suppress:
            return
        case .log(let suppressedBefore):
            if suppressedBefore > 0 { reportLine(kind, suppressedBefore) }
            // The caller's location, so the line names the module that logged it.
            logger.log(level: .warning, message(), metadata: metadata(), file: file, function: function, line: line)
        }
    }

    public func reportSuppressed() {
        for report in throttle.expire(now: now()) { reportLine(report.kind, report.suppressed) }
    }

    private func reportLine(_ kind: String, _ count: Int) {
        logger.warning(
            "suppressed \(count) similar warnings in the last \(throttle.window.wholeSeconds) s",
            metadata: ["kind": "\(kind)", "suppressed": "\(count)"])
    }
}
