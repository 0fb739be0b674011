import F2FBase
import F2FCore
import F2FPosix
import Testing

/// A smoke test of the epoll loop's waits: the nearest timer deadline ends one. The scheduling
/// rules themselves (order, cancelling, repeating) are `LoopTimers`', tested on virtual time in
/// F2FCoreTests.
@Suite struct EventLoopTimerTests {
    /// A wait the tests never expect to reach: hitting it means a timer was missed.
    private let patience: Duration = .seconds(5)

    @Test func theNearestOfSeveralTimersEndsTheWait() throws {
        // Timed from before the loop reads its clock: deadlines count from the loop's `now`,
        // and a test preempted between the two would otherwise see the timer fire "early".
        let start = MonotonicClock.now()
        let loop = try EpollEventLoop()
        var fired: [String] = []
        loop.schedule(after: .seconds(3)) { fired.append("far") }
        loop.schedule(after: .milliseconds(20)) { fired.append("near") }

        loop.runOnce(maximumWait: patience)
        let waited = MonotonicClock.now() - start

        #expect(fired == ["near"])
        #expect(waited >= .milliseconds(20))
        #expect(waited < .seconds(2))
    }

    /// A maximum wait too long to add to the clock must not hide the timer's deadline.
    @Test func anEndlessMaximumWaitStillWakesForATimer() throws {
        let loop = try EpollEventLoop()
        var fired = false
        loop.schedule(after: .milliseconds(20)) { fired = true }

        let waited = elapsed { loop.runOnce(maximumWait: .seconds(Int64.max)) }

        #expect(fired)
        #expect(waited < .seconds(2))
    }

    private func elapsed(_ body: () -> Void) -> Duration {
        let start = MonotonicClock.now()
        body()
        return MonotonicClock.now() - start
    }
}
