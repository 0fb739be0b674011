import F2FBase
import F2FCore
import Testing

@Suite struct PathMonitorTests {
    static func at(_ milliseconds: Int64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    @Test func rttEstimatorFollowsRFC6298() {
        var rtt = RTTEstimator()
        #expect(rtt.retransmissionTimeout == .seconds(1))
        rtt.add(sample: .milliseconds(100))
        #expect(rtt.smoothed == .milliseconds(100))
        #expect(rtt.variation == .milliseconds(50))
        #expect(rtt.retransmissionTimeout == .milliseconds(300))
        rtt.add(sample: .milliseconds(200))
        #expect(rtt.variation == .microseconds(62_500))
        #expect(rtt.smoothed == .microseconds(112_500))
        #expect(rtt.retransmissionTimeout == .microseconds(362_500))
    }

    @Test func rttEstimatorIsBounded() {
        var fast = RTTEstimator()
        for _ in 0..<100 { fast.add(sample: .microseconds(50)) }
        #expect(fast.retransmissionTimeout == .milliseconds(20))
        var slow = RTTEstimator()
        slow.add(sample: .seconds(30))
        #expect(slow.retransmissionTimeout == .seconds(10))
    }

    /// Runs `monitor` on 1 ms steps from `start` to `end`; the peer echoes each probe after
    /// `rtt(now)` unless `answers(sequence, now)` says no. Returns when it was declared dead.
    static func run(
        _ monitor: inout PathMonitor, from start: Int64, to end: Int64, rtt: (Int64) -> Int64,
        answers: (UInt32, Int64) -> Bool = { _, _ in true }, probes: inout Int
    ) -> Int64? {
        var inFlight: [(sequence: UInt32, arrival: Int64)] = []
        for now in start...end {
            for echo in inFlight where echo.arrival == now { monitor.probeAnswered(sequence: echo.sequence, now: at(now)) }
            inFlight.removeAll { $0.arrival <= now }
            switch monitor.tick(now: at(now)) {
            case .sendProbe(let sequence)?:
                probes += 1
                if answers(sequence, now) { inFlight.append((sequence, now + rtt(now))) }
            case .declareDead?: return now
            case nil: break
            }
        }
        return nil
    }

    @Test func aSilentLinkWithASmallRTTIsDeadWithinASecond() {
        var monitor = PathMonitor(now: Self.at(0))
        var probes = 0
        #expect(Self.run(&monitor, from: 0, to: 5_000, rtt: { _ in 20 }, probes: &probes) == nil)
        let smoothed = monitor.rtt.smoothed!
        #expect(smoothed >= .milliseconds(19) && smoothed <= .milliseconds(21))
        // An idle link probes a few times a second, not every RTT.
        #expect(probes >= 10 && probes <= 30)
        #expect(monitor.lossRate(now: Self.at(5_000)) == 0)
        // The peer vanishes: its last echo came at most one probe spacing before 5 000 ms.
        let lastHeard = 5_000 - monitor.probeSpacing.nanoseconds / 1_000_000
        let dead = Self.run(&monitor, from: 5_001, to: 10_000, rtt: { _ in 20 }, answers: { _, _ in false }, probes: &probes)
        #expect(dead.map { $0 - lastHeard <= 1_000 } == true)
        #expect(monitor.isDead)
        #expect(monitor.tick(now: Self.at(10_000)) == nil)
        monitor.received(now: Self.at(10_000))
        #expect(!monitor.isDead)
    }

    @Test func deathIsDeclaredExactlyAtDeadAfter() {
        var monitor = PathMonitor(now: Self.at(0))
        monitor.addRTTSample(.milliseconds(10))
        monitor.received(now: Self.at(100))
        #expect(monitor.deadAfter == .milliseconds(800))
        #expect(monitor.nextDeadline == Self.at(300))
        var probes = 0
        #expect(Self.run(&monitor, from: 100, to: 2_000, rtt: { _ in 10 }, answers: { _, _ in false }, probes: &probes) == 900)
        #expect(probes == 3)  // at 300, 500, 700 ms
        #expect(monitor.lossRate(now: Self.at(900)) == 1)
    }

    @Test func aLinkThatGrowsSlowIsNotDeclaredDead() {
        var monitor = PathMonitor(now: Self.at(0))
        var probes = 0
        // 20 ms for ten seconds, then a step to 400 ms, then a climb to 2.5 s.
        let rtt: (Int64) -> Int64 = { now in now < 10_000 ? 20 : now < 20_000 ? 400 : min(400 + (now - 20_000) / 10, 2_500) }
        #expect(Self.run(&monitor, from: 0, to: 60_000, rtt: rtt, probes: &probes) == nil)
        #expect(monitor.deadAfter > .seconds(5))
        #expect(monitor.deadAfter <= monitor.configuration.maximumDeadAfter)
    }

    @Test func deadAfterGrowsWithTheRTTUpToItsBound() {
        var monitor = PathMonitor(now: Self.at(0))
        monitor.addRTTSample(.milliseconds(500))
        #expect(monitor.deadAfter == .milliseconds(500 + 4 * 250) * 4)
        for _ in 0..<20 { monitor.addRTTSample(.seconds(8)) }
        #expect(monitor.deadAfter == .seconds(10))
    }

    @Test func aBusyLinkSendsNoProbes() {
        var monitor = PathMonitor(now: Self.at(0))
        for now in Int64(0)...3_000 {
            if now % 10 == 0 { monitor.received(now: Self.at(now)) }
            #expect(monitor.tick(now: Self.at(now)) == nil)
        }
    }

    @Test func lossIsEstimatedFromUnansweredProbes() {
        var monitor = PathMonitor(now: Self.at(0))
        var probes = 0
        let dead = Self.run(&monitor, from: 0, to: 20_000, rtt: { _ in 30 }, answers: { sequence, _ in sequence % 4 != 0 }, probes: &probes)
        #expect(dead == nil)
        let loss = monitor.lossRate(now: Self.at(20_000))!
        #expect(loss >= 0.2 && loss <= 0.3)
    }
}
