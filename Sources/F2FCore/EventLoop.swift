import F2FBase

/// The single-threaded loop the runtime runs on: the time of the current wake-up, timers,
/// work deferred to the end of a dispatch, and readiness of registered descriptors.
/// `EpollEventLoop` (F2FPosix) is the real one; `ManualEventLoop` (F2FTesting) runs on virtual
/// time and is driven by a test, so a runtime rule (a backoff, a limit, a stall) is tested
/// without processes or sleeps. Every member is called on the loop's thread only.
public protocol EventLoop: AnyObject {
    typealias TimerID = LoopTimerID

    /// The time of the current wake-up: read once per wake-up, so the data path never reads a clock.
    var now: Instant { get }

    /// Counts wake-ups: a source ready again in the very next one had more waiting than its
    /// handler took.
    var iteration: UInt64 { get }

    /// Runs `action` once, `delay` after `now`.
    @discardableResult
    func schedule(after delay: Duration, _ action: @escaping () -> Void) -> TimerID

    /// Runs `action` every `interval`, the first time `interval` after `now`.
    @discardableResult
    func scheduleRepeating(every interval: Duration, _ action: @escaping () -> Void) -> TimerID

    /// Cancels a timer; cancelling one that already ran (or was cancelled) does nothing.
    func cancelTimer(_ id: TimerID)

    /// Runs `work` once this wake-up's events (or timers) have all been handled: the place to
    /// flush what several handlers batched up.
    func afterCurrentDispatch(_ work: @escaping () -> Void)

    /// Watches `descriptor` for `interest` and calls `handler` when it is ready (level-triggered).
    func register(_ descriptor: Int32, interest: IOInterest, handler: any IOHandler) throws(LoopRegistrationError)

    func setInterest(_ interest: IOInterest, for descriptor: Int32)

    /// Stops watching; call before closing the descriptor.
    func deregister(_ descriptor: Int32)

    /// A handler's read found many items waiting and still emptied its source: the loop may
    /// let more gather before its next wait (`WakeModeration`).
    func noteDenseInput()
}

/// Names a scheduled timer so its owner can cancel it.
public struct LoopTimerID: Hashable, Sendable {
    public let rawValue: Int

    public init(rawValue: Int) {
        self.rawValue = rawValue
    }
}

/// The loop could not watch a descriptor (for epoll: `epoll_ctl(ADD)` failed, e.g. ENOSPC
/// when the user's watch limit is reached). A plain errno and operation rather than F2FPosix's
/// `SystemError`, so the pure protocol names it; F2FPosix converts it (`SystemError.init(_:)`).
public struct LoopRegistrationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    public var description: String {
        "\(operation): errno \(errno)"
    }
}
