import EthernetSwitch
import F2FBase
import Testing

/// 802.1Q on the pure switch: membership, ingress filtering, egress forms, per-VLAN
/// flooding and learning.
@Suite struct VLANTests {
    let now = Instant(nanoseconds: 1_000_000_000)
    let broadcast = "ff:ff:ff:ff:ff:ff"

    func frame(to destination: String, from source: String, vlan: UInt16? = nil) -> [UInt8] {
        SwitchTests.frame(to: destination, from: source, vlan: vlan)
    }

    /// Ports 1, 2 access ports of VLAN 10, port 3 of VLAN 0, port 4 a tagged member of 10,
    /// port 5 a friend link (trunk).
    func makeSwitch() -> Switch {
        var core = Switch(configuration: SwitchConfiguration(portCount: 8))
        for port in 1...4 { core.activatePort(port) }
        core.activatePort(5, kind: .pointToPoint)
        #expect(throws: Never.self) { try core.createVLAN(10) }
        #expect(throws: Never.self) { try core.setUntaggedVLAN(10, port: 1) }
        #expect(throws: Never.self) { try core.setUntaggedVLAN(10, port: 2) }
        #expect(throws: Never.self) { try core.addTaggedPort(4, vlan: 10) }
        return core
    }

    /// The ports the last frame goes to, as the engine asks for them.
    func receivers(_ core: inout Switch, _ decision: ForwardingDecision, from ingress: Int) -> [Int: VLANEgress] {
        core.selectVLANTargets(for: decision, from: ingress)
        return Dictionary(uniqueKeysWithValues: core.vlanTargets.map { ($0.port, $0.tagged ? VLANEgress.tagged : .untagged) })
    }

    @Test func commandsRefuseWhatVdeSwitchRefuses() {
        var core = makeSwitch()
        #expect(throws: VLANError.invalidVLAN) { try core.createVLAN(0) }
        #expect(throws: VLANError.invalidVLAN) { try core.createVLAN(4095) }
        #expect(throws: VLANError.exists) { try core.createVLAN(10) }
        #expect(throws: VLANError.noSuchVLAN) { try core.addTaggedPort(4, vlan: 11) }
        #expect(throws: VLANError.noSuchPort) { try core.addTaggedPort(6, vlan: 10) }
        #expect(throws: VLANError.noSuchVLAN) { try core.setUntaggedVLAN(11, port: 1) }
        #expect(throws: VLANError.noSuchPort) { try core.setUntaggedVLAN(10, port: 6) }
        #expect(throws: VLANError.inUse) { try core.removeVLAN(10) }
        #expect(throws: VLANError.noSuchVLAN) { try core.removeVLAN(11) }
        #expect(throws: VLANError.inUse) { try core.removeTaggedPort(1, vlan: 10) }
        // Leaving the VLAN: both access ports back to 0, the tagged member dropped.
        #expect(throws: Never.self) { try core.setUntaggedVLAN(0, port: 1) }
        #expect(throws: Never.self) { try core.setUntaggedVLAN(0, port: 2) }
        #expect(throws: Never.self) { try core.removeTaggedPort(4, vlan: 10) }
        #expect(throws: Never.self) { try core.removeVLAN(10) }
        #expect(!core.vlans.exists(10))
        #expect(!core.vlans.isInUse)
    }

    @Test func ingressFilteringDropsAndCountsForeignTags() {
        var core = makeSwitch()
        // Port 3 is in VLAN 0 only: a frame tagged 10 is not its to send.
        let tagged = frame(to: broadcast, from: "02:00:00:00:00:03", vlan: 10)
        #expect(core.receive(frame: tagged.span, on: 3, now: now) == .drop(.vlan))
        #expect(core.ports[3].counters[dropped: .vlan] == 1)
        // An unknown VLAN, even on the trunk.
        let unknown = frame(to: broadcast, from: "02:00:00:00:00:05", vlan: 20)
        #expect(core.receive(frame: unknown.span, on: 5, now: now) == .drop(.vlan))
        // The tagged member and the trunk may send VLAN 10 tagged.
        #expect(core.receive(frame: tagged.span, on: 4, now: now) == .flood)
        #expect(core.frameVLAN == 10 && core.frameWasTagged)
        let fromTrunk = frame(to: broadcast, from: "02:00:00:00:00:05", vlan: 10)
        #expect(core.receive(frame: fromTrunk.span, on: 5, now: now) == .flood)
        // An access port's tagged frames are refused, its untagged ones take its VLAN.
        #expect(core.receive(frame: tagged.span, on: 1, now: now) == .drop(.vlan))
        let untagged = frame(to: broadcast, from: "02:00:00:00:00:01")
        #expect(core.receive(frame: untagged.span, on: 1, now: now) == .flood)
        #expect(core.frameVLAN == 10 && !core.frameWasTagged)
        // Untagged VLAN "none": untagged frames have nowhere to go.
        #expect(throws: Never.self) { try core.setUntaggedVLAN(VLANs.none, port: 3) }
        #expect(core.receive(frame: untagged.span, on: 3, now: now) == .drop(.vlan))
    }

