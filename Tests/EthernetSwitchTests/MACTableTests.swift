import EthernetSwitch
import F2FBase
import Testing

@Suite struct MACTableTests {
    let a = MACAddress(parsing: "02:00:00:00:00:0a")!
    let b = MACAddress(parsing: "02:00:00:00:00:0b")!
    let start = Instant(nanoseconds: 10_000_000_000)

    @Test func learnsRefreshesAndMoves() {
        var table = MACTable(capacity: 8, agingTime: .seconds(300))
        #expect(table.learn(a, vlanID: 0, port: 1, now: start) == .learned)
        #expect(table.learn(a, vlanID: 0, port: 1, now: start) == .refreshed)
        #expect(table.lookup(a, vlanID: 0, now: start) == 1)
        #expect(table.learn(a, vlanID: 0, port: 3, now: start + .seconds(1)) == .moved(from: 1))
        #expect(table.lookup(a, vlanID: 0, now: start + .seconds(1)) == 3)
        #expect(table.count == 1)
    }

    @Test func vlansAreSeparateKeys() {
        var table = MACTable(capacity: 8, agingTime: .seconds(300))
        table.learn(a, vlanID: 0, port: 1, now: start)
        table.learn(a, vlanID: 42, port: 2, now: start)
        #expect(table.lookup(a, vlanID: 0, now: start) == 1)
        #expect(table.lookup(a, vlanID: 42, now: start) == 2)
        #expect(table.lookup(a, vlanID: 7, now: start) == nil)
    }

    @Test func agedEntriesAreHiddenThenSwept() {
        var table = MACTable(capacity: 8, agingTime: .seconds(300))
        table.learn(a, vlanID: 0, port: 1, now: start)
        table.learn(b, vlanID: 0, port: 2, now: start + .seconds(200))
        #expect(table.lookup(a, vlanID: 0, now: start + .seconds(299)) == 1)
        #expect(table.lookup(a, vlanID: 0, now: start + .seconds(300)) == nil)
        #expect(table.count == 2)  // hidden, not yet swept
        #expect(table.expire(now: start + .seconds(300)) == 1)
        #expect(table.count == 1)
        #expect(table.lookup(b, vlanID: 0, now: start + .seconds(300)) == 2)
    }

    @Test func refreshingKeepsAnEntryAlive() {
        var table = MACTable(capacity: 8, agingTime: .seconds(10))
        for second in stride(from: 0, through: 60, by: 5) {
            table.learn(a, vlanID: 0, port: 1, now: start + .seconds(second))
            table.expire(now: start + .seconds(second))
        }
        #expect(table.lookup(a, vlanID: 0, now: start + .seconds(69)) == 1)
    }

    @Test func fullTableRefusesNewStationsButKeepsOldOnes() {
        var table = MACTable(capacity: 2, agingTime: .seconds(300))
        table.learn(a, vlanID: 0, port: 1, now: start)
        table.learn(b, vlanID: 0, port: 2, now: start)
        let c = MACAddress(parsing: "02:00:00:00:00:0c")!
        #expect(table.learn(c, vlanID: 0, port: 3, now: start) == .refusedTableFull)
        #expect(table.refusedCount == 1)
        #expect(table.lookup(c, vlanID: 0, now: start) == nil)
        #expect(table.lookup(a, vlanID: 0, now: start) == 1)
        // A known station still moves when the table is full.
        #expect(table.learn(a, vlanID: 0, port: 4, now: start) == .moved(from: 1))
    }

    @Test func aPortAtItsLimitLearnsNoMoreWhileOthersStillDo() {
        var table = MACTable(capacity: 100, agingTime: .seconds(300))
        let flood = (1...10).map { MACAddress(rawValue: 0x0200_0000_1000 + UInt64($0)) }
        let outcomes = flood.map { table.learn($0, vlanID: 0, port: 1, now: start, portLimit: 4) }
        #expect(outcomes.filter { $0 == .learned }.count == 4)
        #expect(outcomes.filter { $0 == .refusedPortFull }.count == 6)
        #expect(table.portLimitRefusedCount == 6)
        #expect(table.stations(onPort: 1) == 4)
        #expect(table.learn(a, vlanID: 0, port: 2, now: start, portLimit: 4) == .learned)
        // A known station still refreshes at the limit; one moving onto a full port is forgotten.
        #expect(table.learn(flood[0], vlanID: 0, port: 1, now: start, portLimit: 4) == .refreshed)
        #expect(table.learn(a, vlanID: 0, port: 1, now: start, portLimit: 4) == .refusedPortFull)
        #expect(table.lookup(a, vlanID: 0, now: start) == nil)
        #expect(table.stations(onPort: 2) == 0)
        // Aging frees the port's share.
        #expect(table.expire(now: start + .seconds(301)) == 4)
        #expect(table.stations(onPort: 1) == 0)
        #expect(table.learn(flood[9], vlanID: 0, port: 1, now: start + .seconds(301), portLimit: 4) == .learned)
    }

