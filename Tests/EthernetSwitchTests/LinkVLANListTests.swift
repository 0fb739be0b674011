import EthernetSwitch
import F2FBase
import Testing

/// `peer/setvlans` on the pure side: the list's syntax, and the filter it puts on a friend
/// link (a trunk) in both directions.
@Suite struct LinkVLANListTests {
    let now = Instant(nanoseconds: 1_000_000_000)
    let broadcast = "ff:ff:ff:ff:ff:ff"

    @Test(arguments: [
        ("all", "all"), ("none", "none"), ("untagged", "none"), (" 10 ", "10"), ("10,20,30-40", "10,20,30-40"),
        ("30-40,10,20", "10,20,30-40"), ("10,11,12", "10-12"), ("5-9,7-20", "5-20"), ("1-4094", "all"), ("4094", "4094"),
        ("20-20", "20"),
    ])
    func listsParseAndPrintCanonically(text: String, printed: String) throws {
        let list = try VLANList(parsing: text)
        #expect(list.description == printed)
        #expect(try VLANList(parsing: list.description) == list, "what it prints parses back")
    }

    @Test(arguments: ["0", "4095", "4096", "10,0", "1-4095", "20-10", "0-5"])
    func reservedOrBackwardVLANsAreInvalid(text: String) {
        #expect(throws: VLANList.ParseError.invalidVLAN(String(text.split(separator: ",").last!))) { try VLANList(parsing: text) }
    }

    @Test(arguments: ["", " ", "10,", ",10", "10,,20", "10-", "-10", "1-2-3", "ten", "+10", "-1", "00010", "10 20", "All", "10;20", "٣"])
    func malformedListsAreRefused(text: String) {
        let error = #expect(throws: VLANList.ParseError.self) { try VLANList(parsing: text) }
        if case .malformed = error { return }
        Issue.record("'\(text)': \(String(describing: error)), not malformed")
    }

