import F2FBase
import Testing

@testable import SwitchRuntime

/// The back-pressure and stall policy of one egress port, on explicit instants.
@Suite struct EgressBackPressureTests {
    let start = Instant(nanoseconds: 1_000_000_000)
    let timeout = Duration.milliseconds(100)

    @Test func aBackedUpPortHoldsItsSourcesAnEmptyOneDoesNot() {
        let port = EgressBackPressure()
        #expect(port.holdsSources(isBackedUp: true))
        #expect(!port.holdsSources(isBackedUp: false))
    }

    @Test func drainingResumesEverySourceInOrderAndForgetsThem() {
        var port = EgressBackPressure()
        port.paused(3, now: start)
        port.paused(1, now: start + .milliseconds(10))
        #expect(port.pausedSources == [3, 1])
        var resumed: [Int] = []
        port.drained { resumed.append($0) }
        #expect(resumed == [3, 1])
        #expect(port.pausedSources.isEmpty)
        #expect(port.waitingSince == nil)
        // A second drain has no one left to resume.
        port.drained { resumed.append($0) }
        #expect(resumed == [3, 1])
    }

    @Test func theWaitCountsFromTheFirstPausedSource() {
        var port = EgressBackPressure()
        port.paused(2, now: start)
        port.paused(5, now: start + .milliseconds(90))
        #expect(port.waitingSince == start)
        var resumed: [Int] = []
        // 99 ms after the first pause: not yet stalled, whatever the second source's wait.
        #expect(!port.checkStall(now: start + .milliseconds(99), timeout: timeout) { resumed.append($0) })
        #expect(resumed.isEmpty)
        #expect(!port.isStalled)
        #expect(port.checkStall(now: start + timeout, timeout: timeout) { resumed.append($0) })
        #expect(resumed == [2, 5])
        #expect(port.isStalled)
    }

    @Test func aStalledPortNoLongerHoldsSourcesUntilItDrains() {
        var port = EgressBackPressure()
        port.paused(4, now: start)
        _ = port.checkStall(now: start + .seconds(1), timeout: timeout) { _ in }
        #expect(port.isStalled)
        #expect(!port.holdsSources(isBackedUp: true))
        // Being stalled is reported once: no one waits now, so nothing is left to release.
        #expect(!port.checkStall(now: start + .seconds(2), timeout: timeout) { _ in Issue.record("nothing to resume") })
        port.drained { _ in Issue.record("nothing to resume") }
        #expect(!port.isStalled)
        #expect(port.holdsSources(isBackedUp: true))
    }

    @Test func aPortNobodyWaitsOnNeverStalls() {
        var port = EgressBackPressure()
        #expect(!port.checkStall(now: start + .seconds(60), timeout: timeout) { _ in })
        #expect(!port.isStalled)
        // Waiting starts again from the next pause after a drain.
        port.paused(1, now: start)
        port.drained { _ in }
        port.paused(1, now: start + .seconds(10))
        #expect(!port.checkStall(now: start + .seconds(10) + .milliseconds(50), timeout: timeout) { _ in })
        #expect(port.checkStall(now: start + .seconds(10) + timeout, timeout: timeout) { _ in })
    }
}
