import EthernetSwitch
import F2FBase
import F2FTesting
import Testing

/// VDE cables between switches: both ends are client (edge) ports, so only the hellos every
/// edge port sends can reveal that the cable closes a loop.
@Suite struct SpanningTreeCableTests {
    /// A triangle of two peer links and a cable, whichever two bridges the cable joins: the
    /// first hellos (sent when the ports come up) cut the loop before the simulator's first
    /// 10 ms step ends, and the tree still spans all three.
    @Test(arguments: [(2, 0), (0, 1), (1, 2)])
    func cableClosingATriangleIsCutByTheFirstHellos(ends: (Int, Int)) throws {
        let sim = STPSimulator(count: 3)
        for (a, b) in [(0, 1), (1, 2), (2, 0)] where (a, b) != ends && (b, a) != ends { sim.connect(a, b) }
        _ = try #require(sim.converge(within: .seconds(5)))
        let cable = sim.connect(ends.0, ends.1, cable: true)
        sim.run(for: .seconds(5))
        #expect(sim.loopSeenAt == nil)
        #expect(sim.isSpanningForest)
        #expect(sim.forwardingLinks.count == 2)
        #expect(sim.bridges[cable.a].ports[cable.portA]?.operEdge == false)
        #expect(sim.bridges[cable.b].ports[cable.portB]?.operEdge == false)
    }

    /// `--plug` into the switch itself: its own hellos come back on the other end, which
    /// becomes a backup port.
    @Test func cableFromABridgeToItselfIsCut() {
        let sim = STPSimulator(count: 1)
        let cable = sim.connect(0, 0, cable: true)
        sim.run(for: .seconds(3))
        #expect(sim.loopSeenAt == nil)
        let roles = [cable.portA, cable.portB].compactMap { sim.bridges[0].ports[$0]?.role }.sorted { $0.rawValue < $1.rawValue }
        #expect(roles == [.backup, .designated])
    }

    /// The cable carries the root path, then goes silent (wirefilter's `loss 100`): its
    /// received information ages out after three hellos, the peer links take over, and both
    /// cable ends forget their stations. Back on, the tree stays loop-free.
    @Test func silentCableFailsOverWithinThreeHellosAndFlushesItsPorts() throws {
        let sim = STPSimulator(count: 3)
        sim.connect(0, 1)
        sim.connect(1, 2)
        let cable = sim.connect(2, 0, cable: true)
        _ = try #require(sim.converge(within: .seconds(5)))
        #expect(sim.bridges[2].rootPort == cable.portA, "the cable is bridge 2's shortest path to the root")
        let before = sim.effects.count
        sim.silence(cable)
        let failover = try #require(sim.converge(within: .seconds(20), stable: .seconds(1)))
        #expect(failover <= .seconds(7))
        #expect(sim.bridges[2].rootPort != cable.portA)
        let flushes = sim.effects[before...].filter { if case .flush = $0.action { true } else { false } }
        #expect(flushes.contains { $0.bridge == 2 && $0.action == .flush(port: cable.portA) })
        #expect(flushes.contains { $0.bridge == 0 && $0.action == .flush(port: cable.portB) })
        sim.unsilence(cable)
        _ = try #require(sim.converge(within: .seconds(10)))
        #expect(sim.loopSeenAt == nil)
    }

    /// A port whose neighbour went quiet forgets what it learned there at once, not after the
    /// MAC aging time.
    @Test func agedInformationFlushesThePort() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        let start = Instant(nanoseconds: 1_000_000_000)
        tree.enablePort(1, pathCost: 2000, edge: false, pointToPoint: true, now: start, actions: &actions)
        tree.receive(TopologyChangeTests.designatedInfo([], root: 1, bridge: 1), on: 1, now: start, actions: &actions)
        #expect(tree.rootPort == 1)
        actions.removeAll()
        tree.tick(now: start + .seconds(5), actions: &actions)
        #expect(!actions.contains(.flush(port: 1)))
        tree.tick(now: start + .seconds(6), actions: &actions)
        #expect(actions.contains(.flush(port: 1)))
        #expect(tree.isRoot)
    }
}

