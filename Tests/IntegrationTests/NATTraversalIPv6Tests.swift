import EthernetSwitch
import Foundation
import Testing

/// NAT traversal over IPv6 (issue 18): the topology of `NATTraversalTests`, with IPv6 only.
/// A and B sit in unique-local networks (fd00::/8) behind routers doing nftables `ip6`
/// masquerade (NAT66, as some home routers and many container hosts do) with the firewall
/// that drops new inbound connections; C is public on the "WAN" (2001:db8::/32, the
/// documentation prefix). Everyone is told only C's address; A and B end up linked directly.
///
///     mesh6-a (fd00:6:1::2) ─ mesh6-ra ─┐                    ┌─ mesh6-rb ─ mesh6-b (fd00:6:2::2)
///                        2001:db8:6::2  └─ mesh6-wan (C) ────┘  2001:db8:6::3
///                                          2001:db8:6::1
@Suite(.serialized) struct NATTraversalIPv6Tests {
    struct HomeRouters {
        static let namespaces = ["mesh6-wan", "mesh6-ra", "mesh6-rb", "mesh6-a", "mesh6-b"]
        static let publicC = "2001:db8:6::1"

        init() throws {
            Self.remove()
            for namespace in Self.namespaces {
                try runSbin("ip", "netns", "add", namespace)
                try runSbin("ip", "-n", namespace, "link", "set", "lo", "up")
            }
            try runSbin("ip", "-n", "mesh6-wan", "link", "add", "br0", "type", "bridge")
            try runSbin("ip", "-n", "mesh6-wan", "link", "set", "br0", "up")
            // nodad: usable at once, not after duplicate address detection's second or two.
            try runSbin("ip", "-n", "mesh6-wan", "addr", "add", "\(Self.publicC)/64", "dev", "br0", "nodad")
            for (side, router, host, wan, lan) in [
                ("a", "mesh6-ra", "mesh6-a", "2001:db8:6::2", "fd00:6:1::"), ("b", "mesh6-rb", "mesh6-b", "2001:db8:6::3", "fd00:6:2::"),
            ] {
                try runSbin("ip", "-n", "mesh6-wan", "link", "add", "w-\(side)", "type", "veth", "peer", "name", "wan", "netns", router)
                try runSbin("ip", "-n", "mesh6-wan", "link", "set", "w-\(side)", "master", "br0", "up")
                try runSbin("ip", "-n", router, "addr", "add", "\(wan)/64", "dev", "wan", "nodad")
                try runSbin("ip", "-n", router, "link", "set", "wan", "up")
                try runSbin("ip", "-n", router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", host)
                try runSbin("ip", "-n", router, "addr", "add", "\(lan)1/64", "dev", "lan", "nodad")
                try runSbin("ip", "-n", router, "link", "set", "lan", "up")
                try runSbin("ip", "-n", host, "addr", "add", "\(lan)2/64", "dev", "eth0", "nodad")
                try runSbin("ip", "-n", host, "link", "set", "eth0", "up")
                try runSbin("ip", "-n", host, "-6", "route", "add", "default", "via", "\(lan)1")
                try runSbin("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
                // Masquerade out of the WAN side and drop new inbound connections, as in the
                // IPv4 test; neighbour discovery is let in explicitly (conntrack does not
                // count it as new, but a router without it would be unreachable).
                let rules = """
                    table ip6 nat {
                        chain post { type nat hook postrouting priority 100; oifname "wan" masquerade; }
                    }
                    table inet fw {
                        chain input {
                            type filter hook input priority 0;
                            icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept;
                            iifname "wan" ct state new drop;
                        }
                        chain forward { type filter hook forward priority 0; iifname "wan" ct state new drop; }
                    }
                    """
                let file = NSTemporaryDirectory() + "mesh6-rules-\(side)"
                try rules.write(toFile: file, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: file) }
                try runSbin("ip", "netns", "exec", router, "nft", "-f", file)
            }
        }

        static func remove() {
            for namespace in namespaces { try? runSbin("ip", "netns", "del", namespace, quiet: true) }
        }

        static func launcher(_ namespace: String) -> [String] { ["/usr/sbin/ip", "netns", "exec", namespace] }
    }

