import EthernetSwitch
import F2FBase
import F2FTesting
import Testing

/// 802.1D-2004 rapid spanning tree on the in-memory simulator: virtual time, BPDUs encoded and
/// parsed on every hop, the forwarding graph checked for loops after every 10 ms step.
@Suite struct SpanningTreeTests {
    @Test func twoBridgesElectTheLowerIDAndForwardAtOnce() throws {
        let sim = STPSimulator(count: 2)
        sim.connect(0, 1)
        let time = try #require(sim.converge(within: .seconds(5)))
        #expect(time < .milliseconds(200))
        #expect(sim.roots.count == 1)
        #expect(sim.bridges[0].isRoot)
        #expect(sim.bridges[1].rootPort == 1)
        #expect(sim.loopSeenAt == nil)
    }

    @Test func triangleBlocksExactlyOneLinkWithinASecond() throws {
        let sim = STPSimulator(count: 3)
        sim.connect(0, 1)
        sim.connect(1, 2)
        sim.connect(2, 0)
        let time = try #require(sim.converge(within: .seconds(10)))
        #expect(time <= .seconds(1))
        #expect(sim.forwardingLinks.count == 2)
        #expect(sim.roots == [sim.bridges[0].bridgeID])
        #expect(sim.loopSeenAt == nil)
        let roles = sim.bridges[2].ports.values.map(\.role).sorted { $0.rawValue < $1.rawValue }
        #expect(roles == [.alternate, .root])
    }

    @Test(arguments: [4, 8])
    func ringConvergesWithoutALoop(size: Int) throws {
        let sim = STPSimulator(count: size)
        for index in 0..<size { sim.connect(index, (index + 1) % size) }
        let time = try #require(sim.converge(within: .seconds(10)))
        #expect(time <= .seconds(2))
        #expect(sim.forwardingLinks.count == size - 1)
        #expect(sim.loopSeenAt == nil)
    }

    @Test func fullMeshOfSixteenConvergesWithinThreeSeconds() throws {
        let sim = STPSimulator(count: 16)
        for a in 0..<16 {
            for b in (a + 1)..<16 { sim.connect(a, b) }
        }
        let time = try #require(sim.converge(within: .seconds(20)))
        #expect(time <= .seconds(3))
        #expect(sim.forwardingLinks.count == 15)
        #expect(sim.roots.count == 1)
        #expect(sim.loopSeenAt == nil)
    }

    @Test func lineForwardsEverywhere() throws {
        let sim = STPSimulator(count: 5)
        for index in 0..<4 { sim.connect(index, index + 1) }
        #expect(try #require(sim.converge(within: .seconds(10))) <= .seconds(1))
        #expect(sim.forwardingLinks.count == 4)
    }

    @Test func cuttingTheForwardingLinkFailsOverToTheAlternateAtOnce() throws {
        let sim = STPSimulator(count: 3)
        let ab = sim.connect(0, 1)
        sim.connect(1, 2)
        sim.connect(2, 0)
        _ = try #require(sim.converge(within: .seconds(10)))
        sim.cut(ab)
        let time = try #require(sim.converge(within: .seconds(10), stable: .seconds(1)))
        #expect(time <= .milliseconds(100))
        #expect(sim.forwardingLinks.count == 2)
        #expect(sim.loopSeenAt == nil)
    }

    @Test func restoringALinkKeepsTheTreeLoopFree() throws {
        let sim = STPSimulator(count: 4)
        for index in 0..<4 { sim.connect(index, (index + 1) % 4) }
        _ = try #require(sim.converge(within: .seconds(10)))
        let extra = sim.connect(0, 2)
        _ = try #require(sim.converge(within: .seconds(10)))
        sim.cut(extra)
        _ = try #require(sim.converge(within: .seconds(10)))
        sim.connect(0, 2)
        #expect(try #require(sim.converge(within: .seconds(10))) <= .seconds(2))
        #expect(sim.forwardingLinks.count == 3)
        #expect(sim.loopSeenAt == nil)
    }

    /// Root death is where textbook RSTP counts to infinity on stale alternate information and
    /// loops for seconds; ours ages that information at once (see forgetPossiblyStaleInformation).
    @Test(arguments: [4])
    func rootBridgeLossInAFullMeshElectsANewRootWithoutALoop(size: Int) throws {
        try rootBridgeLoss(size: size)
    }

