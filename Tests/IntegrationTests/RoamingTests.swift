import Foundation
import Glibc
import Testing

/// Roaming on real processes (issue 15): the dialling friend's datagrams leave through a NAT
/// (nftables SNAT in a namespace the test creates) whose mapping changes twice while frames
/// flow, to another address and port each time, as a NAT rebinding or a laptop changing
/// networks does. The link stays on UDP without a new handshake and follows the friend.
@Suite(.serialized) struct RoamingTests {
    /// Maps b's datagrams to `address:port` from now on, and forgets the current mapping (what a
    /// NAT does when its entry times out or it restarts).
    private func rebind(_ namespace: TestNamespace, udpPort: UInt16, listenPort: UInt16, to target: String) throws {
        // As behind a real NAT, a cannot open a new mapping towards b's inside port: only
        // replies within b's mapping get through. (Else a's next datagram to b's old address
        // could make the conntrack entry first, with no translation, and b would never move.)
        //
        // b's datagrams are held while the mapping changes, as while a NAT restarts. Else one
        // sent between the new rule and the flush below could make the new mapping only for
        // the flush to delete it (conntrack -D walks the table while b sends): a, having
        // followed that datagram, then opens an untranslated entry towards the new address,
        // which takes the new mapping's reply tuple, and the NAT drops b's datagrams until the
        // next rebinding. That was the fallback to TCP about one run in three (a capture showed
        // one datagram from 127.0.0.2:40001, then a's datagrams to it untranslated).
        // (The hold has its own chain: the rule against a's new entries must never be absent.)
        try namespace.nft("add rule ip liveroam hold udp sport \(udpPort) udp dport \(listenPort) drop")
        try namespace.nft("flush chain ip liveroam out")
        try namespace.nft("add rule ip liveroam out udp sport \(listenPort) udp dport \(udpPort) ct state new drop")
        try namespace.nft("flush chain ip liveroam post")
        try namespace.nft("add rule ip liveroam post udp sport \(udpPort) udp dport \(listenPort) snat to \(target)")
        _ = try? namespace.run("conntrack", ["-D", "-p", "udp", "--orig-port-src", "\(udpPort)"])
        try namespace.nft("flush chain ip liveroam hold")
    }

    /// Sends frames both ways, `count` each; returns how many arrived (order kept per side).
    private func exchange(_ onA: TestClient, _ onB: TestClient, count: Int, tag: UInt8) throws -> (toA: Int, toB: Int) {
        var toA = 0
        var toB = 0
        for index in 0..<count {
            let up = onB.frame(to: .broadcast, size: 700, tag: tag &+ UInt8(index))
            try onB.send(up)
            if try onA.receive(timeout: .milliseconds(500)) == up { toA += 1 }
            let down = onA.frame(to: .broadcast, size: 700, tag: tag &+ UInt8(index))
            try onA.send(down)
            if try onB.receive(timeout: .milliseconds(500)) == down { toB += 1 }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return (toA, toB)
    }

    @Test func aFriendBehindARebindingNATKeepsItsLinkOnUDP() throws {
        let namespace = try TestNamespace("live-roam-\(getpid())")
        defer { namespace.delete() }
        try namespace.nft("add table ip liveroam")
        try namespace.nft("add chain ip liveroam post { type nat hook postrouting priority 100 ; }")
        try namespace.nft("add chain ip liveroam out { type filter hook output priority 0 ; }")
        try namespace.nft("add chain ip liveroam hold { type filter hook output priority -10 ; }")
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0), launcher: namespace.launcher)
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1), launcher: namespace.launcher)
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        for sw in [a, b] {
            try waitUntil(timeout: .seconds(5), "the link to take UDP") { try sw.peerPathLine().hasPrefix(" path udp") }
        }
        let udpPort = try namespace.udpPort(of: b.pid)
        #expect(try a.peerPathLine().contains(" udp 127.0.0.1:\(udpPort) "), "a sends to b's own port before any NAT")
        let peerLine = try #require(try a.command("peer/print").data.first { $0.hasPrefix("Peer ") })
        let fallbacksBefore = number(after: "fallbacks", in: try a.peerPathLine())
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        #expect(try exchange(onA, onB, count: 10, tag: 0) == (10, 10))

        var tag: UInt8 = 0x20
        for target in ["127.0.0.2:40001", "127.0.0.3:40002"] {
            try rebind(namespace, udpPort: udpPort, listenPort: port, to: target)
            // Frames keep coming while a learns the new address from b's next datagram.
            let during = try exchange(onA, onB, count: 20, tag: tag)
            #expect(during.toA >= 19 && during.toB >= 15, "frames crossed during the rebinding: \(during)")
            try waitUntil(timeout: .seconds(3), "a to follow b to \(target)") { try a.peerPathLine().contains(" udp \(target) ") }
            #expect(try exchange(onA, onB, count: 10, tag: tag &+ 0x40) == (10, 10), "both ways after the move to \(target)")
            tag &+= 0x10
        }
        let line = try a.peerPathLine()
        print("measured: after two rebindings: \(line)")
        #expect(line.hasPrefix(" path udp udp 127.0.0.3:40002 "), "\(line)")
        #expect(number(after: "roams", in: line) == 2, "\(line)")
        // A rebinding may cost one fallback to TCP (frames still cross, above). About one run in
        // three did while the test's own NAT change raced b's datagrams (`rebind` says how);
        // with b held during the change none is expected, but the bound stays at one per
        // rebinding until many runs have shown none.
        #expect((number(after: "fallbacks", in: line) ?? 0) - (fallbacksBefore ?? 0) <= 2, "at most one fallback per rebinding: \(line)")
        #expect(try b.peerPathLine().hasPrefix(" path udp"))
        // The same link: same peer, same uptime count going on, no redial, no new handshake.
        let peerAfter = try #require(try a.command("peer/print").data.first { $0.hasPrefix("Peer ") })
        #expect(peerAfter.prefix(24) == peerLine.prefix(24), "\(peerLine) → \(peerAfter)")
        #expect(try b.command("peer/print").data.contains { $0.hasPrefix("Dial 0001 ") && $0.contains(" CONNECTED peer 0001 reconnects 0") })
        try b.stop()
        try a.stop()
    }
}
