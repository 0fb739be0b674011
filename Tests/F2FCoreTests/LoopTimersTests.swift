import F2FBase
import F2FCore
import Testing

/// The scheduling rules both loops share, on plain instants (the epoll loop's wall-time tests
/// keep only a smoke test that its waits end at these deadlines).
@Suite struct LoopTimersTests {
    private let t0 = Instant(nanoseconds: 1_000_000_000)

    @Test func theEarliestDeadlineFollowsAddsCancelsAndFiring() {
        var timers = LoopTimers()
        #expect(timers.earliestDeadline == .max)
        let far = timers.add(deadline: t0 + .seconds(3), interval: nil) {}
        let near = timers.add(deadline: t0 + .seconds(1), interval: nil) {}
        #expect(timers.earliestDeadline == (t0 + .seconds(1)).nanoseconds)

        timers.cancel(near)
        #expect(timers.earliestDeadline == (t0 + .seconds(3)).nanoseconds)

        let action = timers.fire(far, now: t0 + .seconds(3))
        #expect(action != nil)
        #expect(timers.earliestDeadline == .max)
        #expect(timers.count == 0)
    }

    @Test func dueTimersComeEarliestFirstAndTiesInOrderAdded() {
        var timers = LoopTimers()
        let late = timers.add(deadline: t0 + .seconds(2), interval: nil) {}
        let tieA = timers.add(deadline: t0 + .seconds(1), interval: nil) {}
        let tieB = timers.add(deadline: t0 + .seconds(1), interval: nil) {}
        _ = timers.add(deadline: t0 + .seconds(5), interval: nil) {}

        #expect(timers.due(now: t0) == [])
        #expect(timers.due(now: t0 + .seconds(2)) == [tieA, tieB, late])

        // The same order into a reused array, which forgets what an earlier wake-up left in it.
        var reused: [LoopTimerID] = [late, late, late, late]
        timers.due(now: t0 + .seconds(1), into: &reused)
        #expect(reused == [tieA, tieB])
        let later = timers.add(deadline: t0, interval: nil) {}
        timers.due(now: t0 + .seconds(2), into: &reused)
        #expect(reused == [later, tieA, tieB, late])
    }

    @Test func aCancelledTimerIsNotHandedOut() {
        var timers = LoopTimers()
        let id = timers.add(deadline: t0, interval: nil) {}
        timers.cancel(id)

        #expect(timers.due(now: t0 + .seconds(1)) == [])
        let action = timers.fire(id, now: t0 + .seconds(1))
        #expect(action == nil)
    }

    @Test func aRepeatingTimerMovesOnByItsIntervalWithoutCatchingUp() {
        var timers = LoopTimers()
        var runs = 0
        let id = timers.add(deadline: t0 + .milliseconds(100), interval: .milliseconds(100)) { runs += 1 }

        timers.fire(id, now: t0 + .milliseconds(100))?()
        #expect(timers.earliestDeadline == (t0 + .milliseconds(200)).nanoseconds)

        // Half a second late: it runs once and is next due now, not five more times.
        timers.fire(id, now: t0 + .milliseconds(700))?()
        #expect(timers.earliestDeadline == (t0 + .milliseconds(700)).nanoseconds)
        #expect(timers.due(now: t0 + .milliseconds(700)) == [id])
        #expect(runs == 2)
    }

    @Test func aOneShotTimerFiresOnce() {
        var timers = LoopTimers()
        var runs = 0
        let id = timers.add(deadline: t0, interval: nil) { runs += 1 }

        timers.fire(id, now: t0)?()
        timers.fire(id, now: t0)?()

        #expect(runs == 1)
        #expect(timers.count == 0)
    }
}