    @Test(arguments: [8, 16])
    func rootBridgeLossInLargerFullMeshes(size: Int) throws {
        try rootBridgeLoss(size: size)
    }

    private func rootBridgeLoss(size: Int) throws {
        let sim = STPSimulator(count: size)
        for a in 0..<size {
            for b in (a + 1)..<size { sim.connect(a, b) }
        }
        _ = try #require(sim.converge(within: .seconds(10)))
        sim.fail(0)
        let time = try #require(sim.converge(within: .seconds(30)))
        #expect(time <= .seconds(3))
        let survivors = sim.bridges[1...].map(\.designatedRoot)
        #expect(Set(survivors) == [sim.bridges[1].bridgeID])
        #expect(sim.forwardingLinks.count == size - 2)
        #expect(sim.loopSeenAt == nil)
    }

    @Test func rootBridgeLossInARingReconvergesWithoutALoop() throws {
        let sim = STPSimulator(count: 6)
        for index in 0..<6 { sim.connect(index, (index + 1) % 6) }
        _ = try #require(sim.converge(within: .seconds(10)))
        sim.fail(0)
        _ = try #require(sim.converge(within: .seconds(30)))
        #expect(sim.forwardingLinks.count == 4)
        #expect(Set(sim.bridges[1...].map(\.designatedRoot)).count == 1)
        #expect(sim.loopSeenAt == nil)
    }

    @Test func aBetterBridgeAppearingTakesOverAsRoot() throws {
        let sim = STPSimulator(count: 4)
        for index in 0..<4 { sim.connect(index, (index + 1) % 4) }
        _ = try #require(sim.converge(within: .seconds(10)))
        sim.setPriority(0x1000, of: 3)
        _ = try #require(sim.converge(within: .seconds(10)))
        #expect(sim.roots == [sim.bridges[3].bridgeID])
        #expect(sim.loopSeenAt == nil)
    }

    @Test func aLegacyBridgeInTheMiddleIsSpokenToIn8021DAndTheTreeHolds() throws {
        let sim = STPSimulator(count: 4, legacy: [1])
        sim.connect(0, 1)
        sim.connect(1, 2)
        sim.connect(2, 3)
        sim.connect(3, 0)
        // Legacy ports wait listening + learning: 2 × 15 s.
        let time = try #require(sim.converge(within: .seconds(60)))
        #expect(time <= .seconds(31))
        #expect(sim.loopSeenAt == nil)
        #expect(sim.roots.count == 1)
        // The rapid neighbours talk version 0 on the ports facing the legacy bridge.
        #expect(sim.bridges[0].ports[1]?.sendRSTP == false)
        #expect(sim.bridges[2].ports[1]?.sendRSTP == false)
        #expect(sim.bridges[2].ports[2]?.sendRSTP == true)
    }