    @Test func egressFormsFollowMembership() {
        let core = makeSwitch()
        #expect(core.egressForm(of: 1, vlan: 10) == .untagged)
        #expect(core.egressForm(of: 4, vlan: 10) == .tagged)
        #expect(core.egressForm(of: 5, vlan: 10) == .tagged)
        #expect(core.egressForm(of: 3, vlan: 10) == .none)
        #expect(core.egressForm(of: 1, vlan: 0) == .none)
        #expect(core.egressForm(of: 4, vlan: 0) == .untagged)
        #expect(core.egressForm(of: 5, vlan: 0) == .untagged)
    }

    /// The data path trusts a tagged-membership bit alone: none may outlive its VLAN, or
    /// stay once the VLAN is the port's untagged one.
    @Test func noMembershipOutlivesItsVLANOrTheUntaggedVLAN() throws {
        var core = makeSwitch()
        try core.setUntaggedVLAN(10, port: 4)  // the tagged member becomes an access port
        #expect(core.egressForm(of: 4, vlan: 10) == .untagged)
        try core.setUntaggedVLAN(0, port: 4)
        #expect(core.egressForm(of: 4, vlan: 10) == .none, "not a tagged member again by leaving")

        try core.createVLAN(20)
        try core.addTaggedPort(3, vlan: 20)
        core.deactivatePort(3)
        try core.removeVLAN(20)  // a port without its client does not hold a VLAN
        try core.createVLAN(20)
        core.activatePort(3)
        #expect(core.egressForm(of: 3, vlan: 20) == .none, "a new VLAN 20 starts without members")
        #expect(core.egressForm(of: 5, vlan: 20) == .tagged, "friend links carry every VLAN")
        let tagged = frame(to: broadcast, from: "02:00:00:00:00:03", vlan: 20)
        #expect(core.receive(frame: tagged.span, on: 3, now: now) == .drop(.vlan))
    }

    @Test func floodingStaysInsideTheVLAN() {
        var core = makeSwitch()
        let fromAccess = frame(to: broadcast, from: "02:00:00:00:00:01")
        let decision = core.receive(frame: fromAccess.span, on: 1, now: now)
        #expect(decision == .flood)
        #expect(receivers(&core, decision, from: 1) == [2: .untagged, 4: .tagged, 5: .tagged])
        let fromDefault = frame(to: broadcast, from: "02:00:00:00:00:03")
        let fromDefaultDecision = core.receive(frame: fromDefault.span, on: 3, now: now)
        #expect(fromDefaultDecision == .flood)
        #expect(receivers(&core, fromDefaultDecision, from: 3) == [4: .untagged, 5: .untagged])
        // Unicast from the trunk, tagged, to the station learned on port 1: one untagged copy.
        let toFirst = frame(to: "02:00:00:00:00:01", from: "02:00:00:00:00:05", vlan: 10)
        let unicast = core.receive(frame: toFirst.span, on: 5, now: now)
        #expect(unicast == .unicast(port: 1))
        #expect(receivers(&core, unicast, from: 5) == [1: .untagged])
        #expect(!core.unicastLeavesTagged, "the engine reads a unicast's form here, without the list")
        // And back from port 1 to the trunk's station: its one copy leaves tagged.
        let toTrunk = frame(to: "02:00:00:00:00:05", from: "02:00:00:00:00:01")
        #expect(core.receive(frame: toTrunk.span, on: 1, now: now) == .unicast(port: 5))
        #expect(core.unicastLeavesTagged)
    }

