import F2FBase
import F2FCore
import F2FTesting
import F2FTransportTCP
import Logging
import Testing

/// The dialler on virtual time: redials follow the capped, jittered backoff, a link that came
/// up starts it over, a removed entry is never dialled again, and an entry never has two dials
/// at once.
@Suite struct PeerDialerTests {
    /// A dialler whose connector either refuses or hands out one end of a `ConnectionPair`
    /// whose other end a second node accepts.
    private final class Rig {
        let loop = ManualEventLoop()
        let node: F2FNode
        let friend: F2FNode
        var refuses = true
        private(set) var dialTimes: [Instant] = []
        private(set) var pairs: [ConnectionPair] = []
        private(set) var overlappingDials = 0
        private(set) var dialer: PeerDialer!
        let address = TCPAddress(parsing: "127.0.0.1:4000")!

        init() {
            let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            node = F2FNode(nodeID: 0xA1FA, name: "alpha", logger: quiet, now: { [loop] in loop.now })
            friend = F2FNode(nodeID: 0xBE7A, name: "beta", logger: quiet, now: { [loop] in loop.now })
            dialer = PeerDialer(node: node, loop: loop, logger: quiet) { [unowned self] _ throws(ConnectionError) -> any Connection in
                try dial()
            }
        }

        private func dial() throws(ConnectionError) -> any Connection {
            dialTimes.append(loop.now)
            // A dial while an earlier link still counts as open would be a second one at once.
            if !node.peers.isEmpty { overlappingDials += 1 }
            if refuses { throw ConnectionError.system(errno: 111, operation: "connect") }
            let pair = ConnectionPair()
            pairs.append(pair)
            return pair.a
        }

        /// The friend accepts the last dial's connection and the hellos cross.
        func completeLastDial() {
            let pair = pairs[pairs.count - 1]
            friend.acceptIncoming(pair.b)
            pair.a.establish()
            pair.pump()
        }

        var entry: PeerDialer.Entry { dialer.entries[0] }

        /// When the entry's redial is due, or nil when it is not waiting.
        var redialAt: Instant? {
            if case .waiting(let until) = entry.state { until } else { nil }
        }
    }

    /// The backoff's nominal delay before redial `attempt` (0-based), ±20 % jitter aside.
    private func nominalDelay(attempt: Int) -> Int64 {
        min(100_000_000 << min(attempt, 20), 5_000_000_000)
    }

    private func expectWithinJitter(_ delay: Duration, attempt: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let nominal = Double(nominalDelay(attempt: attempt))
        let nanoseconds = Double(delay.nanoseconds)
        #expect(nanoseconds >= nominal * 0.8 - 1 && nanoseconds <= nominal * 1.2, "attempt \(attempt): \(delay)", sourceLocation: sourceLocation)
    }

    @Test func refusedDialsAreRetriedOnTheBackoffSchedule() throws {
        let rig = Rig()
        rig.dialer.add(rig.address)
        #expect(rig.dialTimes.count == 1)

        for attempt in 0..<10 {
            let due = try #require(rig.redialAt)
            expectWithinJitter(due - rig.loop.now, attempt: attempt)
            #expect(rig.entry.reconnects == attempt + 1)

            rig.loop.advance(to: Instant(nanoseconds: due.nanoseconds - 1))
            #expect(rig.dialTimes.count == attempt + 1, "redialled early")
            rig.loop.advance(by: .nanoseconds(1))
            #expect(rig.dialTimes.count == attempt + 2)
            #expect(rig.dialTimes.last == due)
        }
        #expect(rig.overlappingDials == 0)
        #expect(rig.loop.timerCount == 1)
    }

    @Test func aLinkThatCameUpStartsTheBackoffOver() throws {
        let rig = Rig()
        rig.dialer.add(rig.address)
        for _ in 0..<4 { rig.loop.advance(to: try #require(rig.redialAt)) }
        expectWithinJitter(try #require(rig.redialAt) - rig.loop.now, attempt: 4)

        rig.refuses = false
        rig.loop.advance(to: try #require(rig.redialAt))
        rig.completeLastDial()
        #expect(rig.entry.state == .connected)
        #expect(rig.loop.timerCount == 0)

        // The link dies: the redial waits the first delay again, not the fifth.
        rig.pairs[0].a.signalClosed(error: ConnectionError.system(errno: 104, operation: "read"))
        let due = try #require(rig.redialAt)
        expectWithinJitter(due - rig.loop.now, attempt: 0)
        #expect(rig.entry.lastError != nil)

        let dials = rig.dialTimes.count
        rig.loop.advance(to: due)
        #expect(rig.dialTimes.count == dials + 1)
        #expect(rig.overlappingDials == 0)
    }

    @Test func aRemovedEntryIsNeverDialledAgain() throws {
        let rig = Rig()
        let id = rig.dialer.add(rig.address)
        rig.loop.advance(to: try #require(rig.redialAt))
        let dials = rig.dialTimes.count

        #expect(rig.dialer.remove(id: id))
        #expect(rig.loop.timerCount == 0)
        rig.loop.advance(by: .seconds(60))

        #expect(rig.dialTimes.count == dials)
        #expect(rig.dialer.entries.isEmpty)
        #expect(!rig.dialer.remove(id: id))
    }

    @Test func removingAConnectedEntryClosesItsLinkWithoutARedial() throws {
        let rig = Rig()
        rig.refuses = false
        let id = rig.dialer.add(rig.address)
        rig.completeLastDial()
        #expect(rig.entry.state == .connected)
        #expect(rig.node.peers.count == 1)

        rig.dialer.remove(id: id)

        #expect(rig.node.peers.isEmpty)
        #expect(rig.pairs[0].a.isClosed)
        rig.loop.advance(by: .seconds(60))
        #expect(rig.dialTimes.count == 1)
        #expect(rig.loop.timerCount == 0)
    }

    @Test func eachEntryHasOneDialAtATime() throws {
        let rig = Rig()
        rig.refuses = false
        rig.dialer.add(rig.address)
        // A dial that never completes is not redialled over: no timer runs for it.
        #expect(rig.entry.state == .dialing)
        #expect(rig.loop.timerCount == 0)
        rig.loop.advance(by: .seconds(60))
        #expect(rig.dialTimes.count == 1)

        // It fails: exactly one redial is scheduled, and it comes once.
        rig.pairs[0].a.signalClosed(error: ConnectionError.system(errno: 110, operation: "connect"))
        #expect(rig.loop.timerCount == 1)
        rig.loop.advance(by: .seconds(60))
        #expect(rig.dialTimes.count == 2)
        #expect(rig.overlappingDials == 0)
    }
}
