import EthernetSwitch
import F2FBase
import Testing

/// A friend must not take over a local station's address; static entries and locked ports,
/// on virtual time.
@Suite struct StationProtectionTests {
    let now = Instant(nanoseconds: 1_000_000_000)
    let local = "02:00:00:00:00:0a"
    let other = "02:00:00:00:00:0b"

    /// Ports 1 and 2 are local clients, 3 and 4 peer links.
    func makeSwitch(agingTime: Duration = .seconds(300)) -> Switch {
        var core = Switch(configuration: SwitchConfiguration(macAgingTime: agingTime))
        core.activatePort(1, kind: .edge)
        core.activatePort(2, kind: .edge)
        core.activatePort(3, kind: .pointToPoint)
        core.activatePort(4, kind: .pointToPoint)
        return core
    }

    func frame(to destination: String, from source: String) -> [UInt8] {
        SwitchTests.frame(to: destination, from: source)
    }

    /// Where a frame from `other` on port 2 to `local` goes.
    func destinationOfLocal(_ core: inout Switch, at time: Instant) -> ForwardingDecision {
        core.receive(frame: frame(to: local, from: other).span, on: 2, now: time)
    }

    @Test func aPeerFrameDoesNotMoveAFreshLocalStation() {
        var core = makeSwitch()
        _ = core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: local).span, on: 1, now: now)
        let spoofed = frame(to: "ff:ff:ff:ff:ff:ff", from: local)
        #expect(core.receive(frame: spoofed.span, on: 3, now: now + .seconds(1)) == .drop(.protectedAddress))
        #expect(core.ports[3].counters[dropped: .protectedAddress] == 1)
        #expect(core.ports[3].lastProtectedSource == MACAddress(parsing: local))
        let routed1 = destinationOfLocal(&core, at: now + .seconds(2))
        #expect(routed1 == .unicast(port: 1))
        // Just before the local entry ages, the peer still cannot take it.
        #expect(core.receive(frame: spoofed.span, on: 3, now: now + .seconds(299)) == .drop(.protectedAddress))
        let routed2 = destinationOfLocal(&core, at: now + .seconds(299))
        #expect(routed2 == .unicast(port: 1))
    }

    @Test func aStaleLocalStationMovesToThePeer() {
        var core = makeSwitch(agingTime: .seconds(30))
        _ = core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: local).span, on: 1, now: now)
        // Aged but not yet swept: the peer may have it now.
        let fromPeer = frame(to: "ff:ff:ff:ff:ff:ff", from: local)
        #expect(core.receive(frame: fromPeer.span, on: 3, now: now + .seconds(30)) == .flood)
        let routed1 = destinationOfLocal(&core, at: now + .seconds(31))
        #expect(routed1 == .unicast(port: 3))
        // Learned from a peer, it moves freely between peers and back to a local port.
        #expect(core.receive(frame: fromPeer.span, on: 4, now: now + .seconds(32)) == .flood)
        let routed2 = destinationOfLocal(&core, at: now + .seconds(32))
        #expect(routed2 == .unicast(port: 4))
        _ = core.receive(frame: fromPeer.span, on: 1, now: now + .seconds(33))
        let routed3 = destinationOfLocal(&core, at: now + .seconds(33))
        #expect(routed3 == .unicast(port: 1))
        #expect(core.ports[3].counters[dropped: .protectedAddress] == 0)
        #expect(core.ports[4].counters[dropped: .protectedAddress] == 0)
    }

    @Test func aFreshLocalStationMovesToAnotherLocalPort() {
        var core = makeSwitch()
        _ = core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: local).span, on: 1, now: now)
        #expect(core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: local).span, on: 2, now: now + .seconds(1)) == .flood)
        let toLocal = frame(to: local, from: other)
        #expect(core.receive(frame: toLocal.span, on: 1, now: now + .seconds(1)) == .unicast(port: 2))
    }

    @Test func aStationThatLeavesWithItsPortIsFreeForThePeer() {
        var core = makeSwitch()
        _ = core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: local).span, on: 1, now: now)
        core.deactivatePort(1, now: now + .seconds(1))
        #expect(core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: local).span, on: 3, now: now + .seconds(2)) == .flood)
        let routed1 = destinationOfLocal(&core, at: now + .seconds(2))
        #expect(routed1 == .unicast(port: 3))
    }

    @Test func aStaticEntryNeverMovesNorAges() throws {
        var core = makeSwitch(agingTime: .seconds(30))
        let address = try #require(MACAddress(parsing: local))
        core.addStaticEntry(address, vlanID: 0, port: 1)
        let later = now + .seconds(3600)
        core.tick(now: later)
        let routed1 = destinationOfLocal(&core, at: later)
        #expect(routed1 == .unicast(port: 1))
        // Neither a peer nor another local port takes a static address.
        let impostor = frame(to: "ff:ff:ff:ff:ff:ff", from: local)
        #expect(core.receive(frame: impostor.span, on: 3, now: later) == .drop(.protectedAddress))
        #expect(core.receive(frame: impostor.span, on: 2, now: later) == .drop(.protectedAddress))
        let routed2 = destinationOfLocal(&core, at: later)
        #expect(routed2 == .unicast(port: 1))
        let station = try #require(core.macTable.stations(now: later).first)
        #expect(station.isStatic && station.port == 1 && station.age == .zero)
        #expect(core.macTable.stations(onPort: 1) == 0, "static entries do not use the port's learning quota")
    }

    @Test func aStaticEntryOutlivesItsPortsClientAndTopologyFlushes() throws {
        var core = makeSwitch()
        let address = try #require(MACAddress(parsing: local))
        core.addStaticEntry(address, vlanID: 0, port: 1)
        core.deactivatePort(1, now: now)
        // Its client is gone: the station's traffic goes nowhere (not flooded to a spoofer).
        let routed1 = destinationOfLocal(&core, at: now)
        #expect(routed1 == .drop(.portBlocked))
        core.activatePort(1, kind: .edge, now: now + .seconds(1))
        let routed2 = destinationOfLocal(&core, at: now + .seconds(1))
        #expect(routed2 == .unicast(port: 1))
        let removed = core.removeEntry(address, vlanID: 0)
        let removedAgain = core.removeEntry(address, vlanID: 0)
        #expect(removed && !removedAgain)
        let routed3 = destinationOfLocal(&core, at: now + .seconds(1))
        #expect(routed3 == .flood)
    }

    @Test func aPortWithLearningOffLearnsNothingButForwards() {
        var core = makeSwitch()
        core.setLearning(false, port: 1)
        #expect(core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: local).span, on: 1, now: now) == .flood)
        #expect(core.macTable.count == 0)
        let routed1 = destinationOfLocal(&core, at: now)
        #expect(routed1 == .flood)
        core.setLearning(true, port: 1)
        _ = core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: local).span, on: 1, now: now)
        let routed2 = destinationOfLocal(&core, at: now)
        #expect(routed2 == .unicast(port: 1))
    }

    @Test func aLockedPortPassesOnlyItsStaticSources() throws {
        var core = makeSwitch()
        core.setLocked(true, port: 1)
        let unknown = frame(to: "ff:ff:ff:ff:ff:ff", from: local)
        #expect(core.receive(frame: unknown.span, on: 1, now: now) == .drop(.locked))
        #expect(core.ports[1].counters[dropped: .locked] == 1)
        #expect(core.macTable.count == 0, "a locked port learns nothing")
        // Static on another port does not count.
        let address = try #require(MACAddress(parsing: local))
        core.addStaticEntry(address, vlanID: 0, port: 2)
        #expect(core.receive(frame: unknown.span, on: 1, now: now) == .drop(.locked))
        core.addStaticEntry(address, vlanID: 0, port: 1)
        #expect(core.receive(frame: unknown.span, on: 1, now: now) == .flood)
        // Another VLAN is another station.
        #expect(core.receive(frame: SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: local, vlan: 7).span, on: 1, now: now) == .drop(.locked))
        core.setLocked(false, port: 1)
        #expect(core.receive(frame: frame(to: "ff:ff:ff:ff:ff:ff", from: other).span, on: 1, now: now) == .flood)
    }

    @Test func settingsStayWithThePortForItsNextClient() {
        var core = makeSwitch()
        core.setLocked(true, port: 1)
        core.setLearning(false, port: 1)
        core.deactivatePort(1, now: now)
        core.activatePort(1, kind: .edge, now: now)
        #expect(core.ports[1].isLocked && !core.ports[1].learning)
    }
}