    @Test func edgePortsForwardImmediatelyAndSendHellos() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0001))
        var actions: [STPAction] = []
        let now = Instant(nanoseconds: 0)
        tree.enablePort(1, pathCost: 2000, edge: true, pointToPoint: false, now: now, actions: &actions)
        #expect(tree.state(of: 1) == .forwarding)
        // At once (a bridge behind the port learns of us within a round trip), then every hello.
        #expect(actions.filter { if case .transmit(1, _) = $0 { true } else { false } }.count == 1)
        actions.removeAll()
        tree.tick(now: now + .seconds(2), actions: &actions)
        #expect(actions.filter { if case .transmit(1, _) = $0 { true } else { false } }.count == 1)
        #expect(tree.ports[1]?.operEdge == true)
        // Auto-edge: a BPDU on the port means a bridge is behind it.
        var info = BPDUInfo(
            flags: [], rootID: BridgeID(priority: 0x1000, address: MACAddress(rawValue: 9)), rootPathCost: 0,
            bridgeID: BridgeID(priority: 0x1000, address: MACAddress(rawValue: 9)), portID: 0x8001,
            messageAge: BPDUTime(rawValue: 0), maxAge: BPDUTime(seconds: 20), helloTime: BPDUTime(seconds: 2), forwardDelay: BPDUTime(seconds: 15))
        info.setRole(.designated)
        tree.receive(.rapid(info, version: 2), on: 1, now: now, actions: &actions)
        #expect(tree.ports[1]?.operEdge == false)
        #expect(tree.rootPort == 1)
    }

    @Test func topologyChangeFlushesOtherNonEdgePorts() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0001))
        var actions: [STPAction] = []
        let now = Instant(nanoseconds: 0)
        tree.enablePort(1, pathCost: 2000, edge: false, pointToPoint: true, now: now, actions: &actions)
        tree.enablePort(2, pathCost: 2000, edge: false, pointToPoint: true, now: now, actions: &actions)
        tree.enablePort(3, pathCost: 2000, edge: true, pointToPoint: false, now: now, actions: &actions)
        actions.removeAll()
        var info = BPDUInfo(
            flags: [.topologyChange], rootID: BridgeID(priority: 0x1000, address: MACAddress(rawValue: 9)), rootPathCost: 0,
            bridgeID: BridgeID(priority: 0x1000, address: MACAddress(rawValue: 9)), portID: 0x8001,
            messageAge: BPDUTime(rawValue: 0), maxAge: BPDUTime(seconds: 20), helloTime: BPDUTime(seconds: 2), forwardDelay: BPDUTime(seconds: 15))
        info.setRole(.designated)
        tree.receive(.rapid(info, version: 2), on: 1, now: now, actions: &actions)
        #expect(actions.contains(.flush(port: 2)))
        #expect(!actions.contains(.flush(port: 1)))
        #expect(!actions.contains(.flush(port: 3)))
        #expect(tree.topologyChangeCount >= 1)
    }
}

@Suite struct SpanningTreeChaosTests {
    /// Seeded random link cuts, restores and bridge deaths in a mesh: never a loop, always
    /// reconverges (120 seeds checked once; 20 kept for CI time).
    @Test(arguments: Array(UInt64(1)...20))
    func randomCutsRestoresAndDeathsNeverLoop(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let sim = STPSimulator(count: 10)
        var spare: [(Int, Int)] = []
        for a in 0..<10 {
            for b in (a + 1)..<10 {
                if Bool.random(using: &generator) { sim.connect(a, b) } else { spare.append((a, b)) }
            }
        }
        _ = try #require(sim.converge(within: .seconds(20)))
        for _ in 0..<20 {
            let dice = Int.random(in: 0..<10, using: &generator)
            if dice == 0 {
                // A whole bridge dies (sometimes the root); it may be cabled back in later.
                let bridge = Int.random(in: 0..<10, using: &generator)
                for link in sim.links where link.a == bridge || link.b == bridge { spare.append((link.a, link.b)) }
                sim.fail(bridge)
            } else if dice < 5, let link = sim.links.randomElement(using: &generator) {
                sim.cut(link)
                spare.append((link.a, link.b))
            } else if let index = spare.indices.randomElement(using: &generator) {
                let (a, b) = spare.remove(at: index)
                sim.connect(a, b)
            }
            sim.run(for: .milliseconds(Int64.random(in: 0...300, using: &generator)))
        }
        _ = try #require(sim.converge(within: .seconds(40)))
        #expect(sim.loopSeenAt == nil)
    }
}

@Suite struct TopologyChangeTests {
    static func designatedInfo(_ flags: BPDUFlags, root: UInt64, cost: UInt32 = 0, bridge: UInt64) -> BPDU {
        var info = BPDUInfo(
            flags: flags, rootID: BridgeID(priority: 0x1000, address: MACAddress(rawValue: root)), rootPathCost: cost,
            bridgeID: BridgeID(priority: 0x1000, address: MACAddress(rawValue: bridge)), portID: 0x8001,
            messageAge: BPDUTime(rawValue: 0), maxAge: BPDUTime(seconds: 20), helloTime: BPDUTime(seconds: 2), forwardDelay: BPDUTime(seconds: 15))
        info.setRole(.designated)
        return .rapid(info, version: 2)
    }

