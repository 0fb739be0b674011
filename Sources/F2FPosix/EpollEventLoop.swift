import CF2FSystem
import F2FBase
import F2FCore
import Glibc

/// The single-threaded reactor that owns every descriptor's readiness: epoll for I/O,
/// polled deadlines for timers, an eventfd for work posted from other threads and a
/// signalfd for signals. All state it drives lives on its thread.
public final class EpollEventLoop: EventLoop {
    private struct Registration {
        var generation: UInt32
        var handler: any IOHandler
    }

    private let epoll: Descriptor
    public let mailbox: LoopMailbox
    // The loop's state is touched by its own thread only, in accesses that never overlap, and
    // every iteration reads it several times: the dynamic exclusivity check (about 80
    // instructions each, measured with callgrind) cost more than the rest of a lone frame's
    // trip through the loop, so the hot fields go without it.
    @exclusivity(unchecked) private var registrations: [Registration?] = []
    private var nextGeneration: UInt32 = 1
    @exclusivity(unchecked) private var timers = LoopTimers()
    /// Reused by every wake-up that runs timers.
    @exclusivity(unchecked) private var dueTimers: [LoopTimerID] = []
    private var signalDescriptor: Int32 = -1
    private var signalAction: ((Int32) -> Void)?
    private var isRunning = false
    @exclusivity(unchecked) private var afterDispatch: [() -> Void] = []
    private var events: UnsafeMutableBufferPointer<epoll_event>

    /// The time of the current wake-up; read once per iteration so the data path never calls the clock.
    @exclusivity(unchecked) public private(set) var now: Instant

    /// Counts the loop's iterations: a source that is ready again in the very next one had
    /// more waiting than its handler took.
    @exclusivity(unchecked) public private(set) var iteration: UInt64 = 0

    /// How long the loop naps before its next wait after a handler reported dense input
    /// (`noteDenseInput()`); zero turns moderation off.
    public var moderationInterval: Duration {
        get { moderation.interval }
        set { moderation.interval = newValue }
    }
    @exclusivity(unchecked) private var moderation = WakeModeration()

    private static let mailboxToken: UInt64 = .max
    private static let signalToken: UInt64 = .max - 1

