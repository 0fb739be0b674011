import F2FBase
import F2FCore
import F2FTesting
import Testing

/// The virtual-time loop runtime tests stand on: timers at their deadlines and in order,
/// after-dispatch work at the end of each wake-up, registrations visible, readiness on demand.
@Suite struct ManualEventLoopTests {
    private final class Recorder: IOHandler {
        var received: [IOReadiness] = []
        var onHandle: () -> Void = {}

        func handle(_ readiness: IOReadiness) {
            received.append(readiness)
            onHandle()
        }
    }

    @Test func advanceRunsDueTimersInDeadlineOrderAtTheirDeadlines() {
        let loop = ManualEventLoop()
        let start = loop.now
        var fired: [(String, Duration)] = []
        loop.schedule(after: .seconds(3)) { fired.append(("c", loop.now - start)) }
        loop.schedule(after: .seconds(1)) { fired.append(("a", loop.now - start)) }
        loop.schedule(after: .seconds(2)) { fired.append(("b", loop.now - start)) }

        loop.advance(by: .milliseconds(2500))

        #expect(fired.map(\.0) == ["a", "b"])
        #expect(fired.map(\.1) == [.seconds(1), .seconds(2)])
        #expect(loop.now - start == .milliseconds(2500))
        #expect(loop.timerCount == 1)
    }

    @Test func aRepeatingTimerRunsOncePerIntervalUntilCancelled() {
        let loop = ManualEventLoop()
        var count = 0
        let timer = loop.scheduleRepeating(every: .milliseconds(100)) { count += 1 }

        loop.advance(by: .milliseconds(350))
        #expect(count == 3)

        loop.cancelTimer(timer)
        loop.advance(by: .seconds(10))
        #expect(count == 3)
        #expect(loop.timerCount == 0)
    }

    @Test func aTimerScheduledByATimerRunsAtItsOwnDeadline() {
        let loop = ManualEventLoop()
        let start = loop.now
        var firedAt: [Duration] = []
        loop.schedule(after: .seconds(1)) {
            firedAt.append(loop.now - start)
            loop.schedule(after: .seconds(1)) { firedAt.append(loop.now - start) }
        }

        loop.advance(by: .seconds(5))

        #expect(firedAt == [.seconds(1), .seconds(2)])
    }

    @Test func aTimerCancelledByAnEarlierOneOfTheSameDeadlineDoesNotRun() {
        let loop = ManualEventLoop()
        var fired: [String] = []
        var second: LoopTimerID?
        loop.schedule(after: .seconds(1)) {
            fired.append("first")
            if let second { loop.cancelTimer(second) }
        }
        second = loop.schedule(after: .seconds(1)) { fired.append("second") }

        loop.advance(by: .seconds(2))

        #expect(fired == ["first"])
    }

    @Test func afterDispatchWorkRunsAtTheEndOfTheWakeUp() {
        let loop = ManualEventLoop()
        var log: [String] = []
        loop.schedule(after: .seconds(1)) {
            loop.afterCurrentDispatch { log.append("flush") }
            log.append("timer a")
        }
        loop.schedule(after: .seconds(1)) { log.append("timer b") }

        loop.advance(by: .seconds(1))

        #expect(log == ["timer a", "timer b", "flush"])
    }

    @Test func registrationsAndInterestAreVisible() throws {
        let loop = ManualEventLoop()
        let handler = Recorder()
        try loop.register(7, interest: .readable, handler: handler)
        #expect(loop.interest(of: 7) == .readable)

        loop.setInterest([.readable, .writable], for: 7)
        #expect(loop.interest(of: 7) == [.readable, .writable])

        loop.deregister(7)
        #expect(loop.interest(of: 7) == nil)
        #expect(loop.registrations.isEmpty)
    }

    @Test func deliveredReadinessReachesTheHandlerThenAfterDispatchWork() throws {
        let loop = ManualEventLoop()
        let handler = Recorder()
        var log: [String] = []
        handler.onHandle = {
            log.append("handle")
            loop.afterCurrentDispatch { log.append("flush") }
            loop.noteDenseInput()
        }
        try loop.register(3, interest: .readable, handler: handler)
        let before = loop.iteration

        loop.deliver([.readable, .hangup], to: 3)

        #expect(handler.received == [[.readable, .hangup]])
        #expect(log == ["handle", "flush"])
        #expect(loop.iteration == before + 1)
        #expect(loop.denseInputNotes == 1)
    }

    @Test func anInjectedRegistrationFailureIsThrownOnce() throws {
        let loop = ManualEventLoop()
        let failure = LoopRegistrationError(errno: 28, operation: "epoll_ctl(ADD)")
        loop.nextRegistrationFailure = failure

        #expect(throws: failure) { try loop.register(4, interest: .readable, handler: Recorder()) }
        #expect(loop.interest(of: 4) == nil)
        try loop.register(4, interest: .readable, handler: Recorder())
        #expect(loop.interest(of: 4) == .readable)
    }
}
