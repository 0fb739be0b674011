import F2FBase
import F2FCore
import F2FPosix
import Testing

/// Timers bound how long the loop waits: the nearest deadline wakes it, a cancelled or fired
/// one no longer does, and one added by a timer's own action is waited for.
@Suite struct EventLoopTimerTests {
    /// A wait the tests never expect to reach: hitting it means a timer was missed.
    private let patience: Duration = .seconds(5)

    @Test func theNearestOfSeveralTimersEndsTheWait() throws {
        let loop = try EpollEventLoop()
        var fired: [String] = []
        loop.schedule(after: .seconds(3)) { fired.append("far") }
        loop.schedule(after: .milliseconds(20)) { fired.append("near") }

        let waited = elapsed { loop.runOnce(maximumWait: patience) }

        #expect(fired == ["near"])
        #expect(waited >= .milliseconds(20))
        #expect(waited < .seconds(2))
    }

    @Test func aCancelledTimerNeitherFiresNorEndsTheWait() throws {
        let loop = try EpollEventLoop()
        var fired = false
        let timer = loop.schedule(after: .milliseconds(10)) { fired = true }
        loop.cancelTimer(timer)

        let waited = elapsed { loop.runOnce(maximumWait: .milliseconds(200)) }

        #expect(!fired)
        #expect(waited >= .milliseconds(200))
    }

    @Test func aRepeatingTimerEndsEveryWait() throws {
        let loop = try EpollEventLoop()
        var count = 0
        loop.scheduleRepeating(every: .milliseconds(15)) { count += 1 }

        let waited = elapsed {
            for _ in 0..<3 { loop.runOnce(maximumWait: patience) }
        }

        #expect(count == 3)
        #expect(waited >= .milliseconds(45))
        #expect(waited < .seconds(2))
    }

    @Test func aTimerAddedByATimerIsWaitedFor() throws {
        let loop = try EpollEventLoop()
        var fired: [String] = []
        loop.schedule(after: .zero) {
            fired.append("first")
            loop.schedule(after: .milliseconds(20)) { fired.append("second") }
        }

        loop.runOnce(maximumWait: patience)
        #expect(fired == ["first"])
        let waited = elapsed { loop.runOnce(maximumWait: patience) }

        #expect(fired == ["first", "second"])
        #expect(waited < .seconds(2))
    }

    @Test func aFiredTimerNoLongerEndsTheWait() throws {
        let loop = try EpollEventLoop()
        loop.schedule(after: .zero) {}
        loop.runOnce(maximumWait: patience)

        let waited = elapsed { loop.runOnce(maximumWait: .milliseconds(200)) }

        #expect(waited >= .milliseconds(200))
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
