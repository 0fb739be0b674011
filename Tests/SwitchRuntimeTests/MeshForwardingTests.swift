import EthernetSwitch
import F2FBase
import F2FTesting
import Logging
import SwitchRuntime
import Testing

/// The engine's mesh hook on virtual time: which frames leave routed, which stay on the
/// tree, and what a node does with a routed frame (deliver, relay, drop).
@Suite struct MeshForwardingTests {
    static let nodeA: UInt64 = 0xA
    static let nodeB: UInt64 = 0xB
    static let nodeC: UInt64 = 0xC
    static let local: UInt64 = 0x0200_0000_00AA
    static let remote: UInt64 = 0x0200_0000_00BB
    let loop = ManualEventLoop()
    let engine: SwitchEngine
    let client = RecordingLink("client", id: 1)
    let toB = RecordingLink("peer B", id: 2)
    let toC = RecordingLink("peer C", id: 3)

    init() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        engine = SwitchEngine(configuration: SwitchConfiguration(portCount: 8), loop: loop, logger: logger, burstQueueCapacity: 4)
        engine.attach(client, port: 1)
        engine.attach(toB, port: 2, kind: .pointToPoint)
        engine.attach(toC, port: 3, kind: .pointToPoint)
        var table = MeshForwardingTable(ownID: Self.nodeA)
        table.nodes = [Self.nodeB: 2, Self.nodeC: 3]
        table.stations[MeshAdvert.stationKey(MACAddress(rawValue: Self.remote), vlanID: 0)] = .init(owner: Self.nodeB, port: 2)
        engine.setMeshTable(table)
    }

    func send(_ frame: [UInt8], from port: Int) {
        frame.withUnsafeBytes { engine.receive($0, from: port) }
        loop.runAfterDispatch()
    }

    func sendRouted(_ frame: [UInt8], owner: UInt64, hopLimit: UInt8 = MeshFrameHeader.initialHopLimit, from port: Int) {
        var packet: [UInt8] = []
        MeshFrameHeader(owner: owner, hopLimit: hopLimit).encode(into: &packet)
        packet += frame
        packet.withUnsafeBytes { engine.receiveRouted($0, from: port) }
        loop.runAfterDispatch()
    }

    static func routed(_ frame: [UInt8], owner: UInt64, hopLimit: UInt8 = MeshFrameHeader.initialHopLimit) -> [UInt8] {
        var packet: [UInt8] = []
        MeshFrameHeader(owner: owner, hopLimit: hopLimit).encode(into: &packet)
        return packet + frame
    }

    @Test func aLocalStationsFrameForAnotherNodesStationGoesStraightToIt() {
        let frame = EngineOnManualLoopTests.frame(from: Self.local, to: Self.remote)
        send(frame, from: 1)
        #expect(toB.routed == [Self.routed(frame, owner: Self.nodeB)])
        #expect(toB.flushed.isEmpty)
        #expect(toC.flushed.isEmpty && toC.routed.isEmpty)
        #expect(engine.meshCounters.routed == 1)
        #expect(engine.core.ports[2].counters.framesOut == 0, "the recording link does not count; a peer link does")
    }

    @Test func broadcastsAndUnknownStationsStayOnTheTree() {
        let broadcast = EngineOnManualLoopTests.frame(from: Self.local, to: 0xFFFF_FFFF_FFFF)
        send(broadcast, from: 1)
        let unknown = EngineOnManualLoopTests.frame(from: Self.local, to: 0x0200_0000_00EE)
        send(unknown, from: 1)
        #expect(toB.flushed == [broadcast, unknown])
        #expect(toC.flushed == [broadcast, unknown])
        #expect(toB.routed.isEmpty && toC.routed.isEmpty)
    }

    @Test func aFrameAlreadyOnTheTreeIsNotRoutedOnTheWay() {
        // From C's link: it entered the mesh elsewhere, as a tree frame; it stays one.
        let frame = EngineOnManualLoopTests.frame(from: 0x0200_0000_00CC, to: Self.remote)
        send(frame, from: 3)
        #expect(toB.routed.isEmpty)
        #expect(toB.flushed == [frame])
        #expect(client.flushed == [frame])
    }

    @Test func aRoutedFrameForAStationHereIsDeliveredToItsPortAlone() {
        send(EngineOnManualLoopTests.frame(from: Self.local, to: 0xFFFF_FFFF_FFFF), from: 1)  // learn the local station
        let frame = EngineOnManualLoopTests.frame(from: Self.remote, to: Self.local)
        sendRouted(frame, owner: Self.nodeA, from: 2)
        #expect(client.flushed == [frame])
        #expect(toC.flushed.count == 1 && toC.routed.isEmpty, "only the broadcast went to C")
        #expect(engine.meshCounters.delivered == 1)
        #expect(engine.core.ports[2].counters.framesIn == 1)
        // Its source was not learned on the peer port (split horizon): a frame to it from a
        // local station floods on the tree (or is routed by owner), never follows the route back.
        #expect(engine.core.macTable.lookup(MACAddress(rawValue: Self.remote), vlanID: 0, now: loop.now) == nil)
    }

    @Test func aRoutedFrameForAnUnknownStationHereGoesToLocalPortsOnly() {
        let frame = EngineOnManualLoopTests.frame(from: Self.remote, to: 0x0200_0000_00EE)
        sendRouted(frame, owner: Self.nodeA, from: 2)
        #expect(client.flushed == [frame])
        #expect(toC.flushed.isEmpty && toC.routed.isEmpty)
        #expect(engine.meshCounters.deliveredByFlood == 1)
    }

    @Test func aRoutedFrameForAnotherNodeIsRelayedWithOneHopLess() {
        let frame = EngineOnManualLoopTests.frame(from: 0x0200_0000_00CC, to: Self.remote)
        sendRouted(frame, owner: Self.nodeB, hopLimit: 5, from: 3)
        #expect(toB.routed == [Self.routed(frame, owner: Self.nodeB, hopLimit: 4)])
        #expect(client.flushed.isEmpty)
        #expect(engine.meshCounters.relayed == 1)
    }

    @Test func routedFramesOutOfHopsOrRouteAreDropped() {
        let frame = EngineOnManualLoopTests.frame(from: 0x0200_0000_00CC, to: Self.remote)
        sendRouted(frame, owner: Self.nodeB, hopLimit: 1, from: 3)
        sendRouted(frame, owner: 0xD, from: 3)
        ([0x01, 0x02] as [UInt8]).withUnsafeBytes { engine.receiveRouted($0, from: 3) }
        loop.runAfterDispatch()
        #expect(toB.routed.isEmpty && toB.flushed.isEmpty && client.flushed.isEmpty)
        #expect(engine.meshCounters.droppedHopLimit == 1)
        #expect(engine.meshCounters.droppedNoRoute == 1)
        #expect(engine.meshCounters.droppedMalformed == 1)
    }

    @Test func withoutATableEverythingFollowsTheTree() {
        engine.setMeshTable(nil)
        let frame = EngineOnManualLoopTests.frame(from: Self.local, to: Self.remote)
        send(frame, from: 1)
        #expect(toB.routed.isEmpty)
        #expect(toB.flushed == [frame] && toC.flushed == [frame])
    }

    // MARK: VLANs

    /// `frame` with an 802.1Q tag for `vlan` after its addresses.
    static func tagged(_ frame: [UInt8], vlan: UInt16) -> [UInt8] {
        Array(frame[0..<12]) + [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xFF)] + Array(frame[12...])
    }

    /// The client's port is an access port of VLAN 10; `remote` in VLAN 10 is B's.
    func useVLAN10() throws {
        try engine.createVLAN(10)
        try engine.setUntaggedVLAN(10, port: 1)
        var table = MeshForwardingTable(ownID: Self.nodeA)
        table.nodes = [Self.nodeB: 2, Self.nodeC: 3]
        table.stations[MeshAdvert.stationKey(MACAddress(rawValue: Self.remote), vlanID: 10)] = .init(owner: Self.nodeB, port: 2)
        engine.setMeshTable(table)
    }

    @Test func aFrameInAVLANIsRoutedTaggedAsAFriendLinkCarriesItAndOnlyInThatVLAN() throws {
        try useVLAN10()
        let other = RecordingLink("VLAN 0 client", id: 5)
        engine.attach(other, port: 5)
        let frame = EngineOnManualLoopTests.frame(from: Self.local, to: Self.remote)
        send(frame, from: 1)
        #expect(toB.routed == [Self.routed(Self.tagged(frame, vlan: 10), owner: Self.nodeB)])
        #expect(toB.flushed.isEmpty && toC.flushed.isEmpty && toC.routed.isEmpty)
        // The same address in VLAN 0 is nobody's station: that frame follows the tree.
        let inVLAN0 = EngineOnManualLoopTests.frame(from: 0x0200_0000_0055, to: Self.remote)
        send(inVLAN0, from: 5)
        #expect(toB.routed.count == 1)
        #expect(toB.flushed == [inVLAN0] && toC.flushed == [inVLAN0])
        #expect(client.flushed.isEmpty, "VLAN 0 does not reach VLAN 10's access port")
        #expect(engine.meshCounters.routed == 1)
    }

    @Test func aRoutedFrameInAVLANLeavesEachLocalPortInItsFormAndNeverEntersAnotherVLAN() throws {
        try useVLAN10()
        let trunk = RecordingLink("trunk client", id: 4)
        engine.attach(trunk, port: 4)
        try engine.addTaggedPort(4, vlan: 10)
        let other = RecordingLink("VLAN 0 client", id: 5)
        engine.attach(other, port: 5)
        send(EngineOnManualLoopTests.frame(from: Self.local, to: 0xFFFF_FFFF_FFFF), from: 1)  // learn the local station in VLAN 10
        let (atClient, atTrunk) = (client.flushed.count, trunk.flushed.count)

        let frame = EngineOnManualLoopTests.frame(from: Self.remote, to: Self.local)
        sendRouted(Self.tagged(frame, vlan: 10), owner: Self.nodeA, from: 2)
        #expect(Array(client.flushed.dropFirst(atClient)) == [frame], "untagged on VLAN 10's access port")
        #expect(trunk.flushed.count == atTrunk && other.flushed.isEmpty)
        #expect(engine.meshCounters.delivered == 1)

        // A station of VLAN 10 this node does not know: every local member, in its form.
        let unknown = EngineOnManualLoopTests.frame(from: Self.remote, to: 0x0200_0000_00EE)
        sendRouted(Self.tagged(unknown, vlan: 10), owner: Self.nodeA, from: 2)
        #expect(client.flushed.last == unknown)
        #expect(Array(trunk.flushed.dropFirst(atTrunk)) == [Self.tagged(unknown, vlan: 10)])
        #expect(other.flushed.isEmpty, "never into VLAN 0")
        #expect(toC.routed.isEmpty && toB.routed.isEmpty, "never back into the mesh")
        #expect(engine.meshCounters.deliveredByFlood == 1)

        // Untagged on the friend link: the link's untagged VLAN (0), whose only local member is port 5.
        sendRouted(unknown, owner: Self.nodeA, from: 2)
        #expect(other.flushed == [unknown])
        #expect(client.flushed.count == atClient + 2)
    }
}
