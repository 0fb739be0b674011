import EthernetSwitch
import F2FBase
import Testing

/// Forwarding rules of the learning switch, on virtual time.
@Suite struct SwitchTests {
    let now = Instant(nanoseconds: 1_000_000_000)

    static func frame(to destination: String, from source: String, size: Int = 60, vlan: UInt16? = nil) -> [UInt8] {
        var header = EthernetHeader(
            destination: MACAddress(parsing: destination)!, source: MACAddress(parsing: source)!,
            etherType: 0x0800, vlanID: vlan ?? 0, isTagged: vlan != nil)
        var bytes: [UInt8] = []
        header.encode(into: &bytes)
        header.etherType = 0
        bytes += repeatElement(0xAB, count: max(0, size - bytes.count))
        return bytes
    }

    func makeSwitch(ports: [Int] = [1, 2, 3], configuration: SwitchConfiguration = SwitchConfiguration()) -> Switch {
        var core = Switch(configuration: configuration)
        for port in ports { core.activatePort(port) }
        return core
    }

    @Test func broadcastAndMulticastFlood() {
        var core = makeSwitch()
        let broadcast = Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:01")
        #expect(core.receive(frame: broadcast.span, on: 1, now: now) == .flood)
        let multicast = Self.frame(to: "33:33:00:00:00:01", from: "02:00:00:00:00:01")
        #expect(core.receive(frame: multicast.span, on: 1, now: now) == .flood)
        #expect(core.floodPorts == [1, 2, 3])
    }

    @Test func unknownUnicastFloodsThenLearnedUnicastGoesToItsPort() {
        var core = makeSwitch()
        let toB = Self.frame(to: "02:00:00:00:00:0b", from: "02:00:00:00:00:0a")
        #expect(core.receive(frame: toB.span, on: 1, now: now) == .flood)
        let toA = Self.frame(to: "02:00:00:00:00:0a", from: "02:00:00:00:00:0b")
        #expect(core.receive(frame: toA.span, on: 2, now: now) == .unicast(port: 1))
        #expect(core.receive(frame: toB.span, on: 1, now: now) == .unicast(port: 2))
    }

    @Test func neverSendsBackOutTheIngressPort() {
        var core = makeSwitch()
        let fromA = Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a")
        _ = core.receive(frame: fromA.span, on: 1, now: now)
        let bToA = Self.frame(to: "02:00:00:00:00:0a", from: "02:00:00:00:00:0b")
        #expect(core.receive(frame: bToA.span, on: 1, now: now) == .drop(.hairpin))
        #expect(core.ports[1].counters[dropped: .hairpin] == 1)
    }

    @Test func multicastSourcesAreNeverLearned() {
        var core = makeSwitch()
        let bogus = Self.frame(to: "02:00:00:00:00:0b", from: "01:00:5e:00:00:01")
        _ = core.receive(frame: bogus.span, on: 1, now: now)
        #expect(core.macTable.count == 0)
    }

    @Test func movedStationIsRelearned() {
        var core = makeSwitch()
        let fromA = Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a")
        _ = core.receive(frame: fromA.span, on: 1, now: now)
        _ = core.receive(frame: fromA.span, on: 3, now: now + .seconds(1))
        let toA = Self.frame(to: "02:00:00:00:00:0a", from: "02:00:00:00:00:0b")
        #expect(core.receive(frame: toA.span, on: 2, now: now + .seconds(1)) == .unicast(port: 3))
    }

    @Test func agedStationFloodsAgain() {
        var core = makeSwitch(configuration: SwitchConfiguration(macAgingTime: .seconds(30)))
        _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a").span, on: 1, now: now)
        let toA = Self.frame(to: "02:00:00:00:00:0a", from: "02:00:00:00:00:0b")
        #expect(core.receive(frame: toA.span, on: 2, now: now + .seconds(29)) == .unicast(port: 1))
        core.tick(now: now + .seconds(31))
        #expect(core.receive(frame: toA.span, on: 2, now: now + .seconds(31)) == .flood)
    }

    @Test func removedPortTakesItsStations() {
        var core = makeSwitch()
        _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a").span, on: 1, now: now)
        core.deactivatePort(1)
        #expect(core.floodPorts == [2, 3])
        #expect(core.macTable.count == 0)
        let toA = Self.frame(to: "02:00:00:00:00:0a", from: "02:00:00:00:00:0b")
        #expect(core.receive(frame: toA.span, on: 2, now: now) == .flood)
        #expect(core.lowestFreePort() == 1)
    }

    @Test func vlansLearnSeparately() {
        var core = makeSwitch()
        _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a", vlan: 10).span, on: 1, now: now)
        let untaggedToA = Self.frame(to: "02:00:00:00:00:0a", from: "02:00:00:00:00:0b")
        #expect(core.receive(frame: untaggedToA.span, on: 2, now: now) == .flood)
        let taggedToA = Self.frame(to: "02:00:00:00:00:0a", from: "02:00:00:00:00:0b", vlan: 10)
        #expect(core.receive(frame: taggedToA.span, on: 2, now: now) == .unicast(port: 1))
    }

