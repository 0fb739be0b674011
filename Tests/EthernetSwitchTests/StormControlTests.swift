import EthernetSwitch
import F2FBase
import Testing

/// Per-port limits for flooded frames, on virtual time.
@Suite struct StormControlTests {
    let start = Instant(nanoseconds: 5_000_000_000)
    let sender = "02:00:00:00:00:0a"
    let receiver = "02:00:00:00:00:0b"

    func makeSwitch(configuration: SwitchConfiguration = SwitchConfiguration()) -> Switch {
        var core = Switch(configuration: configuration)
        core.activatePort(1, kind: .edge)
        core.activatePort(2, kind: .edge)
        core.activatePort(3, kind: .pointToPoint)
        return core
    }

    /// Sends `count` frames evenly over `duration` from `port`; returns how many flooded.
    func offer(_ core: inout Switch, _ frame: [UInt8], count: Int, over duration: Duration, on port: Int, from time: Instant) -> Int {
        let step = duration.nanoseconds / Int64(count)
        var flooded = 0
        for index in 0..<count {
            if core.receive(frame: frame.span, on: port, now: time + .nanoseconds(step * Int64(index))) == .flood { flooded += 1 }
        }
        return flooded
    }

    @Test(arguments: [
        (FloodClass.broadcast, "ff:ff:ff:ff:ff:ff", DropReason.stormBroadcast),
        (FloodClass.multicast, "01:00:5e:00:00:fb", DropReason.stormMulticast),
        (FloodClass.unknownUnicast, "02:00:00:00:00:99", DropReason.stormUnknownUnicast),
    ])
    func aLimitCapsFloodedFramesAtItsRate(floodClass: FloodClass, destination: String, reason: DropReason) {
        var core = makeSwitch()
        core.setStormLimit(100, for: floodClass, port: 1)
        let frame = SwitchTests.frame(to: destination, from: sender)
        // 10 000 frames/s for 3 s: a burst of 100, then 100 a second.
        let flooded = offer(&core, frame, count: 30_000, over: .seconds(3), on: 1, from: start)
        #expect((399...401).contains(flooded), "\(flooded)")
        #expect(core.ports[1].counters[dropped: reason] == UInt64(30_000 - flooded))
        #expect(core.ports[1].counters.totalDrops == UInt64(30_000 - flooded), "only this class is counted")
        // The other classes and the other ports are not limited.
        for other in FloodClass.allCases where other != floodClass {
            #expect(core.stormLimits(ofPort: 1)[other] == 0)
        }
        #expect(offer(&core, frame, count: 1000, over: .milliseconds(10), on: 2, from: start) == 1000)
    }

    @Test func aQuietPortGetsItsBurstBack() {
        var core = makeSwitch()
        core.setStormLimit(10, for: .broadcast, port: 1)
        let frame = SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: sender)
        #expect(offer(&core, frame, count: 50, over: .milliseconds(1), on: 1, from: start) == 10)
        #expect(offer(&core, frame, count: 50, over: .milliseconds(1), on: 1, from: start + .milliseconds(500)) == 5)
        #expect(offer(&core, frame, count: 50, over: .milliseconds(1), on: 1, from: start + .seconds(10)) == 10)
    }

    @Test func knownUnicastIsNeverLimited() {
        var core = makeSwitch()
        core.setStormLimit(1, for: .broadcast, port: 1)
        core.setStormLimit(1, for: .multicast, port: 1)
        core.setStormLimit(1, for: .unknownUnicast, port: 1)
        _ = core.receive(frame: SwitchTests.frame(to: sender, from: receiver).span, on: 2, now: start)
        let known = SwitchTests.frame(to: receiver, from: sender)
        for index in 0..<10_000 {
            #expect(core.receive(frame: known.span, on: 1, now: start + .nanoseconds(Int64(index))) == .unicast(port: 2))
        }
        #expect(core.ports[1].counters.totalDrops == 0)
    }

    @Test func peerLinksHaveAGenerousDefaultAndClientsNone() {
        var core = makeSwitch()
        #expect(core.stormLimits(ofPort: 1) == .unlimited)
        #expect(core.stormLimits(ofPort: 3) == .peerDefault)
        let broadcast = SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: sender)
        let fromPeer = offer(&core, broadcast, count: 100_000, over: .seconds(1), on: 3, from: start)
        #expect((1999...2001).contains(fromPeer), "burst of 1000, then 1000/s: \(fromPeer)")
        #expect(offer(&core, broadcast, count: 100_000, over: .seconds(1), on: 1, from: start) == 100_000)
    }

    @Test func zeroIsUnlimitedAndDefaultRestoresTheKindsLimits() {
        var core = makeSwitch()
        core.setStormLimit(0, for: .broadcast, port: 3)
        #expect(core.stormLimits(ofPort: 3) == StormLimits(broadcast: 0, multicast: 1000, unknownUnicast: 1000))
        let broadcast = SwitchTests.frame(to: "ff:ff:ff:ff:ff:ff", from: sender)
        #expect(offer(&core, broadcast, count: 50_000, over: .milliseconds(100), on: 3, from: start) == 50_000)
        core.resetStormLimits(port: 3)
        #expect(core.stormLimits(ofPort: 3) == .peerDefault)
        #expect(core.ports[3].stormLimits == nil)
    }
}