/// Guards for neighbours that are not fully trusted.
@Suite struct SpanningTreeGuardTests {
    static let superior = BridgeID(priority: 0, address: MACAddress(rawValue: 0x0200_0000_0066))

    static func announcement(root: BridgeID, flags: BPDUFlags = []) -> BPDU {
        var info = BPDUInfo(
            flags: flags, rootID: root, rootPathCost: 0, bridgeID: root, portID: 0x8001,
            messageAge: BPDUTime(rawValue: 0), maxAge: BPDUTime(seconds: 20), helloTime: BPDUTime(seconds: 2),
            forwardDelay: BPDUTime(seconds: 15))
        info.setRole(.designated)
        return .rapid(info, version: 2)
    }

    /// A friend announcing priority 0 on a root-guarded link: its port discards and says why;
    /// the bridge stays its own root; when the announcements stop, the port takes part again.
    @Test func rootGuardKeepsASuperiorNeighbourFromBecomingRootUntilItStops() throws {
        let sim = STPSimulator(count: 2, priorities: [0x8000, 0])
        let link = sim.connect(0, 1, guardsA: STPPortGuards(rootGuard: true))
        sim.run(for: .seconds(3))
        let port = try #require(sim.bridges[0].ports[link.portA])
        #expect(sim.bridges[0].isRoot)
        #expect(port.isRootInconsistent)
        #expect(port.state == .discarding)
        #expect(sim.effects.contains { $0.bridge == 0 && $0.action == .notice(.rootInconsistent(port: link.portA, root: sim.bridges[1].bridgeID)) })
        // The friend stops claiming the root.
        sim.setPriority(0xF000, of: 1)
        sim.run(for: .seconds(3))
        #expect(sim.bridges[0].ports[link.portA]?.isRootInconsistent == false)
        #expect(sim.bridges[0].ports[link.portA]?.state == .forwarding)
        #expect(sim.roots == [sim.bridges[0].bridgeID])
        #expect(sim.effects.contains { $0.bridge == 0 && $0.action == .notice(.rootConsistent(port: link.portA)) })
    }

    /// Root guard on one link of a mesh blocks only that link: the bridge reaches the root
    /// another way and the tree still spans everyone.
    @Test func rootGuardOnOneLinkDoesNotSplitTheMesh() throws {
        let sim = STPSimulator(count: 3, priorities: [0x8000, 0x8000, 0x1000])
        sim.connect(0, 1)
        sim.connect(1, 2)
        let guarded = sim.connect(0, 2, guardsA: STPPortGuards(rootGuard: true))
        _ = try #require(sim.converge(within: .seconds(10)))
        #expect(sim.roots == [sim.bridges[2].bridgeID])
        #expect(sim.bridges[0].rootPort != guarded.portA)
        #expect(sim.bridges[0].ports[guarded.portA]?.isRootInconsistent == true)
        #expect(sim.loopSeenAt == nil)
    }