    static func directLine(_ sw: SwitchProcess) throws -> String? {
        try sw.command("peer/print").data.first { $0.hasPrefix(" path udp direct") }
    }

    /// Frames in on all of `sw`'s ports (`port/allprint`).
    static func framesIn(_ sw: SwitchProcess) throws -> Int {
        try sw.command("port/allprint").data.filter { $0.hasPrefix(" IN:  pkts") }.reduce(0) { total, line in
            total + (Int(line.split(separator: " ")[2]) ?? 0)
        }
    }

    @Test func friendsBehindIPv6MasqueradeLinkDirectlyThroughAnIntroduction() throws {
        _ = try HomeRouters()
        defer { HomeRouters.remove() }
        let friends = try FriendGroup(count: 3)
        let port: UInt16 = 47_019
        let cLine = "\(friends.ids[2])@[\(HomeRouters.publicC)]:\(port)"
        let c = try SwitchProcess(
            arguments: ["--listen", "[\(HomeRouters.publicC)]:\(port)", "--priority", "61440"] + friends.member(2),
            launcher: HomeRouters.launcher("mesh6-wan"), logToFile: true)
        defer { _ = try? c.stop() }
        let a = try SwitchProcess(
            arguments: ["--peer", cLine, "--priority", "4096"] + friends.member(0), launcher: HomeRouters.launcher("mesh6-a"), logToFile: true)
        defer { _ = try? a.stop() }
        let b = try SwitchProcess(arguments: ["--peer", cLine] + friends.member(1), launcher: HomeRouters.launcher("mesh6-b"), logToFile: true)
        defer { _ = try? b.stop() }

        try waitUntil(timeout: .seconds(20), "A and B to link directly over IPv6") {
            try Self.directLine(a) != nil && Self.directLine(b) != nil
        }
        let line = try #require(try Self.directLine(a))
        #expect(line.contains("introduced-by ") && !line.contains("introduced-by -"), "C introduced them: \(line)")
        #expect(line.contains("2001:db8:6::3"), "A reaches B at B's router's public IPv6 address: \(line)")
        // C saw each from its router's address and port, not its unique-local one.
        let observed = try #require(try c.command("peer/print").data.first { $0.hasPrefix(" nat observed ") && $0.contains("2001:db8:6::2") })
        #expect(!observed.contains("fd00:"), "\(observed)")
        try a.waitForPeers(2)
        try b.waitForPeers(2)

        // Unicast between a client on A and one on B leaves C alone.
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:6a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:6b:01")
        try waitUntil(timeout: .seconds(15), "a frame from B to cross to A") {
            try onB.send(onB.frame(to: .broadcast, tag: 1))
            return try onA.receive(timeout: .milliseconds(300)) != nil
        }
        try onA.send(onA.frame(to: .broadcast, tag: 2))
        _ = try onB.receive()
        try waitUntil(timeout: .seconds(15), "A↔B unicast to leave C") {
            let before = try Self.framesIn(c)
            for tag in 0..<20 { try onA.send(onA.frame(to: onB.mac, tag: UInt8(tag))) }
            for _ in 0..<20 { _ = try onB.receive(timeout: .seconds(1)) }
            return try Self.framesIn(c) - before < 3
        }
        let before = try Self.framesIn(c)
        for tag in 0..<100 {
            let frame = onA.frame(to: onB.mac, size: 1514, tag: UInt8(truncatingIfNeeded: tag))
            try onA.send(frame)
            #expect(try onB.receive() == frame)
            let back = onB.frame(to: onA.mac, size: 200, tag: UInt8(truncatingIfNeeded: tag))
            try onB.send(back)
            #expect(try onA.receive() == back)
        }
        let crossedC = try Self.framesIn(c) - before
        #expect(crossedC < 10, "200 frames between A and B; C's ports saw \(crossedC)")
        let direct = try #require(try Self.directLine(b))
        #expect(!direct.contains(" datagrams in 0 "), "\(direct)")
    }
}
