import EthernetSwitch
import Foundation
import Glibc
import Testing

/// What a friend may do to a switch's stations and clients, on real processes: two switches
/// linked as friends over Noise/TCP, VDE clients through libvdeplug, the real console.
@Suite(.serialized) struct StationsAndStormsTests {
    /// a listens, b dials it; both linked before this returns.
    func linkedFriends(a extra: [String] = []) throws -> (a: SwitchProcess, b: SwitchProcess, group: FriendGroup) {
        let port = try TCPPorts.free()
        let group = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: extra + ["--listen", "127.0.0.1:\(port)"] + group.member(0))
        let b = try SwitchProcess(arguments: ["--peer", group.pinned(0, port: port)] + group.member(1))
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        return (a, b, group)
    }

    /// The switch port of the (only) friend link, from `peer/print`.
    func peerPort(of sw: SwitchProcess) throws -> Int {
        let line = try #require(try sw.command("peer/print").data.first { $0.hasPrefix("Peer ") && $0.contains(" port ") })
        let words = line.split(separator: " ")
        let index = try #require(words.firstIndex(of: "port"))
        return try #require(Int(words[index + 1]))
    }

    func dropLine(_ sw: SwitchProcess, port: Int) throws -> String {
        try sw.command("port/print \(port)").data.first { $0.hasPrefix(" DROP:") } ?? ""
    }

    /// Every frame that arrives until none has come for `quiet`.
    func drain(_ client: TestClient, quiet: Duration = .milliseconds(500)) throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        while let frame = try client.receive(timeout: quiet) { frames.append(frame) }
        return frames
    }

    @Test func aFriendSpoofingALocalStationsAddressDoesNotGetItsTraffic() throws {
        let (a, b, _) = try linkedFriends()
        let victim = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01", port: 5)
        let neighbour = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:02")
        // Behind the friend, a client using the victim's address.
        let spoofer = try TestClient(b.socketDirectory, mac: "02:00:00:00:0a:01")
        let hello = victim.frame(to: .broadcast, tag: 1)
        try victim.send(hello)
        #expect(try neighbour.receive() == hello)
        #expect(try spoofer.receive() == hello, "the victim's broadcast crossed the link")

        try spoofer.send(spoofer.frame(to: .broadcast, tag: 2))
        let peerPort = try peerPort(of: a)
        // Until a has dealt with the spoofed frame: dropped it, or delivered it.
        var leaked: [UInt8]?
        try waitUntil(timeout: .seconds(5), "a to handle the spoofed frame") {
            if try dropLine(a, port: peerPort).contains(" protected-mac 1 ") { return true }
            leaked = try neighbour.receive(timeout: .milliseconds(20))
            return leaked != nil
        }
        #expect(leaked == nil, "the spoofed frame is not delivered")
        #expect(try dropLine(a, port: peerPort).contains(" protected-mac 1 "))
        #expect(try neighbour.receive(timeout: .milliseconds(300)) == nil)

        let toVictim = neighbour.frame(to: victim.mac, tag: 3)
        try neighbour.send(toVictim)
        #expect(try victim.receive() == toVictim)
        #expect(try spoofer.receive(timeout: .milliseconds(500)) == nil, "nothing for the victim reaches the friend")
        #expect(try a.command("hash/find 02:00:00:00:0a:01").data.contains { $0.hasSuffix("to port: 005") })

        // A stream of spoofed frames is counted, and logged once per 10 s, not per frame.
        for tag in 0..<100 { try spoofer.send(spoofer.frame(to: .broadcast, tag: UInt8(tag))) }
        try waitUntil(timeout: .seconds(5), "a to drop them all") { try dropLine(a, port: peerPort).contains(" protected-mac 101 ") }
        #expect(try neighbour.receive(timeout: .milliseconds(100)) == nil)
        try b.stop()
        let log = try a.stop().log
        let warnings = log.split(separator: "\n").filter { $0.contains("frames dropped by MAC or storm rules") }
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.contains("protected-mac=1") == true && warnings.first?.contains("02:00:00:00:0a:01") == true, "\(log)")
    }

    @Test func aBroadcastStormFromAFriendIsCappedAtTheConfiguredRate() throws {
        let (a, b, _) = try linkedFriends(a: ["--peer-storm", "2000"])
        let peerPort = try peerPort(of: a)
        #expect(try a.command("port/print \(peerPort)").data.contains(" STORM: bcast 2000/s mcast 2000/s unknown 2000/s (peer default)"))
        #expect(try a.command("port/setstorm \(peerPort) bcast 50").status == "1000 Success")
        #expect(try a.command("port/print \(peerPort)").data.contains(" STORM: bcast 50/s mcast 2000/s unknown 2000/s (set on this port)"))
        let listener = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let flooder = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        let sent = 3000
        let started = ContinuousClock.now
        for index in 0..<sent {
            var frame = flooder.frame(to: .broadcast, size: 100)
            frame[14] = UInt8(truncatingIfNeeded: index >> 8)
            frame[15] = UInt8(truncatingIfNeeded: index)
            try flooder.send(frame)
        }
        var received = 0
        var lastArrival = started
        while try listener.receive(timeout: .milliseconds(700)) != nil {
            received += 1
            lastArrival = ContinuousClock.now
        }
        let seconds = Double((lastArrival - started).components.attoseconds) / 1e18 + Double((lastArrival - started).components.seconds)
        // A burst of 50, then 50 a second for as long as the flood lasted.
        let allowed = 50 + Int(50 * seconds) + 2
        #expect(received >= 50 && received <= allowed, "received \(received) of \(sent) in \(seconds) s, at most \(allowed) allowed")
        let drops = try dropLine(a, port: peerPort)
        #expect(drops.contains(" storm-bcast ") && !drops.contains(" storm-bcast 0 "), "\(drops)")
        // The local client's own port is not limited.
        let second = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:02")
        for _ in 0..<200 { try second.send(second.frame(to: .broadcast)) }
        #expect(try drain(listener).count == 200)
        try b.stop()
        try a.stop()
    }

    @Test func staticEntriesLearningLockAndStormOverTheConsole() throws {
        let sw = try SwitchProcess()
        let pinned = "02:00:00:00:0c:01"
        #expect(try sw.command("hash/add \(pinned) 5").status == "1000 Success")
        for bad in ["hash/add 01:00:5e:00:00:01 5", "hash/add \(pinned) 99", "hash/add \(pinned) 5 4096", "hash/add nonsense 5", "hash/add \(pinned)"] {
            #expect(try sw.command(bad).status == "1022 Invalid argument", "\(bad)")
        }
        #expect(try sw.command("hash/print").data.contains { $0.contains("Addr: \(pinned) VLAN 0000 to port: 005  age 0 secs static") })
        #expect(try sw.command("hash/find \(pinned)").data == ["Address \(pinned) VLAN 0 to port: 005"])
        #expect(try sw.command("hash/showinfo").data.contains("Static entries 1"))

        // A client elsewhere using the pinned address is dropped; the others still talk.
        let impostor = try TestClient(sw.socketDirectory, mac: pinned, port: 3)
        let witness = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0c:02", port: 4)
        try impostor.send(impostor.frame(to: .broadcast))
        #expect(try witness.receive(timeout: .milliseconds(300)) == nil)
        #expect(try dropLine(sw, port: 3).contains(" protected-mac 1 "))
        #expect(try sw.command("hash/del \(pinned)").status == "1000 Success")
        #expect(try sw.command("hash/del \(pinned)").status == "1019 No such device")
        #expect(try sw.command("hash/del \(pinned) 5000").status == "1022 Invalid argument")
        let afterDel = impostor.frame(to: .broadcast, tag: 1)
        try impostor.send(afterDel)
        #expect(try witness.receive() == afterDel)

        // Learning off: frames pass, the source is not learned.
        let learner = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0c:03", port: 6)
        #expect(try sw.command("port/setlearning 6 0").status == "1000 Success")
        #expect(try sw.command("port/setlearning 6 2").status == "1022 Invalid argument")
        #expect(try sw.command("port/setlearning 99 0").status == "1022 Invalid argument")
        #expect(try sw.command("port/print 6").data.contains(" MAC: learning off locked no"))
        let unlearned = learner.frame(to: .broadcast, tag: 2)
        try learner.send(unlearned)
        #expect(try witness.receive() == unlearned)
        #expect(try sw.command("hash/find 02:00:00:00:0c:03").status == "1019 No such device")

        // Locked: only the port's static sources pass.
        #expect(try sw.command("port/setlocked 6 1").status == "1000 Success")
        try learner.send(learner.frame(to: .broadcast, tag: 3))
        #expect(try witness.receive(timeout: .milliseconds(300)) == nil)
        #expect(try dropLine(sw, port: 6).contains(" locked 1 "))
        #expect(try sw.command("hash/add 02:00:00:00:0c:03 6").status == "1000 Success")
        let admitted = learner.frame(to: .broadcast, tag: 4)
        try learner.send(admitted)
        #expect(try witness.receive() == admitted)

        // Storm limits of a client port.
        _ = try drain(impostor, quiet: .milliseconds(100))
        #expect(try sw.command("port/print 4").data.contains(" STORM: bcast unlimited mcast unlimited unknown unlimited (client default)"))
        #expect(try sw.command("port/setstorm 4 bcast 2").status == "1000 Success")
        for bad in ["port/setstorm 4 bogus 5", "port/setstorm 4 bcast -1", "port/setstorm 4 bcast", "port/setstorm 99 bcast 5", "port/setstorm"] {
            #expect(try sw.command(bad).status == "1022 Invalid argument", "\(bad)")
        }
        #expect(try sw.command("port/print 4").data.contains(" STORM: bcast 2/s mcast unlimited unknown unlimited (set on this port)"))
        for tag in 0..<10 { try witness.send(witness.frame(to: .broadcast, tag: UInt8(tag))) }
        let passed = try drain(impostor).count
        #expect((2...3).contains(passed), "a burst of 2 (and perhaps one more), not 10: \(passed)")
        #expect(try dropLine(sw, port: 4).contains(" storm-bcast \(10 - passed) "))
        #expect(try sw.command("port/setstorm 4 default").status == "1000 Success")
        #expect(try sw.command("port/print 4").data.contains(" STORM: bcast unlimited mcast unlimited unknown unlimited (client default)"))
        try sw.stop()
    }
}
