import EthernetSwitch
import F2FCore
import Foundation
import Glibc
import Testing

/// Real f2f-switch processes linked over TCP on 127.0.0.1, real libvdeplug clients on each.
@Suite(.serialized) struct PeerTests {
    @Test func twoSwitchesShareOneEthernetSegment() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--name", "alpha"] + friends.member(0))
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port), "--name", "beta"] + friends.member(1))
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        #expect(try b.command("peer/print").data.contains { $0.contains("ESTABLISHED alpha@127.0.0.1:\(port) outbound port 0001") })

        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let otherOnA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:02")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")

        for size in [60, 1514, 9000] {
            let broadcast = onA.frame(to: .broadcast, size: size, tag: UInt8(size & 0xFF))
            try onA.send(broadcast)
            #expect(try onB.receive() == broadcast)
            #expect(try otherOnA.receive() == broadcast)
        }
        // Unicast learned across the link: B's answer reaches only onA.
        let reply = onB.frame(to: onA.mac, size: 200, tag: 3)
        try onB.send(reply)
        #expect(try onA.receive() == reply)
        let marker = onB.frame(to: .broadcast, tag: 9)
        try onB.send(marker)
        #expect(try otherOnA.framesBefore(marker).isEmpty)
        #expect(try onA.framesBefore(marker).isEmpty)
        #expect(try a.command("hash/print").data.contains { $0.contains("02:00:00:00:0b:01") && $0.contains("to port: 001") })
        try b.stop()
        try a.stop()
    }

    @Test func broadcastCrossesALineOfThreeSwitchesExactlyOnce() throws {
        let portA = try TCPPorts.free()
        let portB = try TCPPorts.free()
        let friends = try FriendGroup(count: 3)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(portA)"] + friends.member(0, friendsWith: [1]))
        let b = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(portB)", "--peer", "127.0.0.1:\(portA)"] + friends.member(1, friendsWith: [0, 2]))
        let c = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(portB)"] + friends.member(2, friendsWith: [1]))
        try b.waitForPeers(2)
        try c.waitForPeers(1)
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        let onC = try TestClient(c.socketDirectory, mac: "02:00:00:00:0c:01")
        let broadcast = onA.frame(to: .broadcast, size: 1000, tag: 1)
        try onA.send(broadcast)
        #expect(try onB.receive() == broadcast)
        #expect(try onC.receive() == broadcast)
        let marker = onA.frame(to: .broadcast, tag: 2)
        try onA.send(marker)
        #expect(try onB.framesBefore(marker).isEmpty, "a second copy would arrive before the marker")
        #expect(try onC.framesBefore(marker).isEmpty)
        // Unicast back from C to A across two hops.
        let reply = onC.frame(to: onA.mac, tag: 3)
        try onC.send(reply)
        #expect(try onA.receive() == reply)
        for sw in [c, b, a] { try sw.stop() }
    }

    @Test func aRestartedPeerIsRedialledAndTrafficResumes() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        var a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0), socketName: "a")
        let b = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(port)"] + friends.member(1))
        try b.waitForPeers(1)
        try a.stop()
        try b.waitForPeers(0)
        a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0), socketName: "a")
        try b.waitForPeers(1)
        #expect(try b.command("peer/print").data.contains { $0.hasPrefix("Dial 0001 127.0.0.1:\(port) CONNECTED") && !$0.contains("reconnects 0") })
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        let frame = onB.frame(to: .broadcast, tag: 4)
        try onB.send(frame)
        #expect(try onA.receive() == frame)
        try b.stop()
        try a.stop()
    }

    @Test func aFrozenPeerIsDeclaredDeadWithinTheLivenessInterval() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0))
        let b = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(port)", "--liveness", "1"] + friends.member(1))
        try b.waitForPeers(1)
        a.signal(SIGSTOP)
        defer { a.signal(SIGCONT) }
        let frozenAt = ContinuousClock.now
        try b.waitForPeers(0, timeout: .seconds(5))
        let detected = ContinuousClock.now - frozenAt
        #expect(detected < .milliseconds(1600), "declared dead after \(detected), liveness is 1 s")
        // 800 ms after the last keepalive or datagram heard, which came up to 250 ms before the
        // freeze (LinkLiveness: a fast link is dead after 800 ms of silence).
        #expect(detected >= .milliseconds(500))
        a.signal(SIGCONT)
        try b.waitForPeers(1)  // and it comes back
        try b.stop()
        try a.stop()
    }

    /// The F2F packet layer's own defences, seen without the encryption layer in front of them.
    @Test func hostileInputOnAPlaintextListenPortClosesOnlyThatConnection() throws {
        let port = try TCPPorts.free()
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--plaintext"])
        let b = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(port)", "--plaintext"])
        try a.waitForPeers(1)
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")

        var wrongVersion: [UInt8] = []
        Hello(nodeID: 7, name: "old", version: 2).encode(into: &wrongVersion)
        var ethernetBeforeHello: [UInt8] = []
        F2FPacketHeader(type: .ethernetFrame, payloadCount: 4).encode(into: &ethernetBeforeHello)
        ethernetBeforeHello += [1, 2, 3, 4]
        let cases: [(String, [UInt8], String)] = [
            ("http garbage", Array("GET / HTTP/1.0\r\n\r\n".utf8), "expected hello, got type-0x47"),
            ("hello claiming 60 kB", [F2FPacketType.hello.rawValue, 0xEA, 0x60], "malformed hello"),
            ("hello with bad magic", [F2FPacketType.hello.rawValue, 0, 13] + Array("HTTP".utf8) + [UInt8](repeating: 1, count: 9), "bad magic"),
            ("hello version 2", [F2FPacketType.hello.rawValue, 0, UInt8(wrongVersion.count)] + wrongVersion, "version mismatch"),
            ("frame before hello", ethernetBeforeHello, "expected hello"),
        ]
        for (name, bytes, reason) in cases {
            let fd = try TCPPorts.connect(port: port)
            defer { close(fd) }
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            let (received, closed) = TCPPorts.readUntilClosed(fd)
            #expect(closed, "\(name): the switch must close the connection")
            // What came back: our hello, then a reject packet saying why.
            #expect(String(decoding: received, as: UTF8.self).contains(reason), "\(name): \(String(decoding: received, as: UTF8.self))")
            let frame = onA.frame(to: .broadcast, tag: UInt8(bytes.count & 0xFF))
            try onA.send(frame)
            #expect(try onB.receive() == frame, "\(name): the existing link keeps working")
        }
        #expect(try a.establishedPeerCount() == 1)
        try b.stop()
        try a.stop()
    }
}