    /// 17.29: a change heard on an alternate port is ignored; otherwise a blocked port feeds it
    /// back round the loop for ever (seen against the Linux bridge).
    @Test func alternatePortsIgnoreTopologyChanges() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        let now = Instant(nanoseconds: 0)
        tree.enablePort(1, pathCost: 2000, edge: false, pointToPoint: true, now: now, actions: &actions)
        tree.enablePort(2, pathCost: 2000, edge: false, pointToPoint: true, now: now, actions: &actions)
        tree.receive(Self.designatedInfo([], root: 1, bridge: 1), on: 1, now: now, actions: &actions)
        tree.receive(Self.designatedInfo([], root: 1, cost: 2000, bridge: 2), on: 2, now: now, actions: &actions)
        #expect(tree.ports[1]?.role == .root)
        #expect(tree.ports[2]?.role == .alternate)
        let before = tree.topologyChangeCount
        actions.removeAll()
        tree.receive(Self.designatedInfo([.topologyChange], root: 1, cost: 2000, bridge: 2), on: 2, now: now, actions: &actions)
        #expect(tree.topologyChangeCount == before)
        #expect(!actions.contains { if case .flush = $0 { true } else { false } })
        tree.receive(.topologyChangeNotification, on: 2, now: now, actions: &actions)
        #expect(tree.topologyChangeCount == before)
        // The same flag on the root port is a real change: the other port flushes.
        tree.receive(Self.designatedInfo([.topologyChange], root: 1, bridge: 1), on: 1, now: now, actions: &actions)
        #expect(tree.topologyChangeCount == before + 1)
        #expect(actions.contains(.flush(port: 2)))
    }
}

@Suite struct ProtocolMigrationTests {
    /// 17.24: a port that hears a version-0 BPDU talks 802.1D; when that bridge goes silent and
    /// its information ages out, the port tries RSTP again.
    @Test func aPortFallsBackToLegacyAndReturnsWhenTheLegacyBridgeLeaves() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        var now = Instant(nanoseconds: 0)
        tree.enablePort(1, pathCost: 20_000, edge: false, pointToPoint: false, now: now, actions: &actions)
        let legacy = BPDUInfo(
            flags: [], rootID: BridgeID(priority: 0x1000, address: MACAddress(rawValue: 1)), rootPathCost: 0,
            bridgeID: BridgeID(priority: 0x1000, address: MACAddress(rawValue: 1)), portID: 0x8001,
            messageAge: BPDUTime(rawValue: 0), maxAge: BPDUTime(seconds: 20), helloTime: BPDUTime(seconds: 2), forwardDelay: BPDUTime(seconds: 15))
        tree.receive(.configuration(legacy), on: 1, now: now, actions: &actions)
        #expect(tree.ports[1]?.sendRSTP == false)
        #expect(tree.rootPort == 1)
        // Designated ports toward it would send configuration BPDUs; here it is our root port,
        // which sends nothing but TCNs. Let its information age out (3 × hello).
        for _ in 0..<70 {
            now = now + .milliseconds(100)
            actions.removeAll()
            tree.tick(now: now, actions: &actions)
        }
        #expect(tree.ports[1]?.sendRSTP == true)
        #expect(tree.isRoot)
        #expect(tree.ports[1]?.role == .designated)
        // Its next hello is an RST BPDU again, not a configuration BPDU.
        for _ in 0..<25 {
            now = now + .milliseconds(100)
            tree.tick(now: now, actions: &actions)
        }
        let sent = actions.compactMap { action -> BPDU? in
            if case .transmit(1, let bpdu) = action { bpdu } else { nil }
        }
        #expect(!sent.isEmpty)
        #expect(sent.allSatisfy { if case .rapid = $0 { true } else { false } })
    }

    @Test func configuredPathCostsFollowThePortKind() {
        var core = Switch(
            configuration: SwitchConfiguration(clientPathCost: 100, peerPathCost: 7_000),
            spanningTree: SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009)))
        core.activatePort(1, kind: .edge)
        core.activatePort(2, kind: .pointToPoint)
        #expect(core.spanningTree?.ports[1]?.pathCost == 100)
        #expect(core.spanningTree?.ports[2]?.pathCost == 7_000)
        #expect(core.ports[1].state == .forwarding)
        #expect(core.ports[2].state == .discarding)
    }
}
