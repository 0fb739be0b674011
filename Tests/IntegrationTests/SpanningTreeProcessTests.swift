import EthernetSwitch
import Foundation
import Glibc
import Testing

/// Three real f2f-switch processes cabled in a triangle over TCP: the spanning tree must
/// break the loop, and fail over when a link closes or a peer freezes.
@Suite(.serialized) struct SpanningTreeProcessTests {
    struct Triangle {
        var a: SwitchProcess  // the root (lowest priority)
        var b: SwitchProcess
        var c: SwitchProcess
        var portA: UInt16
        var portB: UInt16

        init(liveness: String = "3") throws {
            portA = try TCPPorts.free()
            portB = try TCPPorts.free()
            let friends = try FriendGroup(count: 3)
            a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(portA)", "--priority", "4096", "--liveness", liveness] + friends.member(0))
            b = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(portB)", "--peer", "127.0.0.1:\(portA)", "--liveness", liveness] + friends.member(1))
            c = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(portA)", "--peer", "127.0.0.1:\(portB)", "--liveness", liveness] + friends.member(2))
            for sw in [a, b, c] { try sw.waitForPeers(2) }
            let linked = ContinuousClock.now
            try waitForOneAlternate()
            print("measured: triangle converged \(ContinuousClock.now - linked) after all links were up")
        }

        func portLines(_ sw: SwitchProcess) throws -> [String] {
            try sw.command("stp/print").data.filter { $0.hasPrefix("Port ") }
        }

        /// Converged: exactly one port of the three bridges is an alternate, all others forward.
        func waitForOneAlternate(timeout: Duration = .seconds(10)) throws {
            try waitUntil(timeout: timeout, "the triangle to converge") {
                let lines = try [a, b, c].flatMap(portLines)
                let alternates = lines.filter { $0.contains("role=alternate") }
                let forwarding = lines.filter { $0.contains("state=forwarding") }
                return alternates.count == 1 && forwarding.count == lines.count - 1
            }
        }
    }

    @Test func aTriangleDeliversEachBroadcastExactlyOnce() throws {
        let triangle = try Triangle()
        #expect(try triangle.a.command("stp/print").data.contains { $0.hasPrefix("bridge 1000.") && $0.hasSuffix(" ROOT") })
        // The alternate is on the B–C link (B and C both reach the root directly).
        let alternateAtBOrC = try [triangle.b, triangle.c].flatMap(triangle.portLines).filter { $0.contains("role=alternate") && $0.contains("protocol=rstp") }
        #expect(alternateAtBOrC.count == 1)
        let onB = try TestClient(triangle.b.socketDirectory, mac: "02:00:00:00:0b:01")
        let onC = try TestClient(triangle.c.socketDirectory, mac: "02:00:00:00:0c:01")
        for round in 0..<3 {
            let broadcast = onB.frame(to: .broadcast, size: 500, tag: UInt8(round))
            try onB.send(broadcast)
            #expect(try onC.receive() == broadcast)
            let marker = onB.frame(to: .broadcast, tag: 0xF0 + UInt8(round))
            try onB.send(marker)
            #expect(try onC.framesBefore(marker).isEmpty, "a second copy of the broadcast would come before the marker")
        }
        for sw in [triangle.c, triangle.b, triangle.a] { try sw.stop() }
    }

    @Test func closingTheForwardingLinkFailsOverToTheAlternate() throws {
        let triangle = try Triangle()
        let onB = try TestClient(triangle.b.socketDirectory, mac: "02:00:00:00:0b:01")
        let onC = try TestClient(triangle.c.socketDirectory, mac: "02:00:00:00:0c:01")
        let before = onB.frame(to: .broadcast, tag: 1)
        try onB.send(before)
        #expect(try onC.receive() == before)

        // C's forwarding link to the root goes away; its alternate towards B takes over.
        #expect(try triangle.c.command("peer/del 127.0.0.1:\(triangle.portA)").status == "1000 Success")
        let failover = try timeUntilTrafficFlows(from: onB, to: onC, within: .seconds(5))
        #expect(failover < .milliseconds(500), "traffic resumed after \(failover)")
        print("measured: failover after a closed link: \(failover)")
        for sw in [triangle.c, triangle.b, triangle.a] { try sw.stop() }
    }

    @Test func aFrozenRootIsRoutedAroundAfterTheLivenessInterval() throws {
        let triangle = try Triangle(liveness: "1")
        let onB = try TestClient(triangle.b.socketDirectory, mac: "02:00:00:00:0b:01")
        let onC = try TestClient(triangle.c.socketDirectory, mac: "02:00:00:00:0c:01")
        triangle.a.signal(SIGSTOP)
        defer { triangle.a.signal(SIGCONT) }
        let failover = try timeUntilTrafficFlows(from: onB, to: onC, within: .seconds(6))
        #expect(failover < .milliseconds(1500), "liveness 1 s; traffic resumed after \(failover)")
        print("measured: failover after a frozen root, liveness 1 s: \(failover)")
        triangle.a.signal(SIGCONT)
        for sw in [triangle.c, triangle.b, triangle.a] { try sw.stop() }
    }

    /// Sends a fresh broadcast every 20 ms until one arrives: how long the path was broken.
    private func timeUntilTrafficFlows(from sender: TestClient, to receiver: TestClient, within limit: Duration) throws -> Duration {
        let start = ContinuousClock.now
        var tag: UInt8 = 0x40
        while ContinuousClock.now - start < limit {
            let probe = sender.frame(to: .broadcast, tag: tag)
            try sender.send(probe)
            if try receiver.receive(timeout: .milliseconds(20)) == probe { return ContinuousClock.now - start }
            tag &+= 1
        }
        throw TestFailure("no traffic within \(limit)")
    }

    @Test func spanningTreeCanBeTurnedOffAndOnAtRunTime() throws {
        let sw = try SwitchProcess()
        #expect(try sw.command("stp/print").data.first == "STP=on version 2 (rapid, 802.1D-2004)")
        #expect(try sw.command("stp/enable 0").status == "1000 Success")
        #expect(try sw.command("stp/print").data == ["STP=off"])
        #expect(try sw.command("stp/enable 2").status == "1022 Invalid argument")
        #expect(try sw.command("stp/enable 1").status == "1000 Success")
        #expect(try sw.command("stp/setprio 4096").status == "1000 Success")
        #expect(try sw.command("stp/print").data.contains { $0.hasPrefix("bridge 1000.") })
        #expect(try sw.command("stp/setprio 100").status == "1022 Invalid argument")
        let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:01")
        #expect(try sw.command("stp/setcost 1 4000").status == "1000 Success")
        #expect(try sw.command("stp/print").data.contains { $0.hasPrefix("Port 0001 role=designated state=forwarding cost=4000 edge=1") })
        #expect(try sw.command("stp/setcost 9 4000").status == "1006 No such device or address")
        client.close()
        try sw.stop()
    }
}