    @Test func removingAPortTakesOnlyItsEntries() {
        var table = MACTable(capacity: 8, agingTime: .seconds(300))
        table.learn(a, vlanID: 0, port: 1, now: start)
        table.learn(b, vlanID: 0, port: 2, now: start)
        #expect(table.removeEntries(onPort: 1) == 1)
        #expect(table.lookup(a, vlanID: 0, now: start) == nil)
        #expect(table.lookup(b, vlanID: 0, now: start) == 2)
    }

    @Test func stationsListsLiveEntriesSorted() {
        var table = MACTable(capacity: 8, agingTime: .seconds(300))
        table.learn(b, vlanID: 0, port: 2, now: start)
        table.learn(a, vlanID: 0, port: 1, now: start + .seconds(5))
        let stations = table.stations(now: start + .seconds(10))
        #expect(stations.map(\.address) == [a, b])
        #expect(stations.map(\.age) == [.seconds(5), .seconds(10)])
    }
}

@Suite struct MACTablePeerShareTests {
    let start = Instant(nanoseconds: 10_000_000_000)

    func station(_ index: Int) -> MACAddress {
        MACAddress(rawValue: 0x0200_0000_0000 + UInt64(index))
    }

    @Test func peerPortsTogetherHoldAtMostTheirShare() {
        var table = MACTable(capacity: 16, agingTime: .seconds(300))
        table.peerCapacity = 3
        #expect(table.learn(station(1), vlanID: 0, port: 5, now: start, onPeerPort: true) == .learned)
        #expect(table.learn(station(2), vlanID: 0, port: 6, now: start, onPeerPort: true) == .learned)
        #expect(table.learn(station(3), vlanID: 0, port: 6, now: start, onPeerPort: true) == .learned)
        #expect(table.learn(station(4), vlanID: 0, port: 7, now: start, onPeerPort: true) == .refusedPeerShareFull)
        #expect(table.peerShareRefusedCount == 1)
        #expect(table.peerStationCount == 3)
        // Local clients still learn, and a station moving between peer ports keeps its place.
        #expect(table.learn(station(5), vlanID: 0, port: 1, now: start) == .learned)
        #expect(table.learn(station(2), vlanID: 0, port: 5, now: start, onPeerPort: true) == .moved(from: 6))
        #expect(table.peerStationCount == 3)
        // A live local station is not handed to a peer at all; once aged, moving it to a full
        // peer share forgets it (its traffic floods).
        #expect(table.learn(station(5), vlanID: 0, port: 7, now: start, onPeerPort: true) == .refusedProtected)
        #expect(table.learn(station(5), vlanID: 0, port: 7, now: start + .seconds(300), onPeerPort: true) == .refusedPeerShareFull)
        #expect(table.lookup(station(5), vlanID: 0, now: start) == nil)
        // A peer leaving frees its share.
        #expect(table.removeEntries(onPort: 6) == 1)
        #expect(table.peerStationCount == 2)
        #expect(table.learn(station(4), vlanID: 0, port: 7, now: start, onPeerPort: true) == .learned)
    }

    @Test func agingAndClearingReleaseThePeerShare() {
        var table = MACTable(capacity: 16, agingTime: .seconds(10))
        table.peerCapacity = 2
        table.learn(station(1), vlanID: 0, port: 5, now: start, onPeerPort: true)
        // A local station heard from a peer only after it aged (a live one is protected).
        table.learn(station(2), vlanID: 0, port: 1, now: start)
        #expect(table.learn(station(2), vlanID: 0, port: 5, now: start + .seconds(10), onPeerPort: true) == .moved(from: 1))
        #expect(table.peerStationCount == 2)
        #expect(table.expire(now: start + .seconds(10)) == 1)
        #expect(table.peerStationCount == 1)
        table.removeAll()
        #expect(table.peerStationCount == 0)
        #expect(table.learn(station(3), vlanID: 0, port: 5, now: start, onPeerPort: true) == .learned)
    }
}