    @Test func runtsAndOversizeFramesAreDroppedAndCounted() {
        var core = makeSwitch(configuration: SwitchConfiguration(maxFrameSize: 1518))
        let runt = [UInt8](repeating: 0xFF, count: 13)
        #expect(core.receive(frame: runt.span, on: 1, now: now) == .drop(.runt))
        let smallest = Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a", size: 14)
        #expect(core.receive(frame: smallest.span, on: 1, now: now) == .flood)
        let largest = Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a", size: 1518)
        #expect(core.receive(frame: largest.span, on: 1, now: now) == .flood)
        let oversize = Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a", size: 1519)
        #expect(core.receive(frame: oversize.span, on: 1, now: now) == .drop(.oversize))
        let counters = core.ports[1].counters
        #expect(counters[dropped: .runt] == 1)
        #expect(counters[dropped: .oversize] == 1)
        #expect(counters.framesIn == 2)
        #expect(counters.bytesIn == 14 + 1518)
    }

    @Test func fullTableFloodsUnlearnedStations() {
        var core = makeSwitch(configuration: SwitchConfiguration(macTableCapacity: 1))
        _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0a").span, on: 1, now: now)
        _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0b").span, on: 2, now: now)
        #expect(core.refusedLearnCount == 1)
        let toB = Self.frame(to: "02:00:00:00:00:0b", from: "02:00:00:00:00:0a")
        #expect(core.receive(frame: toB.span, on: 1, now: now) == .flood)
    }

    @Test func aMACFloodingClientCannotEvictOrCrowdOutOtherStations() {
        var core = makeSwitch(configuration: SwitchConfiguration(macTableCapacity: 64, clientMACLimit: 16))
        _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "02:00:00:00:00:0b").span, on: 2, now: now)
        for index in 0..<1000 {
            let source = MACAddress(rawValue: 0x0200_0001_0000 + UInt64(index))
            _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "\(source)").span, on: 1, now: now)
        }
        #expect(core.ports[1].counters.macLimitRefusals == 984)
        #expect(core.macTable.count == 17)
        // The honest station is still known, and a newcomer on another port still learns.
        #expect(core.receive(frame: Self.frame(to: "02:00:00:00:00:0b", from: "02:00:00:00:00:0c").span, on: 3, now: now) == .unicast(port: 2))
        #expect(core.receive(frame: Self.frame(to: "02:00:00:00:00:0c", from: "02:00:00:00:00:0b").span, on: 2, now: now) == .unicast(port: 3))
    }

    /// Two friends flooding source addresses, each within its own --peer-macs, together fill
    /// at most half the table: local clients still learn.
    @Test func peerLinksTogetherLeaveLocalClientsRoomInTheTable() {
        var core = makeSwitch(ports: [1], configuration: SwitchConfiguration(macTableCapacity: 64, clientMACLimit: 16, peerMACLimit: 48))
        core.activatePort(2, kind: .pointToPoint)
        core.activatePort(3, kind: .pointToPoint)
        for index in 0..<100 {
            for port in [2, 3] {
                let source = MACAddress(rawValue: 0x0200_0100_0000 + UInt64(port << 8 + index))
                _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "\(source)").span, on: port, now: now)
            }
        }
        #expect(core.macTable.peerStationCount == 32)
        #expect(core.macTable.count == 32)
        #expect(core.ports[2].counters.macLimitRefusals + core.ports[3].counters.macLimitRefusals == 168)
        for index in 0..<16 {
            let source = MACAddress(rawValue: 0x0200_0200_0000 + UInt64(index))
            _ = core.receive(frame: Self.frame(to: "ff:ff:ff:ff:ff:ff", from: "\(source)").span, on: 1, now: now)
        }
        #expect(core.macTable.count == 48)
        #expect(core.ports[1].counters.macLimitRefusals == 0)
        #expect(core.receive(frame: Self.frame(to: "02:00:02:00:00:0f", from: "02:00:01:00:02:00").span, on: 2, now: now) == .unicast(port: 1))
    }

    @Test func egressAccountingAndReset() {
        var core = makeSwitch()
        core.recordSent(port: 2, byteCount: 100)
        core.recordDrop(port: 2, reason: .queueFull)
        #expect(core.ports[2].counters.framesOut == 1)
        #expect(core.ports[2].counters.bytesOut == 100)
        #expect(core.ports[2].counters[dropped: .queueFull] == 1)
        core.resetCounters(port: 2)
        #expect(core.ports[2].counters == PortCounters())
    }

    @Test func portAllocationSkipsPortZeroAndActivePorts() {
        var core = Switch(configuration: SwitchConfiguration(portCount: 4))
        #expect(core.lowestFreePort() == 1)
        core.activatePort(1)
        core.activatePort(2)
        #expect(core.lowestFreePort() == 3)
        core.activatePort(3)
        #expect(core.lowestFreePort() == nil)
        #expect(core.lowestFreePort(from: 0) == 0)
    }

    @Test func randomFramesNeverTrap() {
        var core = makeSwitch()
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<10_000 {
            let count = Int.random(in: 0...64, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let port = Int.random(in: 1...3, using: &generator)
            switch core.receive(frame: bytes.span, on: port, now: now) {
            case .unicast(let egress): #expect(egress != port && core.isActive(egress))
            case .flood, .drop, .consumed: break
            }
        }
    }
}