    @Test func eachVLANLearnsItsOwnStations() throws {
        var core = makeSwitch()
        let station = "02:00:00:00:00:aa"
        // The same address in VLAN 0 on port 3 and in VLAN 10 on port 1.
        _ = core.receive(frame: frame(to: broadcast, from: station).span, on: 3, now: now)
        _ = core.receive(frame: frame(to: broadcast, from: station).span, on: 1, now: now)
        let address = try #require(MACAddress(parsing: station))
        #expect(core.macTable.lookup(address, vlanID: 0, now: now) == 3)
        #expect(core.macTable.lookup(address, vlanID: 10, now: now) == 1)
        // Tagged 10 from the trunk reaches the VLAN 10 station, untagged the VLAN 0 one.
        #expect(core.receive(frame: frame(to: station, from: "02:00:00:00:00:05", vlan: 10).span, on: 5, now: now) == .unicast(port: 1))
        #expect(core.receive(frame: frame(to: station, from: "02:00:00:00:00:05").span, on: 5, now: now) == .unicast(port: 3))
        // A station known only in VLAN 0 is unknown in VLAN 10: the frame floods there.
        let other = "02:00:00:00:00:bb"
        _ = core.receive(frame: frame(to: broadcast, from: other).span, on: 3, now: now)
        #expect(core.receive(frame: frame(to: other, from: "02:00:00:00:00:02").span, on: 2, now: now) == .flood)
    }

    @Test func aStaticEntryOutsideTheVLANLeadsNowhere() throws {
        var core = makeSwitch()
        let address = try #require(MACAddress(parsing: "02:00:00:00:00:cc"))
        core.addStaticEntry(address, vlanID: 10, port: 3)
        let toIt = frame(to: "02:00:00:00:00:cc", from: "02:00:00:00:00:01")
        #expect(core.receive(frame: toIt.span, on: 1, now: now) == .drop(.portBlocked))
    }

    @Test func withoutVLANsTaggedFramesPassAsBefore() {
        var core = Switch(configuration: SwitchConfiguration(portCount: 4))
        core.activatePort(1)
        core.activatePort(2)
        #expect(!core.vlans.isInUse)
        let tagged = frame(to: broadcast, from: "02:00:00:00:00:01", vlan: 10)
        #expect(core.receive(frame: tagged.span, on: 1, now: now) == .flood)
        #expect(throws: Never.self) { try core.createVLAN(20) }
        #expect(core.vlans.isInUse)
        #expect(core.receive(frame: tagged.span, on: 1, now: now) == .drop(.vlan))
    }

    @Test func settingsStayWithThePortWhenItsClientGoes() {
        var core = makeSwitch()
        core.deactivatePort(1)
        core.activatePort(1)
        #expect(core.ports[1].untaggedVLAN == 10)
        #expect(core.egressForm(of: 1, vlan: 10) == .untagged)
    }

    /// vde_switch's `port/create`: VLAN settings before a client, kept for it, and a port
    /// that automatic allocation passes by.
    @Test func aCreatedPortTakesVLANSettingsBeforeItsClient() {
        var core = makeSwitch()
        #expect(throws: VLANError.noSuchPort) { try core.setUntaggedVLAN(10, port: 6) }
        let made = core.createPort(6), madeTwice = core.createPort(6), madeWithClient = core.createPort(1)
        #expect(made && !madeTwice)
        #expect(!madeWithClient, "a port with a client exists already")
        #expect(throws: Never.self) { try core.setUntaggedVLAN(10, port: 6) }
        #expect(throws: VLANError.noSuchPort) { try core.addTaggedPort(7, vlan: 10) }
        #expect(core.lowestFreePort(from: 6) == 7)
        #expect(throws: VLANError.inUse) { try core.removeVLAN(10) }
        core.activatePort(6)
        let fromCreated = frame(to: broadcast, from: "02:00:00:00:00:06")
        let decision = core.receive(frame: fromCreated.span, on: 6, now: now)
        #expect(receivers(&core, decision, from: 6) == [1: .untagged, 2: .untagged, 4: .tagged, 5: .tagged])
        core.deactivatePort(6)
        let unmade = core.unmakePort(6), unmadeTwice = core.unmakePort(6)
        #expect(unmade && !unmadeTwice)
        #expect(core.lowestFreePort(from: 6) == 6)
    }
}
