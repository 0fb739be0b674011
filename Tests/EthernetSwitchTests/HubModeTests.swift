import EthernetSwitch
import F2FBase
import Testing

/// Hub mode (`-x`): every frame floods, as vde_switch -x; the spanning tree still gates ports.
@Suite struct HubModeTests {
    let now = Instant(nanoseconds: 1_000_000_000)
    let stationA = "02:00:00:00:00:0a"
    let stationB = "02:00:00:00:00:0b"

    func makeSwitch(hub: Bool, spanningTree: SpanningTree? = nil) -> Switch {
        var core = Switch(configuration: SwitchConfiguration(isHub: hub), spanningTree: spanningTree)
        for port in [1, 2, 3] { core.activatePort(port, now: now) }
        return core
    }

    @Test func aUnicastToAKnownStationFloodsInHubModeOnly() {
        for hub in [false, true] {
            var core = makeSwitch(hub: hub)
            _ = core.receive(frame: SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: stationA).span, on: 1, now: now)
            _ = core.receive(frame: SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: stationB).span, on: 2, now: now)
            let toA = SwitchTests.frame(to: stationA, from: stationB)
            let decision = core.receive(frame: toA.span, on: 2, now: now)
            #expect(decision == (hub ? .flood : .unicast(port: 1)), "hub \(hub)")
        }
    }

    @Test func everyFrameFloodsAndNothingIsLearned() {
        var core = makeSwitch(hub: true)
        let frames = [
            SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: stationA),
            SwitchTests.frame(to: "01:00:5e:00:00:fb", from: stationA),
            SwitchTests.frame(to: stationB, from: stationA),
            SwitchTests.frame(to: stationA, from: stationB),
            SwitchTests.frame(to: stationB, from: stationA, vlan: 10),
        ]
        for (index, frame) in frames.enumerated() {
            #expect(core.receive(frame: frame.span, on: 1 + index % 3, now: now) == .flood, "frame \(index)")
        }
        #expect(core.macTable.count == 0)
        #expect(core.floodPorts == [1, 2, 3])
        // A hub knows no stations: a frame for one on its own port is repeated to the others.
        #expect(core.receive(frame: SwitchTests.frame(to: stationA, from: stationB).span, on: 1, now: now) == .flood)
        #expect(core.ports[1].counters[dropped: .hairpin] == 0)
    }

    @Test func sethubTurnsHubModeOnAndOffForgettingLearnedButNotStaticStations() {
        var core = makeSwitch(hub: false)
        let stationC = MACAddress(parsing: "02:00:00:00:00:0c")!
        core.addStaticEntry(stationC, vlanID: 0, port: 3)
        _ = core.receive(frame: SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: stationA).span, on: 1, now: now)
        #expect(core.macTable.count == 2)
        core.setHub(true)
        #expect(core.configuration.isHub)
        #expect(core.macTable.count == 1, "learned stations forgotten, the static one kept")
        #expect(core.receive(frame: SwitchTests.frame(to: "02:00:00:00:00:0c", from: stationB).span, on: 2, now: now) == .flood)
        core.setHub(false)
        #expect(core.receive(frame: SwitchTests.frame(to: "02:00:00:00:00:0c", from: stationB).span, on: 2, now: now) == .unicast(port: 3))
        #expect(core.receive(frame: SwitchTests.frame(to: stationB, from: "02:00:00:00:00:0c").span, on: 3, now: now) == .unicast(port: 2))
    }

    @Test func runtsAndOversizedFramesAreStillDropped() {
        var core = makeSwitch(hub: true)
        let runt = [UInt8](repeating: 0xFF, count: 10)
        #expect(core.receive(frame: runt.span, on: 1, now: now) == .drop(.runt))
        let giant = SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: stationA, size: SwitchConfiguration.defaultMaxFrameSize + 1)
        #expect(core.receive(frame: giant.span, on: 1, now: now) == .drop(.oversize))
    }

    @Test func withTheSpanningTreeBPDUsAreConsumedAndABlockedPortStaysBlocked() throws {
        let tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var core = makeSwitch(hub: true, spanningTree: tree)
        // Anything sent to the Bridge Group Address is the tree's, never repeated.
        let bpduAddressed = SwitchTests.frame(to: "01:80:c2:00:00:00", from: stationA)
        #expect(core.receive(frame: bpduAddressed.span, on: 1, now: now) != .flood)
        // A peer link waits for the tree's agreement before it forwards, hub or not.
        core.activatePort(4, kind: .pointToPoint, now: now)
        try #require(!core.ports[4].state.forwards)
        #expect(core.receive(frame: SwitchTests.frame(to: stationB, from: stationA).span, on: 4, now: now) == .drop(.portBlocked))
        #expect(!core.floodPorts.contains(4))
    }

    @Test func withoutTheSpanningTreeBPDUsAreRepeatedAsVdeSwitchsHubDoes() {
        var core = makeSwitch(hub: true)
        let bpduAddressed = SwitchTests.frame(to: "01:80:c2:00:00:00", from: stationA)
        #expect(core.receive(frame: bpduAddressed.span, on: 1, now: now) == .flood)
    }

    @Test func stormLimitsCapBroadcastsButNotUnicastsInAHub() {
        var core = makeSwitch(hub: true)
        core.setStormLimit(5, for: .broadcast, port: 1)
        core.setStormLimit(5, for: .unknownUnicast, port: 1)
        let broadcast = SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: stationA)
        let unicast = SwitchTests.frame(to: stationB, from: stationA)
        var broadcastsFlooded = 0
        var unicastsFlooded = 0
        for index in 0..<50 {
            let time = now + .microseconds(Int64(index))
            if core.receive(frame: broadcast.span, on: 1, now: time) == .flood { broadcastsFlooded += 1 }
            if core.receive(frame: unicast.span, on: 1, now: time) == .flood { unicastsFlooded += 1 }
        }
        #expect(broadcastsFlooded == 5)
        #expect(unicastsFlooded == 50)
    }
}