    /// A local client sending one superior BPDU on a root-guarded client port takes nothing.
    @Test func clientBPDUWithABetterRootDoesNotTakeTheRoot() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        let now = Instant(nanoseconds: 1_000_000_000)
        tree.enablePort(1, pathCost: 20_000, edge: true, pointToPoint: false, guards: STPPortGuards(rootGuard: true), now: now, actions: &actions)
        tree.enablePort(2, pathCost: 20_000, edge: true, pointToPoint: false, guards: STPPortGuards(rootGuard: true), now: now, actions: &actions)
        tree.receive(Self.announcement(root: Self.superior), on: 1, now: now, actions: &actions)
        #expect(tree.isRoot)
        #expect(tree.ports[1]?.state == .discarding)
        #expect(tree.ports[1]?.isRootInconsistent == true)
        #expect(tree.ports[2]?.state == .forwarding)
    }

    /// Without root guard the same BPDU wins: the guard is what the test above measures.
    @Test func clientBPDUWithABetterRootWinsWithoutRootGuard() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        let now = Instant(nanoseconds: 1_000_000_000)
        tree.enablePort(1, pathCost: 20_000, edge: true, pointToPoint: false, now: now, actions: &actions)
        tree.receive(Self.announcement(root: Self.superior), on: 1, now: now, actions: &actions)
        #expect(tree.rootPort == 1)
    }

    /// Topology changes every 50 ms for 5 s: at most one per second flushes anything.
    @Test func topologyChangeFloodIsActedOnAtTheConfiguredRate() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        let start = Instant(nanoseconds: 1_000_000_000)
        tree.enablePort(1, pathCost: 2000, edge: false, pointToPoint: true, now: start, actions: &actions)
        tree.enablePort(2, pathCost: 2000, edge: false, pointToPoint: true, now: start, actions: &actions)
        tree.receive(Self.announcement(root: Self.superior), on: 1, now: start, actions: &actions)
        actions.removeAll()
        var now = start
        for _ in 0..<100 {
            now = now + .milliseconds(50)
            tree.receive(Self.announcement(root: Self.superior, flags: [.topologyChange]), on: 1, now: now, actions: &actions)
            tree.tick(now: now, actions: &actions)
        }
        let flushes = actions.filter { $0 == .flush(port: 2) }.count
        #expect((4...6).contains(flushes))
        #expect(tree.ports[1]!.topologyChangesIgnored >= 94)
        #expect(actions.contains { if case .notice(.topologyChangesIgnored(port: 1, _)) = $0 { true } else { false } })
    }

    @Test func topologyChangeGuardIgnoresEveryChange() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        let now = Instant(nanoseconds: 1_000_000_000)
        tree.enablePort(1, pathCost: 2000, edge: false, pointToPoint: true, guards: STPPortGuards(topologyChangeGuard: true), now: now, actions: &actions)
        tree.enablePort(2, pathCost: 2000, edge: false, pointToPoint: true, now: now, actions: &actions)
        tree.receive(Self.announcement(root: Self.superior), on: 1, now: now, actions: &actions)
        actions.removeAll()
        let before = tree.topologyChangeCount
        tree.receive(Self.announcement(root: Self.superior, flags: [.topologyChange]), on: 1, now: now + .seconds(2), actions: &actions)
        #expect(!actions.contains(.flush(port: 2)))
        #expect(tree.topologyChangeCount == before)
        #expect(tree.ports[1]?.topologyChangesIgnored == 1)
    }

    @Test func bpduGuardTakesThePortOutAndSaysSo() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        let now = Instant(nanoseconds: 1_000_000_000)
        tree.enablePort(1, pathCost: 2000, edge: true, pointToPoint: false, guards: STPPortGuards(bpduGuard: true), now: now, actions: &actions)
        #expect(tree.state(of: 1) == .forwarding)
        actions.removeAll()
        tree.receive(Self.announcement(root: Self.superior), on: 1, now: now, actions: &actions)
        #expect(actions.contains(.notice(.bpduGuardTripped(port: 1))))
        #expect(tree.state(of: 1) == .discarding)
        #expect(tree.ports[1]?.role == .disabled)
        #expect(tree.isRoot)
        actions.removeAll()
        tree.tick(now: now + .seconds(4), actions: &actions)
        #expect(!actions.contains { if case .transmit(1, _) = $0 { true } else { false } })
    }

    @Test func bpduFilterSendsNothingAndHearsNothing() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        let now = Instant(nanoseconds: 1_000_000_000)
        tree.enablePort(1, pathCost: 2000, edge: true, pointToPoint: false, guards: STPPortGuards(bpduFilter: true), now: now, actions: &actions)
        tree.tick(now: now + .seconds(5), actions: &actions)
        #expect(!actions.contains { if case .transmit(1, _) = $0 { true } else { false } })
        tree.receive(Self.announcement(root: Self.superior), on: 1, now: now + .seconds(5), actions: &actions)
        #expect(tree.ports[1]?.operEdge == true)
        #expect(tree.ports[1]?.bpdusFiltered == 1)
        #expect(tree.isRoot)
    }
}
