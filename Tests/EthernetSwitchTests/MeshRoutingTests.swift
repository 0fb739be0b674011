import EthernetSwitch
import F2FBase
import Testing

/// Link-state routing across the mesh (docs/mesh-routing.md), pure and on virtual time:
/// adverts, the database, Dijkstra, station ownership and link cost hysteresis.
@Suite struct MeshRoutingTests {
    let now = Instant(nanoseconds: 5_000_000_000)

    // MARK: Codecs

    static let sampleAdvert = MeshAdvert(
        origin: 0x0102_0304_0506_0708, sequence: 0x0A0B_0C0D,
        links: [MeshAdvert.Link(neighbour: 0x1111_2222_3333_4444, cost: 0x55)],
        stations: [MeshAdvert.stationKey(MACAddress(0x02, 0, 0, 0, 0, 0x0B), vlanID: 7)])

    static let sampleBytes: [UInt8] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // origin
        0x0A, 0x0B, 0x0C, 0x0D,  // sequence
        0x00, 0x01, 0x00, 0x01,  // one link, one station
        0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x00, 0x00, 0x00, 0x55,  // link
        0x00, 0x07, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0B,  // VLAN 7, 02:00:00:00:00:0b
    ]

    @Test func anAdvertEncodesToTheFixtureAndParsesBack() throws {
        var bytes: [UInt8] = []
        Self.sampleAdvert.encode(into: &bytes)
        #expect(bytes == Self.sampleBytes)
        #expect(Self.sampleAdvert.encodedCount == bytes.count)
        #expect(try MeshAdvert(parsing: Self.sampleBytes.span) == Self.sampleAdvert)
    }

    @Test func everyTruncatedAdvertThrows() {
        for count in 0..<Self.sampleBytes.count {
            let prefix = Array(Self.sampleBytes[..<count])
            #expect(throws: WireError.self) { try MeshAdvert(parsing: prefix.span) }
        }
    }

    @Test func moreStationsThanAnAdvertMayCarryAreRefused() {
        var bytes = Array(Self.sampleBytes[..<16])
        bytes[12] = 0
        bytes[13] = 0
        bytes[14] = UInt8(truncatingIfNeeded: (MeshAdvert.maximumStations + 1) >> 8)
        bytes[15] = UInt8(truncatingIfNeeded: MeshAdvert.maximumStations + 1)
        bytes += [UInt8](repeating: 0, count: (MeshAdvert.maximumStations + 1) * MeshAdvert.stationCount)
        #expect(throws: WireError.invalidField(name: "station count", value: UInt64(MeshAdvert.maximumStations + 1))) {
            try MeshAdvert(parsing: bytes.span)
        }
    }

    @Test func randomBuffersNeverTrap() {
        var generator = SeededGenerator(seed: 18)
        for _ in 0..<10_000 {
            let count = Int.random(in: 0..<80, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? MeshAdvert(parsing: bytes.span)
            _ = try? MeshFrameHeader(parsing: bytes.span)
        }
    }

    @Test func aMeshFrameHeaderRoundTrips() throws {
        let header = MeshFrameHeader(owner: 0xDEAD_BEEF_0000_0001, hopLimit: 3)
        var bytes: [UInt8] = []
        header.encode(into: &bytes)
        #expect(bytes == [0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 1, 3])
        #expect(try MeshFrameHeader(parsing: bytes.span) == header)
        var written = [UInt8](repeating: 0, count: 12)
        written.withUnsafeMutableBytes { header.write(to: $0) }
        #expect(Array(written[..<9]) == bytes)
        for count in 0..<bytes.count {
            #expect(throws: WireError.self) { try MeshFrameHeader(parsing: Array(bytes[..<count]).span) }
        }
    }

    // MARK: A mesh of databases

    /// Every node's database, fed adverts as flooding would deliver them.
    struct Mesh {
        var databases: [UInt64: LinkStateDatabase] = [:]
        var links: [UInt64: [UInt64: UInt32]] = [:]
        var stations: [UInt64: [UInt64]] = [:]
        let now: Instant

        init(nodes: [UInt64], now: Instant) {
            self.now = now
            for node in nodes {
                databases[node] = LinkStateDatabase(ownID: node)
                links[node] = [:]
            }
        }

        mutating func link(_ a: UInt64, _ b: UInt64, cost: UInt32 = 10) {
            links[a]?[b] = cost
            links[b]?[a] = cost
        }

        mutating func cut(_ a: UInt64, _ b: UInt64) {
            links[a]?[b] = nil
            links[b]?[a] = nil
        }

        /// `node` originates its current view; the advert reaches `reaching` (all by default).
        mutating func originate(_ node: UInt64, reaching: [UInt64]? = nil) {
            let advertLinks = (links[node] ?? [:]).map { MeshAdvert.Link(neighbour: $0.key, cost: $0.value) }
            let advert = databases[node]!.originate(links: advertLinks, stations: stations[node] ?? [], now: now)
            for other in reaching ?? Array(databases.keys) where other != node {
                _ = databases[other]!.receive(advert, now: now)
            }
        }

        mutating func originateAll() {
            for node in databases.keys.sorted() { originate(node) }
        }

        func routes(_ node: UInt64) -> MeshRoutes { databases[node]!.routes() }

        /// Where a frame for `destination` goes, hop by hop, each node using its own routes,
        /// until it arrives, finds no route or runs out of hops.
        func walk(from source: UInt64, to destination: UInt64, hopLimit: UInt8 = MeshFrameHeader.initialHopLimit) -> (path: [UInt64], arrived: Bool) {
            var path = [source]
            var node = source
            var hops = hopLimit
            while node != destination {
                guard hops > 0, let next = routes(node).nextHop[destination] else { return (path, false) }
                hops -= 1
                path.append(next)
                node = next
            }
            return (path, true)
        }
    }

    /// Five nodes in a ring, each linked to its two neighbours: 1-2-3-4-5-1.
    func ring() -> Mesh {
        var mesh = Mesh(nodes: [1, 2, 3, 4, 5], now: now)
        for (a, b) in [(1, 2), (2, 3), (3, 4), (4, 5), (5, 1)] as [(UInt64, UInt64)] { mesh.link(a, b) }
        mesh.originateAll()
        return mesh
    }

    @Test func aRingOfFiveTakesTheShorterWayRound() throws {
        let mesh = ring()
        let routes = mesh.routes(1)
        #expect(routes.nextHop == [2: 2, 3: 2, 4: 5, 5: 5])
        #expect(routes.distance == [1: 0, 2: 10, 3: 20, 4: 20, 5: 10])
        #expect(routes.path(to: 3) == [1, 2, 3])
        #expect(routes.path(to: 4) == [1, 5, 4])
        // Every node agrees with every other: each walk is a shortest path.
        for source in 1...5 as ClosedRange<UInt64> {
            for destination in 1...5 as ClosedRange<UInt64> {
                let walk = mesh.walk(from: source, to: destination)
                #expect(walk.arrived)
                let around = (Int(destination) - Int(source) + 5) % 5
                #expect(walk.path.count - 1 == min(around, 5 - around))
            }
        }
    }

    @Test func aDirectLinkBeatsTheRingWhenItIsCheaper() {
        var mesh = ring()
        mesh.link(1, 3, cost: 15)
        mesh.originate(1)
        mesh.originate(3)
        #expect(mesh.routes(1).nextHop[3] == 3)
        #expect(mesh.walk(from: 4, to: 1).path == [4, 5, 1])
        // Dearer than two hops: the ring again.
        mesh.link(1, 3, cost: 25)
        mesh.originate(1)
        mesh.originate(3)
        #expect(mesh.routes(1).nextHop[3] == 2)
    }

    @Test func cuttingALinkMovesTrafficTheOtherWayRound() {
        var mesh = ring()
        #expect(mesh.walk(from: 1, to: 3).path == [1, 2, 3])
        mesh.cut(2, 3)
        mesh.originate(2)
        mesh.originate(3)
        #expect(mesh.walk(from: 1, to: 3).path == [1, 5, 4, 3])
        #expect(mesh.walk(from: 2, to: 3).path == [2, 1, 5, 4, 3])
        mesh.link(2, 3)
        mesh.originate(2)
        mesh.originate(3)
        #expect(mesh.walk(from: 1, to: 3).path == [1, 2, 3])
    }

    @Test func oneEndsWordIsNotEnoughForALink() {
        var mesh = ring()
        // 3 noticed the link to 2 is gone, 2 has not yet: no node uses it any more.
        mesh.links[3]?[2] = nil
        mesh.originate(3)
        for node in 1...5 as ClosedRange<UInt64> {
            let routes = mesh.routes(node)
            for destination in 1...5 as ClosedRange<UInt64> where destination != node {
                guard let path = routes.path(to: destination) else { continue }
                let crossings = zip(path, path.dropFirst()).filter { Set([$0, $1]) == [2, 3] }
                #expect(crossings.isEmpty, "node \(node) still routes \(path)")
            }
        }
    }

    @Test func whileViewsDisagreeAFrameArrivesOrDiesWithinTheHopLimit() {
        var mesh = ring()
        // 2's link to 3 becomes expensive; only 1 has heard 2's new advert. 2 and 1 send
        // towards 3 the other way round; 5 and 4 still hold the old view, which agrees with
        // that: the frame arrives, along a path no longer than the old one's detour.
        mesh.link(2, 3, cost: 100)
        mesh.originate(2, reaching: [1])
        mesh.originate(3, reaching: [])
        let detour = mesh.walk(from: 2, to: 3)
        #expect(detour.arrived)
        #expect(detour.path == [2, 1, 5, 4, 3])

        // A true transient loop: 3 loses both its links; 1 has heard only of 1-3, 2 only of
        // 2-3, so each believes the other still reaches 3. The hop limit ends the frame.
        var triangle = Mesh(nodes: [1, 2, 3], now: now)
        triangle.link(1, 2)
        triangle.link(2, 3)
        triangle.link(1, 3)
        triangle.originateAll()
        triangle.cut(1, 3)
        triangle.originate(1, reaching: [3])
        triangle.cut(2, 3)
        triangle.originate(2, reaching: [3])
        triangle.originate(3, reaching: [])
        #expect(triangle.routes(1).nextHop[3] == 2)
        #expect(triangle.routes(2).nextHop[3] == 1)
        let walk = triangle.walk(from: 1, to: 3)
        #expect(!walk.arrived)
        #expect(walk.path.count == Int(MeshFrameHeader.initialHopLimit) + 1)
        // Once every advert is everywhere, the views agree: 3 is unreachable, nothing loops.
        triangle.originateAll()
        #expect(triangle.routes(1).nextHop[3] == nil)
        #expect(triangle.routes(2).nextHop[3] == nil)
    }

    @Test func aFullMeshUsesEveryDirectLink() {
        var mesh = Mesh(nodes: [1, 2, 3, 4, 5], now: now)
        for a in 1...5 as ClosedRange<UInt64> {
            for b in (a + 1)...6 where b <= 5 { mesh.link(a, b) }
        }
        mesh.originateAll()
        for source in 1...5 as ClosedRange<UInt64> {
            for destination in 1...5 as ClosedRange<UInt64> where destination != source {
                #expect(mesh.walk(from: source, to: destination).path == [source, destination])
            }
        }
    }

    // MARK: Stations

    @Test func aStationClaimedByOneReachableNodeIsRoutedToIt() {
        var mesh = ring()
        let station = MeshAdvert.stationKey(MACAddress(0x02, 0, 0, 0, 0, 0x33), vlanID: 0)
        let shared = MeshAdvert.stationKey(MACAddress(0x02, 0, 0, 0, 0, 0x99), vlanID: 0)
        mesh.stations[3] = [station, shared]
        mesh.stations[4] = [shared]
        mesh.originate(3)
        mesh.originate(4)
        let routes = mesh.routes(1)
        #expect(routes.owners[station] == 3)
        // Seen on local ports of two nodes (a LAN bridged at both): left to the tree.
        #expect(routes.owners[shared] == nil)
        #expect(routes.contested == 1)
        // Node 3 cut off: its stations are no longer routed.
        mesh.cut(2, 3)
        mesh.cut(3, 4)
        mesh.originate(2)
        mesh.originate(4)
        #expect(mesh.routes(1).owners[station] == nil)
    }

    // MARK: Database

    @Test func olderAndRepeatedAdvertsAreNotFloodedAgain() {
        var database = LinkStateDatabase(ownID: 1)
        let first = MeshAdvert(origin: 2, sequence: 5, links: [], stations: [])
        let outcome1 = database.receive(first, now: now)
        #expect(outcome1 == .installed)
        let outcome2 = database.receive(first, now: now)
        #expect(outcome2 == .stale)
        let outcome3 = database.receive(MeshAdvert(origin: 2, sequence: 4, links: [], stations: []), now: now)
        #expect(outcome3 == .stale)
        let outcome4 = database.receive(MeshAdvert(origin: 2, sequence: 6, links: [], stations: []), now: now)
        #expect(outcome4 == .installed)
        // Serial-number order: a sequence that wrapped is newer.
        var wrapping = LinkStateDatabase(ownID: 1)
        _ = wrapping.receive(MeshAdvert(origin: 2, sequence: .max, links: [], stations: []), now: now)
        let outcome5 = wrapping.receive(MeshAdvert(origin: 2, sequence: 0, links: [], stations: []), now: now)
        #expect(outcome5 == .installed)
    }

    @Test func newOriginsBeyondTheLimitAreRefused() {
        var database = LinkStateDatabase(ownID: 1)
        for origin in 2...UInt64(LinkStateDatabase.maximumOrigins + 1) {
            let outcome = database.receive(MeshAdvert(origin: origin, sequence: 1, links: [], stations: []), now: now)
            #expect(outcome == .installed)
        }
        let refused = database.receive(MeshAdvert(origin: 5000, sequence: 1, links: [], stations: []), now: now)
        #expect(refused == .refusedFull)
        // Known origins still get their newer adverts in.
        let newer = database.receive(MeshAdvert(origin: 2, sequence: 2, links: [], stations: []), now: now)
        #expect(newer == .installed)
    }

    @Test func ourOwnAdvertFromBeforeARestartIsOutnumbered() {
        var database = LinkStateDatabase(ownID: 1)
        database.originate(links: [], stations: [], now: now)
        let outcome6 = database.receive(MeshAdvert(origin: 1, sequence: 40, links: [], stations: []), now: now)
        #expect(outcome6 == .ownOutnumbered)
        let next = database.originate(links: [], stations: [], now: now)
        #expect(next.sequence == 41)
        let outcome7 = database.receive(next, now: now)
        #expect(outcome7 == .stale)
    }

    @Test func silentOriginsExpire() {
        var database = LinkStateDatabase(ownID: 1, lifetime: .seconds(40))
        database.originate(links: [MeshAdvert.Link(neighbour: 2, cost: 10)], stations: [], now: now)
        _ = database.receive(MeshAdvert(origin: 2, sequence: 1, links: [MeshAdvert.Link(neighbour: 1, cost: 10)], stations: []), now: now)
        #expect(database.routes().nextHop[2] == 2)
        let outcome8 = database.expire(now: now + .seconds(39))
        #expect(!outcome8)
        let outcome9 = database.expire(now: now + .seconds(40))
        #expect(outcome9)
        #expect(database.routes().nextHop[2] == nil)
        #expect(database.advert(of: 1) != nil, "our own advert never expires")
    }

    // MARK: Costs

    @Test func costFollowsRTTAndLoss() {
        #expect(LinkCost.cost(rtt: nil, loss: nil) == LinkCost.unmeasured)
        #expect(LinkCost.cost(rtt: .microseconds(50), loss: nil) == 50)
        #expect(LinkCost.cost(rtt: .milliseconds(20), loss: nil) == 250)
        #expect(LinkCost.cost(rtt: .milliseconds(20), loss: 0.1) == 500)
    }

    @Test func jitterInsideTheBandDoesNotChangeTheAdvertisedCost() {
        var cost = LinkCost()
        var time = now
        func measure(_ milliseconds: Int64, loss: Double = 0) -> Bool {
            time = time + .milliseconds(250)
            return cost.update(rtt: .milliseconds(milliseconds), loss: loss, now: time)
        }
        let first = measure(20)
        #expect(first)
        #expect(cost.advertised == 250)
        // Spikes above the path's delay do not count (the windowed minimum stays at 20 ms)...
        for rtt in [19, 22, 40, 17, 60, 21] as [Int64] {
            let moved = measure(rtt)
            #expect(!moved, "\(rtt) ms moved the cost")
        }
        #expect(cost.advertised == 250)
        // ...and a lower delay is taken at once when it leaves the band: 10 ms.
        let lower = measure(10)
        #expect(lower)
        #expect(cost.advertised == 150)
        // A lasting rise shows once the windows holding the lower samples have passed.
        var rose = false
        var waited = Duration.zero
        while !rose, waited < .seconds(20) {
            rose = measure(30)
            waited += .milliseconds(250)
        }
        #expect(rose)
        #expect(cost.advertised == 350)
        #expect(waited > LinkCost.window && waited <= LinkCost.window * 2 + .milliseconds(250), "after \(waited)")
        // Loss moves it at once.
        let lossy = measure(30, loss: 0.2)
        #expect(lossy)
        #expect(cost.advertised == 1050)
        // Pinned: measurements are remembered but not advertised.
        cost.pinned = 50
        let pinnedMove = measure(30)
        #expect(!pinnedMove)
        #expect(cost.current == 50)
        #expect(cost.measured == 350)
    }
}
