import Foundation
import Glibc
import Testing

/// Jumbo frames across a friend link whose path carries only 1500-byte IP packets (issue 15):
/// VDE clients may send frames up to `--max-frame` (9234 bytes by default, vdeplug4's
/// `VDE_ETHBUFSIZE`), and a 9000- or 9014-byte frame (a guest with MTU 9000) must arrive whole,
/// over UDP in eight fragments, over the TCP link as the stream it is. The switches run in a
/// network namespace the test creates, whose loopback has MTU 1500; the datagrams carry DF.
@Suite(.serialized) struct JumboFrameTests {
    @Test(arguments: [true, false])
    func jumboFramesCrossAPathOf1500Bytes(udp: Bool) throws {
        let namespace = try TestNamespace("live-jumbo-\(getpid())")
        defer { namespace.delete() }
        try namespace.run("ip", ["link", "set", "lo", "mtu", "1500"])
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let extra = udp ? [] : ["--no-udp"]
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + extra + friends.member(0), launcher: namespace.launcher)
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + extra + friends.member(1), launcher: namespace.launcher)
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        if udp {
            for sw in [a, b] { try waitUntil(timeout: .seconds(5), "the link to take UDP") { try sw.peerPathLine().hasPrefix(" path udp") } }
        }
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        let fragmentsBefore = number(after: "out", in: try b.peerPathLine().components(separatedBy: "fragments in ").last ?? "") ?? 0
        var sent = 0
        for size in [9000, 9014, 1514, 9000] {
            for round in 0..<5 {
                let frame = onB.frame(to: .broadcast, size: size, tag: UInt8(round))
                try onB.send(frame)
                #expect(try onA.receive() == frame, "a \(size)-byte frame b → a")
                let back = onA.frame(to: .broadcast, size: size, tag: UInt8(0x80 + round))
                try onA.send(back)
                #expect(try onB.receive() == back, "a \(size)-byte frame a → b")
                if size > 1514 { sent += 1 }
            }
        }
        let line = try b.peerPathLine()
        if udp {
            #expect(line.hasPrefix(" path udp"), "\(line)")
            let fragments = number(after: "out", in: line.components(separatedBy: "fragments in ").last ?? "") ?? 0
            // A datagram on a 1500-byte path carries at most 1472 bytes (past the IPv4 and UDP
            // headers), whatever payload the path-MTU search settled on: seven fragments or more each.
            #expect(fragments - fragmentsBefore >= sent * 7, "jumbo frames went as fragments: \(line)")
            #expect(line.contains("send-failures 0") && line.contains("reassembly timed-out 0 evicted 0"), "\(line)")
            #expect(try a.peerPathLine().contains("reassembly timed-out 0 evicted 0"))
        } else {
            #expect(line == " path tcp", "\(line)")
        }
        print("measured: \(udp ? "UDP" : "TCP") jumbo frames: \(line)")
        try b.stop()
        try a.stop()
    }

    /// Larger than `--max-frame`: dropped at the VDE port as oversize, never truncated.
    @Test func aFrameAboveTheMaximumIsDroppedNotTruncated() throws {
        let sw = try SwitchProcess(arguments: ["--max-frame", "9018"])
        let one = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0a:01")
        let two = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0b:01")
        try one.send(one.frame(to: .broadcast, size: 9019, tag: 1))
        let fits = one.frame(to: .broadcast, size: 9018, tag: 2)
        try one.send(fits)
        #expect(try two.receive() == fits, "the oversize frame never arrived, the largest allowed did")
        try sw.stop()
    }
}
