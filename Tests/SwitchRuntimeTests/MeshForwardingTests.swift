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
}