    public init(maxEventsPerWakeup: Int = 256) throws(SystemError) {
        epoll = Descriptor(taking: try checkedSyscall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) })
        mailbox = try LoopMailbox()
        events = .allocate(capacity: maxEventsPerWakeup)
        now = MonotonicClock.now()
        try addToEpoll(mailbox.wakeDescriptor, events: EPOLLIN.rawValue, token: Self.mailboxToken)
    }

    deinit {
        events.deallocate()
        if signalDescriptor >= 0 { close(signalDescriptor) }
    }

    /// Drops every handler, timer, signal action and pending piece of work. Components hold the
    /// loop and the loop holds their callbacks; after the last run this breaks those cycles, so
    /// everything is freed (and a leak checker sees no false reports at exit).
    public func releaseAll() {
        registrations.removeAll()
        timers.removeAll()
        signalAction = nil
        afterDispatch.removeAll()
    }

    // MARK: Descriptors

    /// Watches `descriptor` for `interest` and calls `handler` when it is ready (level-triggered).
    public func register(_ descriptor: Int32, interest: IOInterest, handler: any IOHandler) throws(LoopRegistrationError) {
        let index = Int(descriptor)
        if registrations.count <= index {
            registrations.append(contentsOf: repeatElement(nil, count: index + 1 - registrations.count))
        }
        precondition(registrations[index] == nil, "descriptor \(descriptor) registered twice")
        let generation = nextGeneration
        nextGeneration &+= 1
        do {
            try addToEpoll(descriptor, events: interest.epollEvents, token: Self.token(descriptor, generation))
        } catch {
            throw LoopRegistrationError(errno: error.errno, operation: error.operation)
        }
        registrations[index] = Registration(generation: generation, handler: handler)
    }

    public func setInterest(_ interest: IOInterest, for descriptor: Int32) {
        guard registrations.indices.contains(Int(descriptor)), let registration = registrations[Int(descriptor)] else { return }
        var event = epoll_event()
        event.events = interest.epollEvents
        event.data.u64 = Self.token(descriptor, registration.generation)
        _ = try? checkedSyscall("epoll_ctl(MOD)") { epoll_ctl(epoll.rawValue, EPOLL_CTL_MOD, descriptor, &event) }
    }

    /// Stops watching; call before closing the descriptor.
    public func deregister(_ descriptor: Int32) {
        let index = Int(descriptor)
        guard registrations.indices.contains(index), registrations[index] != nil else { return }
        registrations[index] = nil
        _ = epoll_ctl(epoll.rawValue, EPOLL_CTL_DEL, descriptor, nil)
    }

    // MARK: Timers

    @discardableResult
    public func schedule(after delay: Duration, _ action: @escaping () -> Void) -> TimerID {
        addTimer(deadline: MonotonicClock.now() + delay, interval: nil, action: action)
    }

    @discardableResult
    public func scheduleRepeating(every interval: Duration, _ action: @escaping () -> Void) -> TimerID {
        addTimer(deadline: MonotonicClock.now() + interval, interval: interval, action: action)
    }

    public func cancelTimer(_ id: TimerID) {
        timers.cancel(id)
    }

    // MARK: Signals

    /// Delivers `signals` through the loop. Blocks them for the calling thread, so call this
    /// on the main thread before any other thread starts.
    public func handleSignals(_ signals: [Int32], _ action: @escaping (Int32) -> Void) throws(SystemError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in signals { sigaddset(&mask, signal) }
        pthread_sigmask(SIG_BLOCK, &mask, nil)
        signalDescriptor = try checkedSyscall("signalfd") {
            signalfd(-1, &mask, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
        }
        signalAction = action
        try addToEpoll(signalDescriptor, events: EPOLLIN.rawValue, token: Self.signalToken)
    }

    // MARK: Running

    /// Runs until `stop()`; returns after the iteration in which it was called.
    public func run() {
        isRunning = true
        while isRunning {
            runOnce()
        }
    }

    public func stop() {
        isRunning = false
    }

    /// One wake-up: wait for I/O or the nearest deadline, dispatch, run due timers.
    public func runOnce(maximumWait: Duration? = nil) {
        iteration &+= 1
        now = MonotonicClock.now()
        let timeout = waitTimeout(maximumWait: maximumWait)
        let count = epoll_wait(epoll.rawValue, events.baseAddress, Int32(events.count), timeout)
        now = MonotonicClock.now()
        if count > 0 {
            for index in 0..<Int(count) {
                dispatch(events[index])
            }
        }
        runAfterDispatch()
        runDueTimers()
        runAfterDispatch()
        if let nap = moderation.napAfterWakeup() { sleep(for: nap) }
    }

    /// See `WakeModeration` for when the loop naps.
    @inline(__always)
    public func noteDenseInput() {
        moderation.noteDenseInput()
    }

    private func sleep(for nap: Duration) {
        let nanoseconds = nap.nanoseconds
        var interval = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        _ = clock_nanosleep(CLOCK_MONOTONIC, 0, &interval, nil)
    }

    /// Runs `work` once this wake-up's events (or timers) have all been handled: the place to
    /// flush what several handlers batched up.
    public func afterCurrentDispatch(_ work: @escaping () -> Void) {
        afterDispatch.append(work)
    }

    private func runAfterDispatch() {
        while !afterDispatch.isEmpty {
            let pending = afterDispatch
            afterDispatch.removeAll(keepingCapacity: true)
            for work in pending { work() }
        }
    }

    // MARK: Internals

    private func dispatch(_ event: epoll_event) {
        switch event.data.u64 {
        case Self.mailboxToken:
            for work in mailbox.drain() { work() }
        case Self.signalToken:
            drainSignals()
        case let token:
            let index = Int(token & 0xFFFF_FFFF)
            guard registrations.indices.contains(index),
                let registration = registrations[index],
                registration.generation == UInt32(truncatingIfNeeded: token >> 32)
            else { return }  // deregistered earlier in this batch
            registration.handler.handle(IOReadiness(epollEvents: event.events))
        }
    }

    private func drainSignals() {
        var info = signalfd_siginfo()
        while read(signalDescriptor, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            signalAction?(Int32(info.ssi_signo))
        }
    }

    /// In plain nanoseconds: this runs on every wake-up, and `Duration` arithmetic goes through
    /// 128-bit multiplications.
    private func waitTimeout(maximumWait: Duration?) -> Int32 {
        var deadline = timers.earliestDeadline
        if let maximumWait {
            let (limit, overflow) = now.nanoseconds.addingReportingOverflow(max(0, maximumWait.nanoseconds))
            if !overflow { deadline = min(deadline, limit) }
        }
        guard deadline != .max else { return -1 }
        let nanoseconds = max(0, deadline &- now.nanoseconds)
        // Round up so a timer is never polled a hair early and spun on.
        return Int32(clamping: nanoseconds / 1_000_000 + (nanoseconds % 1_000_000 == 0 ? 0 : 1))
    }

    private func runDueTimers() {
        guard timers.earliestDeadline <= now.nanoseconds else { return }
        timers.due(now: now, into: &dueTimers)
        for id in dueTimers {
            if let action = timers.fire(id, now: now) { action() }
        }
    }

    private func addTimer(deadline: Instant, interval: Duration?, action: @escaping () -> Void) -> TimerID {
        timers.add(deadline: deadline, interval: interval, action: action)
    }

    private func addToEpoll(_ descriptor: Int32, events: UInt32, token: UInt64) throws(SystemError) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        try checkedSyscall("epoll_ctl(ADD)") { epoll_ctl(epoll.rawValue, EPOLL_CTL_ADD, descriptor, &event) }
    }

    private static func token(_ descriptor: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: descriptor))
    }
}
