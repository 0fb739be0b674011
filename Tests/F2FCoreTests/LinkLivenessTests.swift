import F2FBase
import F2FCore
import Testing

/// `LinkLiveness` on virtual time: two ends exchanging keepalives (pings and echoes) over a
/// simulated stream whose one-way delay the test chooses per millisecond, and optionally a
/// datagram path reporting when it last heard the friend.
@Suite struct LinkLivenessTests {
    static func at(_ milliseconds: Int64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    /// Both ends of one link, stepped 1 ms at a time and ticked every 50 ms (as `F2FNode` is).
    struct Link {
        var ends: [LinkLiveness]
        /// Keepalives on the wire: (to end, arrival ms, payload).
        var inFlight: [(to: Int, arrival: Int64, ping: UInt32?, echo: UInt32?)] = []
        var now: Int64 = 0
        var keepalivesSent = [0, 0]
        var deaths: [(end: Int, at: Int64, silence: Duration)] = []

        init(configuration: LinkLiveness.Configuration = .init()) {
            ends = [LinkLiveness(configuration: configuration, now: LinkLivenessTests.at(0)), LinkLiveness(configuration: configuration, now: LinkLivenessTests.at(0))]
        }

        /// Runs to `end` ms; `oneWay(now)` is the stream's delay (nil: the stream drops
        /// everything, a silent block); `datagramHeard(end, now)` what the datagram path reports.
        mutating func run(
            to end: Int64, oneWay: (Int64) -> Int64?,
            datagramReport: (Int, Int64) -> LinkLiveness.DatagramReport? = { _, _ in nil }
        ) {
            while now < end {
                now += 1
                let instant = LinkLivenessTests.at(now)
                var arrived: [(to: Int, ping: UInt32?, echo: UInt32?)] = []
                inFlight.removeAll { packet in
                    guard packet.arrival <= now else { return false }
                    arrived.append((packet.to, packet.ping, packet.echo))
                    return true
                }
                for packet in arrived {
                    ends[packet.to].heard(at: instant, onStream: true)
                    if let echo = packet.echo { ends[packet.to].pingAnswered(sequence: echo, now: instant) }
                    if let ping = packet.ping { send(from: packet.to, ping: nil, echo: ping, oneWay: oneWay) }
                }
                guard now % 50 == 0 else { continue }
                for end in 0..<2 where deaths.allSatisfy({ $0.end != end }) {
                    if let report = datagramReport(end, now) { ends[end].update(report) }
                    switch ends[end].tick(now: instant) {
                    case .sendKeepalive(let ping)?:
                        keepalivesSent[end] += 1
                        send(from: end, ping: ping, echo: nil, oneWay: oneWay)
                    case .declareDead(let silence)?:
                        deaths.append((end, now, silence))
                    case nil:
                        break
                    }
                }
            }
        }

        private mutating func send(from end: Int, ping: UInt32?, echo: UInt32?, oneWay: (Int64) -> Int64?) {
            guard let delay = oneWay(now) else { return }
            // A stream delivers in order: nothing overtakes what was sent before it.
            let last = inFlight.filter { $0.to == 1 - end }.map(\.arrival).max() ?? 0
            inFlight.append((1 - end, max(now + delay, last), ping, echo))
        }
    }

    @Test func aSilentlyBlockedFastLinkIsDeadWithinASecond() throws {
        var link = Link()
        link.run(to: 5_000, oneWay: { _ in 1 })
        #expect(link.deaths.isEmpty)
        #expect(link.ends[0].deadAfter == .milliseconds(800))
        #expect(link.ends[0].keepaliveSpacing == .milliseconds(200))
        // About five keepalives a second each way, not one per RTT.
        #expect(link.keepalivesSent[0] >= 20 && link.keepalivesSent[0] <= 30)
        link.run(to: 8_000, oneWay: { _ in nil })
        #expect(link.deaths.count == 2)
        for death in link.deaths {
            #expect(death.at - 5_000 <= 1_000, "declared dead \(death.at - 5_000) ms after the block")
            #expect(death.at - 5_000 >= 600)
            #expect(death.silence >= .milliseconds(800) && death.silence < .milliseconds(900))
        }
    }

    @Test func aLinkWhoseRTTRoseTo300msIsNotDead() {
        var link = Link()
        link.run(to: 3_000, oneWay: { _ in 1 })
        // A sudden jump of the RTT from 2 ms to 300 ms (a congested or rerouted path)…
        link.run(to: 10_000, oneWay: { _ in 150 })
        // …then a climb to 1.2 s, where it stays.
        link.run(to: 30_000, oneWay: { now in 150 + (now - 10_000) * 450 / 20_000 })
        link.run(to: 60_000, oneWay: { _ in 600 })
        #expect(link.deaths.isEmpty)
        let smoothed = link.ends[0].rtt.smoothed ?? .zero
        #expect(smoothed >= .milliseconds(1_100), "\(smoothed)")
        #expect(link.ends[0].deadAfter == .seconds(3), "bounded by the liveness interval")
        // Still dead when it then goes silent (what was on the wire still arrives), within
        // the longest allowance.
        link.run(to: 65_000, oneWay: { _ in nil })
        #expect(link.deaths.count == 2)
        #expect(link.deaths.allSatisfy { $0.at - 60_000 <= 3_700 })
    }

    @Test func aSlowPathGetsALongerAllowanceThanAFastOne() {
        var link = Link()
        link.run(to: 10_000, oneWay: { _ in 150 })
        #expect(link.deaths.isEmpty)
        let deadAfter = link.ends[0].deadAfter
        #expect(deadAfter >= .milliseconds(1_200) && deadAfter < .seconds(3), "\(deadAfter)")
        #expect(link.ends[0].keepaliveSpacing == deadAfter / 4)
    }

    @Test func jitterOnAFastPathIsNotDeath() {
        var link = Link()
        var random = SplitMix64(seed: 15)
        // A stream that stalls now and then for up to 450 ms (a TCP retransmission).
        link.run(to: 60_000, oneWay: { _ in random.next() % 20 == 0 ? Int64(random.next() % 450) : 1 })
        #expect(link.deaths.isEmpty)
    }

    @Test func datagramsKeepALinkAliveWhoseStreamStalls() {
        var link = Link()
        link.run(to: 2_000, oneWay: { _ in 1 })
        // The stream stalls for 2 s while the datagram path hears the friend every 250 ms.
        let report: (Int, Int64) -> LinkLiveness.DatagramReport? = { _, now in
            LinkLiveness.DatagramReport(lastHeard: LinkLivenessTests.at(now - now % 250), retransmissionTimeout: .milliseconds(20))
        }
        link.run(to: 4_000, oneWay: { _ in nil }, datagramReport: report)
        #expect(link.deaths.isEmpty)
        // But not for ever: the spanning tree's BPDUs travel on the stream.
        link.run(to: 5_100, oneWay: { _ in nil }, datagramReport: report)
        #expect(link.deaths.count == 2)
        #expect(link.deaths.allSatisfy { $0.at >= 4_800 && $0.at <= 5_050 }, "3 s after the stream's last packet")
    }

    @Test func aSilentDatagramPathDoesNotKillALiveStream() {
        var link = Link()
        // UDP blocked: the datagram path last heard the friend at 0 ms and has a small RTO.
        link.run(to: 10_000, oneWay: { _ in 2 }, datagramReport: { _, _ in
            LinkLiveness.DatagramReport(lastHeard: LinkLivenessTests.at(0), retransmissionTimeout: .milliseconds(20))
        })
        #expect(link.deaths.isEmpty)
    }

    @Test func aDatagramPathWithALargerRTTWidensTheAllowance() {
        var liveness = LinkLiveness(now: Self.at(0))
        #expect(liveness.deadAfter == .seconds(3), "nothing measured yet: the longest allowance")
        #expect(liveness.keepaliveSpacing == .milliseconds(500))
        liveness.update(LinkLiveness.DatagramReport(lastHeard: nil, retransmissionTimeout: .milliseconds(400)))
        #expect(liveness.deadAfter == .milliseconds(1_600))
        liveness.update(LinkLiveness.DatagramReport(lastHeard: nil, retransmissionTimeout: .milliseconds(20)))
        #expect(liveness.deadAfter == .milliseconds(800))
    }

    @Test func aLostPingIsAskedAgainAndAnEchoOfAnotherIsIgnored() {
        var liveness = LinkLiveness(now: Self.at(0))
        #expect(liveness.tick(now: Self.at(0)) == .sendKeepalive(ping: 0))
        liveness.heard(at: Self.at(400), onStream: true)
        #expect(liveness.tick(now: Self.at(500)) == .sendKeepalive(ping: nil), "ping 0 still outstanding")
        liveness.pingAnswered(sequence: 7, now: Self.at(600))
        #expect(liveness.rtt.smoothed == nil)
        liveness.heard(at: Self.at(2_900), onStream: true)
        var sent: [LinkLiveness.Action] = []
        for now in stride(from: Int64(550), through: 3_100, by: 50) {
            if let action = liveness.tick(now: Self.at(now)) { sent.append(action) }
        }
        #expect(sent.contains(.sendKeepalive(ping: 1)), "after the longest silence the ping counts as lost: \(sent)")
        liveness.pingAnswered(sequence: 1, now: Self.at(3_050))
        #expect(liveness.rtt.smoothed != nil)
    }

    @Test func nextDeadlineNamesTheNextKeepaliveOrDeath() {
        var liveness = LinkLiveness(now: Self.at(0))
        #expect(liveness.nextDeadline == Self.at(0))
        _ = liveness.tick(now: Self.at(0))
        #expect(liveness.nextDeadline == Self.at(500))
        liveness.heard(at: Self.at(10), onStream: true)
        liveness.pingAnswered(sequence: 0, now: Self.at(10))
        #expect(liveness.nextDeadline == Self.at(200))
        #expect(liveness.tick(now: Self.at(810)) == .declareDead(silence: .milliseconds(800)))
        #expect(liveness.nextDeadline == nil)
        #expect(liveness.tick(now: Self.at(900)) == nil, "declared once")
    }
}

/// A seeded generator for reproducible jitter.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
