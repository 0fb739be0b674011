import F2FBase
import F2FCore

/// The loop on virtual time, for runtime tests (as swift-nio's `EmbeddedEventLoop`): time moves
/// only in `advance`, readiness comes only from `deliver`, and nothing touches a descriptor.
/// Timers use the same `LoopTimers` rules as the epoll loop; after-dispatch work runs at the
/// end of each simulated wake-up, as there.
///
/// ```swift
/// let loop = ManualEventLoop()
/// let port = SomePort(loop: loop)           // registers descriptor 7 for reading
/// loop.deliver(.readable, to: 7)            // the handler runs, then after-dispatch work
/// loop.advance(by: .seconds(1))             // timers due within the second run, in order
/// ```
public final class ManualEventLoop: EventLoop {
    public struct Registration {
        public var interest: IOInterest
        public var handler: any IOHandler
    }

    public private(set) var now: Instant
    public private(set) var iteration: UInt64 = 0
    /// The registered descriptors and the interest each last asked for.
    public private(set) var registrations: [Int32: Registration] = [:]
    /// How many times handlers reported dense input (`noteDenseInput`).
    public private(set) var denseInputNotes = 0
    /// When set, the next `register` throws it (then it is cleared): a full epoll watch list.
    public var nextRegistrationFailure: LoopRegistrationError?

    private var timers = LoopTimers()
    private var afterDispatch: [() -> Void] = []

    /// Starts away from zero so that "never" (`.zero`) and "now" are distinguishable.
    public init(now: Instant = Instant(nanoseconds: 1_000_000_000)) {
        self.now = now
    }

    /// Timers still scheduled.
    public var timerCount: Int { timers.count }

    /// The interest `descriptor` is registered with, or nil when it is not registered.
    public func interest(of descriptor: Int32) -> IOInterest? {
        registrations[descriptor]?.interest
    }

    // MARK: Driving it

    /// Moves time forward to `deadline`, running each batch of due timers at its own deadline
    /// (one simulated wake-up per distinct deadline, after-dispatch work at the end of each).
    public func advance(to deadline: Instant) {
        precondition(deadline >= now, "time does not run backwards")
        while timers.earliestDeadline <= deadline.nanoseconds {
            now = max(now, Instant(nanoseconds: timers.earliestDeadline))
            wakeUp {
                for id in timers.due(now: now) {
                    if let action = timers.fire(id, now: now) { action() }
                }
            }
        }
        now = deadline
    }

    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "time does not run backwards")
        advance(to: now + duration)
    }

    /// Reports `readiness` for a registered descriptor as one wake-up: its handler runs, then
    /// after-dispatch work. Readiness the handler did not ask for is delivered as given (as
    /// epoll reports hang-ups and errors whatever the interest).
    public func deliver(_ readiness: IOReadiness, to descriptor: Int32) {
        guard let registration = registrations[descriptor] else {
            preconditionFailure("descriptor \(descriptor) is not registered")
        }
        wakeUp { registration.handler.handle(readiness) }
    }

    /// Runs pending after-dispatch work now, as at the end of a wake-up with no events.
    public func runAfterDispatch() {
        while !afterDispatch.isEmpty {
            let pending = afterDispatch
            afterDispatch.removeAll(keepingCapacity: true)
            for work in pending { work() }
        }
    }

    private func wakeUp(_ dispatch: () -> Void) {
        iteration &+= 1
        dispatch()
        runAfterDispatch()
    }

    // MARK: EventLoop

    @discardableResult
    public func schedule(after delay: Duration, _ action: @escaping () -> Void) -> TimerID {
        timers.add(deadline: now + delay, interval: nil, action: action)
    }

    @discardableResult
    public func scheduleRepeating(every interval: Duration, _ action: @escaping () -> Void) -> TimerID {
        precondition(interval > .zero, "a repeating timer needs a positive interval")
        return timers.add(deadline: now + interval, interval: interval, action: action)
    }

    public func cancelTimer(_ id: TimerID) {
        timers.cancel(id)
    }

    public func afterCurrentDispatch(_ work: @escaping () -> Void) {
        afterDispatch.append(work)
    }

    public func register(_ descriptor: Int32, interest: IOInterest, handler: any IOHandler) throws(LoopRegistrationError) {
        precondition(registrations[descriptor] == nil, "descriptor \(descriptor) registered twice")
        if let failure = nextRegistrationFailure {
            nextRegistrationFailure = nil
            throw failure
        }
        registrations[descriptor] = Registration(interest: interest, handler: handler)
    }

    public func setInterest(_ interest: IOInterest, for descriptor: Int32) {
        registrations[descriptor]?.interest = interest
    }

    public func deregister(_ descriptor: Int32) {
        registrations[descriptor] = nil
    }

    public func noteDenseInput() {
        denseInputNotes += 1
    }
}