    @Test func membership() throws {
        let list = try VLANList(parsing: "10,20,30-40")
        for vlan: UInt16 in [10, 20, 30, 35, 40] { #expect(list.contains(vlan)) }
        for vlan: UInt16 in [0, 1, 11, 29, 41, 4094, 4095] { #expect(!list.contains(vlan)) }
        #expect(VLANList.all.contains(1) && VLANList.all.contains(4094) && !VLANList.all.contains(4095))
        #expect(!VLANList.none.contains(10))
        #expect(throws: VLANList.ParseError.invalidVLAN("0-3")) { try VLANList([0...3]) }
    }

    /// Port 1 an access port of VLAN 10, port 2 of VLAN 20, port 3 a tagged member of both,
    /// ports 5 and 6 friend links (trunks).
    func makeSwitch() throws -> Switch {
        var core = Switch(configuration: SwitchConfiguration(portCount: 8))
        for port in 1...3 { core.activatePort(port) }
        core.activatePort(5, kind: .pointToPoint)
        core.activatePort(6, kind: .pointToPoint)
        try core.createVLAN(10)
        try core.createVLAN(20)
        try core.setUntaggedVLAN(10, port: 1)
        try core.setUntaggedVLAN(20, port: 2)
        try core.addTaggedPort(3, vlan: 10)
        try core.addTaggedPort(3, vlan: 20)
        return core
    }

    func receivers(_ core: inout Switch, _ decision: ForwardingDecision, from ingress: Int) -> [Int: Bool] {
        core.selectVLANTargets(for: decision, from: ingress)
        return Dictionary(uniqueKeysWithValues: core.vlanTargets.map { ($0.port, $0.tagged) })
    }

    @Test func aLinksListKeepsOtherVLANsOffItBothWays() throws {
        var core = try makeSwitch()
        core.setLinkVLANs(try VLANList(parsing: "10"), port: 5)
        #expect(core.vlans.linkLists[5] == (try VLANList(parsing: "10")))
        #expect(core.egressForm(of: 5, vlan: 10) == .tagged)
        #expect(core.egressForm(of: 5, vlan: 20) == .none)
        #expect(core.egressForm(of: 5, vlan: 0) == .untagged, "the untagged VLAN crosses whatever the list")
        #expect(core.egressForm(of: 6, vlan: 20) == .tagged, "another link keeps every VLAN")

        // Floods of 20 leave every member but the link; floods of 10 take it.
        let inTwenty = SwitchTests.frame(to: broadcast, from: "02:00:00:00:00:02")
        let twenty = core.receive(frame: inTwenty.span, on: 2, now: now)
        #expect(receivers(&core, twenty, from: 2) == [3: true, 6: true])
        let inTen = SwitchTests.frame(to: broadcast, from: "02:00:00:00:00:01")
        let ten = core.receive(frame: inTen.span, on: 1, now: now)
        #expect(receivers(&core, ten, from: 1) == [3: true, 5: true, 6: true])

        // From the link: 10 is accepted, 20 dropped and counted, untagged frames pass.
        let tenFromLink = SwitchTests.frame(to: broadcast, from: "02:00:00:00:00:05", vlan: 10)
        #expect(core.receive(frame: tenFromLink.span, on: 5, now: now) == .flood)
        let twentyFromLink = SwitchTests.frame(to: broadcast, from: "02:00:00:00:00:05", vlan: 20)
        #expect(core.receive(frame: twentyFromLink.span, on: 5, now: now) == .drop(.vlan))
        #expect(core.ports[5].counters[dropped: .vlan] == 1)
        let untaggedFromLink = SwitchTests.frame(to: broadcast, from: "02:00:00:00:00:05")
        #expect(core.receive(frame: untaggedFromLink.span, on: 5, now: now) == .flood)

        // No station of 20 is learned behind the link (its frames are refused), but a static
        // entry may name it: a unicast of 20 then goes nowhere.
        core.addStaticEntry(MACAddress(parsing: "02:00:00:00:00:77")!, vlanID: 20, port: 5)
        let toRemote = SwitchTests.frame(to: "02:00:00:00:00:77", from: "02:00:00:00:00:02")
        #expect(core.receive(frame: toRemote.span, on: 2, now: now) == .drop(.portBlocked))

        // `all` restores them.
        core.setLinkVLANs(.all, port: 5)
        #expect(core.vlans.linkLists[5] == nil)
        #expect(core.receive(frame: twentyFromLink.span, on: 5, now: now) == .flood)
        #expect(core.receive(frame: toRemote.span, on: 2, now: now) == .unicast(port: 5))
        #expect(core.unicastLeavesTagged)
    }

    @Test func noneCarriesOnlyTheUntaggedVLAN() throws {
        var core = try makeSwitch()
        try core.setUntaggedVLAN(10, port: 5)
        core.setLinkVLANs(.none, port: 5)
        #expect(core.egressForm(of: 5, vlan: 10) == .untagged)
        #expect(core.egressForm(of: 5, vlan: 20) == .none)
        #expect(core.egressForm(of: 5, vlan: 0) == .none)
        let inTen = SwitchTests.frame(to: broadcast, from: "02:00:00:00:00:01")
        let ten = core.receive(frame: inTen.span, on: 1, now: now)
        #expect(receivers(&core, ten, from: 1) == [3: true, 5: false, 6: true])
    }

    /// `vlan/addport` sets a bit the data path trusts alone: it may not let a VLAN the list
    /// leaves out through, set before or after the list.
    @Test func anExplicitTaggedMembershipDoesNotBypassTheList() throws {
        var core = try makeSwitch()
        try core.addTaggedPort(5, vlan: 20)
        core.setLinkVLANs(try VLANList(parsing: "10"), port: 5)
        #expect(core.egressForm(of: 5, vlan: 20) == .none)
        try core.addTaggedPort(5, vlan: 20)
        #expect(core.egressForm(of: 5, vlan: 20) == .none)
        #expect(!core.vlans.isTaggedMember(5, vlan: 20), "the explicit bit is gone, not just outweighed")
        #expect(core.vlans.isTaggedMember(3, vlan: 20), "other ports' bits stay")
    }

    @Test func aListPutsTheSwitchInVLANModeAndGoesWithItsLink() throws {
        var core = Switch(configuration: SwitchConfiguration(portCount: 8))
        core.activatePort(1)
        core.activatePort(5, kind: .pointToPoint)
        #expect(!core.vlans.isInUse)
        core.setLinkVLANs(.none, port: 5)
        #expect(core.vlans.isInUse, "frames must be classified to be filtered")
        // A tagged frame from the link: VLAN 30 does not exist here, and the list says no.
        let tagged = SwitchTests.frame(to: broadcast, from: "02:00:00:00:00:05", vlan: 30)
        #expect(core.receive(frame: tagged.span, on: 5, now: now) == .drop(.vlan))
        core.deactivatePort(5)
        #expect(core.vlans.linkLists.isEmpty)
        #expect(!core.vlans.isInUse)
        core.activatePort(5, kind: .pointToPoint)
        #expect(core.receive(frame: tagged.span, on: 5, now: now) == .flood, "the next link on the port carries everything")
    }
}
