import F2FSecure
import Foundation
import Glibc
import Testing

/// `--map-port` on real components (docs/nat-traversal.md, "Port mapping"): a home router in a
/// network namespace (nftables masquerade, a firewall dropping new inbound connections) running
/// Debian's miniupnpd, which speaks NAT-PMP/PCP and UPnP-IGD and adds its forwarding rules to
/// nftables. A behind it maps its port; B outside knows only the router's public address and
/// that port, dials it, and the two link without a mutual friend.
///
///     natpmp-a (10.0.1.2) ── lan 10.0.1.1 [natpmp-r: masquerade, miniupnpd] wan 11.18.0.2 ── natpmp-w (11.18.0.9)
///                                                       (a second home: natpmp-b ── natpmp-rb 11.18.0.3 ──┘)
///
/// miniupnpd refuses to map behind a reserved address (it checks its WAN address against the
/// documentation and private ranges), so the test's "public" side uses 11.18.0.0/24, which
/// never leaves these namespaces.
@Suite(.serialized) struct PortMappingTests {
    static let routerWAN = "11.18.0.2"
    static let routerWANB = "11.18.0.3"
    /// B in the tests with one home, C with two.
    static let publicNode = "11.18.0.9"
    static let portA: UInt16 = 47_140
    static let portB: UInt16 = 47_141

    enum Gateway {
        /// miniupnpd with NAT-PMP/PCP and UPnP-IGD.
        case natpmpAndUPnP
        /// miniupnpd with UPnP-IGD only (its NAT-PMP port closed).
        case upnpOnly
        /// No miniupnpd, and the router drops NAT-PMP and SSDP without a word.
        case silent
    }

    /// The namespaces, the router's rules and miniupnpd; `remove()` undoes them.
    final class HomeRouter {
        static let namespaces = ["natpmp-a", "natpmp-r", "natpmp-w", "natpmp-rb", "natpmp-b"]
        let directory: String
        private(set) var daemon: ChildProcess?

        /// `symmetric`: the routers pick a random port per destination (`masquerade random`);
        /// `secondHome`: B behind a router of its own (no gateway daemon) instead of public.
        init(_ gateway: Gateway, symmetric: Bool = false, secondHome: Bool = false) throws {
            Self.removeNamespaces()
            directory = try TemporaryDirectory.make()
            for namespace in Self.namespaces where secondHome || !namespace.hasSuffix("b") {
                try runSbin("ip", "netns", "add", namespace)
                try runSbin("ip", "-n", namespace, "link", "set", "lo", "up")
            }
            // The public side: a bridge with the public node's address on it.
            try runSbin("ip", "-n", "natpmp-w", "link", "add", "br0", "type", "bridge")
            try runSbin("ip", "-n", "natpmp-w", "addr", "add", "\(PortMappingTests.publicNode)/24", "dev", "br0")
            try runSbin("ip", "-n", "natpmp-w", "link", "set", "br0", "up")
            var homes = [("natpmp-r", "natpmp-a", PortMappingTests.routerWAN, "10.0.1")]
            if secondHome { homes.append(("natpmp-rb", "natpmp-b", PortMappingTests.routerWANB, "10.0.2")) }
            for (router, host, wan, lan) in homes {
                try addIPv4Home(bridgeNamespace: "natpmp-w", bridgePort: "to-\(router)", router: router, host: host, wanAddress: wan, lanPrefix: lan)
            }
            if secondHome {
                let rules = """
                    table inet home {
                        chain forward { type filter hook forward priority 0; iifname "wan" ct state new drop; }
                        chain input { type filter hook input priority 0; iifname "wan" ct state new drop; }
                        chain postrouting { type nat hook postrouting priority 100; oifname "wan" masquerade random; }
                    }
                    """
                try rules.write(toFile: directory + "/router-b.nft", atomically: true, encoding: .utf8)
                try runSbin("ip", "netns", "exec", "natpmp-rb", "nft", "-f", directory + "/router-b.nft")
            }
            // The chains miniupnpd fills (its nftables back end expects them, as Debian's
            // nft_init.sh makes them): DNAT in prerouting_miniupnpd, accepts in miniupnpd,
            // which the forward chain asks before dropping new inbound connections.
            let silence = gateway == .silent ? "iifname \"lan\" udp dport { 1900, 5351 } drop" : ""
            // With two homes, C's own datagrams never take A's forwarded port (C sends to the
            // port A offers it, which is the mapped one): so C sees A only at the random port of
            // A's outgoing flow, and only A's advertisement can tell B the mapped one.
            let notFromC = secondHome ? "iifname \"wan\" ip saddr \(PortMappingTests.publicNode) ct state new drop" : ""
            let rules = """
                table inet miniupnpd {
                    chain forward {
                        type filter hook forward priority 0; policy accept;
                        \(notFromC)
                        iifname "wan" ct state new jump miniupnpd
                        iifname "wan" ct state new drop
                    }
                    chain miniupnpd {
                    }
                    chain input {
                        type filter hook input priority 0; policy accept;
                        iifname "wan" ct state new drop
                        \(silence)
                    }
                    chain prerouting {
                        type nat hook prerouting priority -100; policy accept;
                        jump prerouting_miniupnpd
                    }
                    chain postrouting {
                        type nat hook postrouting priority 100; policy accept;
                        jump postrouting_miniupnpd
                        oifname "wan" masquerade\(symmetric ? " random" : "")
                    }
                    chain prerouting_miniupnpd {
                    }
                    chain postrouting_miniupnpd {
                    }
                }
                """
            try rules.write(toFile: directory + "/router.nft", atomically: true, encoding: .utf8)
            try runSbin("ip", "netns", "exec", "natpmp-r", "nft", "-f", directory + "/router.nft")
            guard gateway != .silent else { return }
            let configuration = """
                ext_ifname=wan
                listening_ip=lan
                enable_natpmp=\(gateway == .natpmpAndUPnP ? "yes" : "no")
                enable_upnp=yes
                secure_mode=yes
                ipv6_disable=yes
                http_port=0
                system_uptime=yes
                uuid=00000000-0000-4000-8000-0000f2f5a1c0
                lease_file=\(directory)/leases
                upnp_table_name=miniupnpd
                upnp_nat_table_name=miniupnpd
                allow 1024-65535 10.0.1.0/24 1024-65535
                deny 0-65535 0.0.0.0/0 0-65535
                """
            try configuration.write(toFile: directory + "/miniupnpd.conf", atomically: true, encoding: .utf8)
            // Foreground (-d), its log in a file (a pipe nobody reads would fill and stop it);
            // `exec` keeps the pid ours to stop.
            let daemon = try ChildProcess(
                "/usr/sbin/ip",
                [
                    "netns", "exec", "natpmp-r", "/bin/sh", "-c",
                    "exec /usr/sbin/miniupnpd -d -f \(directory)/miniupnpd.conf -P \(directory)/miniupnpd.pid 2>\(directory)/miniupnpd.log",
                ])
            self.daemon = daemon
            try waitUntil(timeout: .seconds(10), "miniupnpd to listen") { self.daemonLog.contains("HTTP listening on port") }
        }

        var daemonLog: String { (try? String(contentsOfFile: directory + "/miniupnpd.log", encoding: .utf8)) ?? "" }

        /// What the router forwards: miniupnpd's DNAT rules.
        func forwardingRules() throws -> [String] {
            try TestNamespace.command("/usr/sbin/ip", ["netns", "exec", "natpmp-r", "nft", "list", "chain", "inet", "miniupnpd", "prerouting_miniupnpd"])
                .split(separator: "\n").filter { $0.contains("dnat") }.map(String.init)
        }

        func remove() {
            daemon?.terminate()
            daemon = nil
            Self.removeNamespaces()
            try? FileManager.default.removeItem(atPath: directory)
        }

        static func removeNamespaces() {
            for namespace in namespaces { try? runSbin("ip", "netns", "del", namespace, quiet: true) }
        }
    }

    static func launcher(_ namespace: String) -> [String] { ["/usr/sbin/ip", "netns", "exec", namespace] }

    static func natLines(_ sw: SwitchProcess) throws -> [String] {
        try sw.command("nat/print").data
    }

    /// A maps its port through the gateway; B, outside, dials the router's public address and
    /// the mapped port; they link over TCP and then over UDP through the forwarded ports, frames
    /// cross; at A's exit (SIGTERM or SIGINT) the router forwards nothing any more.
    func mapDialLinkAndRemove(_ gateway: Gateway, method: String, stopSignal: Int32) throws {
        let router = try HomeRouter(gateway)
        defer { router.remove() }
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(
            arguments: ["--listen", "10.0.1.2:\(Self.portA)", "--map-port", "--map-port-lifetime", "6"] + friends.member(0),
            launcher: Self.launcher("natpmp-a"), logToFile: true)
        defer { _ = try? a.stop() }
        try waitUntil(timeout: .seconds(15), "A to map its ports by \(method)") {
            try Self.natLines(a).first?.hasPrefix("port-mapping mapped method \(method) ") == true
        }
        let lines = try Self.natLines(a)
        print("port-mapping: nat/print on A:\n" + lines.joined(separator: "\n"))
        #expect(lines[0].contains(" external \(Self.routerWAN) "), "\(lines)")
        #expect(lines.contains(" udp \(Self.portA) -> \(Self.portA) lifetime 6"), "the same external port: \(lines)")
        #expect(lines.contains(" tcp \(Self.portA) -> \(Self.portA) lifetime 6"), "\(lines)")
        #expect(lines.contains("advertised \(Self.routerWAN):\(Self.portA)"), "\(lines)")
        // Renewed at half the lifetime, on the loop's timer, keeping the ports.
        try waitUntil(timeout: .seconds(10), "A to renew its mappings") {
            try Self.natLines(a).contains { $0.hasPrefix("port-mapping attempts ") && !$0.contains(" renewals 0 ") }
        }
        let renewed = try Self.natLines(a)
        #expect(renewed.first?.hasPrefix("port-mapping mapped method \(method) ") == true, "\(renewed)")
        #expect(renewed.contains(" udp \(Self.portA) -> \(Self.portA) lifetime 6") && renewed.contains(" tcp \(Self.portA) -> \(Self.portA) lifetime 6"), "\(renewed)")
        #expect(renewed.contains { $0.hasPrefix("port-mapping attempts ") && $0.contains(" failures 0 ") }, "\(renewed)")
        let rules = try router.forwardingRules()
        #expect(rules.count == 2 && rules.allSatisfy { $0.contains("dnat ip to 10.0.1.2:\(Self.portA)") }, "\(rules)")

        // B knows A's id, the router's public address and the port: nothing else, no mutual friend.
        let b = try SwitchProcess(
            arguments: ["--listen", "\(Self.publicNode):\(Self.portB)", "--peer", "\(friends.ids[0])@\(Self.routerWAN):\(Self.portA)"] + friends.member(1),
            launcher: Self.launcher("natpmp-w"), logToFile: true)
        defer { _ = try? b.stop() }
        try a.waitForPeers(1, timeout: .seconds(15))
        try b.waitForPeers(1, timeout: .seconds(15))
        // Datagrams too: B sends to the router's forwarded UDP port, and probes pass both ways.
        try waitUntil(timeout: .seconds(10), "B's link to A to take UDP through the forwarded port") {
            try b.command("peer/print").data.contains { $0.hasPrefix(" path udp udp \(Self.routerWAN):\(Self.portA) ") }
        }
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        try waitUntil(timeout: .seconds(10), "a frame from B to reach A") {
            try onB.send(onB.frame(to: .broadcast, tag: 1))
            return try onA.receive(timeout: .milliseconds(300)) != nil
        }
        for tag in 0..<50 {
            let frame = onA.frame(to: onB.mac, size: 300, tag: UInt8(tag))
            try onA.send(frame)
            #expect(try onB.receive() == frame)
            let back = onB.frame(to: onA.mac, size: 300, tag: UInt8(tag))
            try onB.send(back)
            #expect(try onA.receive() == back)
        }

        a.signal(stopSignal)
        try waitUntil(timeout: .seconds(10), "A to exit") { !a.isRunning }
        let (status, log) = try a.stop()
        print("port-mapping: A's log:\n" + log.split(separator: "\n").filter { $0.contains("portmap") }.joined(separator: "\n"))
        #expect(status == 0, "\(log)")
        #expect(log.contains("port mappings removed") && log.contains("removed=2") && log.contains("of=2"), "\(log)")
        #expect(try router.forwardingRules().isEmpty, "the router forwards nothing to A after its exit")
        #expect(!router.daemonLog.contains("Failed to remove"), "\(router.daemonLog)")
    }

    @Test func throughNATPMPFriendOutsideDialsTheMappedPortAndTheMappingGoesAtExit() throws {
        try mapDialLinkAndRemove(.natpmpAndUPnP, method: "nat-pmp", stopSignal: SIGTERM)
    }

    @Test func throughUPnPIGDWhenTheRouterDoesNotSpeakNATPMP() throws {
        try mapDialLinkAndRemove(.upnpOnly, method: "upnp-igd", stopSignal: SIGINT)
    }

    /// No gateway answers: one log line, and everything else as without --map-port (A dials B).
    @Test func whenNoGatewayAnswersTheNodeLogsOneLineAndLinksAsWithoutTheOption() throws {
        let router = try HomeRouter(.silent)
        defer { router.remove() }
        let friends = try FriendGroup(count: 2)
        let b = try SwitchProcess(
            arguments: ["--listen", "\(Self.publicNode):\(Self.portB)"] + friends.member(1), launcher: Self.launcher("natpmp-w"), logToFile: true)
        defer { _ = try? b.stop() }
        let a = try SwitchProcess(
            arguments: ["--listen", "10.0.1.2:\(Self.portA)", "--map-port", "--peer", "\(friends.ids[1])@\(Self.publicNode):\(Self.portB)"]
                + friends.member(0),
            launcher: Self.launcher("natpmp-a"), logToFile: true)
        defer { _ = try? a.stop() }
        // Linked while the gateway is still being asked: the mapping holds nothing up.
        try a.waitForPeers(1, timeout: .seconds(15))
        try b.waitForPeers(1, timeout: .seconds(15))
        try waitUntil(timeout: .seconds(20), "A to give up on the gateway") {
            try Self.natLines(a).first == "port-mapping unavailable"
        }
        let lines = try Self.natLines(a)
        #expect(lines.contains { $0.hasPrefix("port-mapping last-error NAT-PMP: no NAT-PMP answer from 10.0.1.1; UPnP-IGD: no UPnP device") }, "\(lines)")
        #expect(lines.contains("advertised -"), "\(lines)")
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        try waitUntil(timeout: .seconds(10), "a frame from B to reach A") {
            try onB.send(onB.frame(to: .broadcast, tag: 1))
            return try onA.receive(timeout: .milliseconds(300)) != nil
        }
        let frame = onA.frame(to: onB.mac, size: 300, tag: 7)
        try onA.send(frame)
        #expect(try onB.receive() == frame)
        let (status, log) = try a.stop()
        #expect(status == 0, "\(log)")
        print("port-mapping: nat/print on A:\n" + lines.joined(separator: "\n"))
        let mappingLines = log.split(separator: "\n").filter { $0.contains("port mapping") || $0.contains("f2f.portmap") }
        #expect(mappingLines.count == 1, "one line about the port mapping: \(mappingLines)")
        #expect(mappingLines.first?.contains("port mapping unavailable: no gateway answered; working as without --map-port") == true, "\(mappingLines)")
    }

    /// Both homes behind symmetric NATs (`masquerade random`): punching alone cannot link A and B
    /// (NATTraversalTests shows one symmetric side is enough to fail). A's mapped endpoint,
    /// offered to its friends with its local endpoints, reaches B in C's introduction, and B
    /// gets through the forwarded port: A and B link directly. C sees A at another port (the
    /// random one; the router keeps C's own datagrams off the forwarded port), so the
    /// introduction's observed endpoint alone would not have done it; and without --map-port
    /// they do not link directly.
    @Test(arguments: [true, false]) func theMappedEndpointTravelsInIntroductionsAndLinksFriendsBehindSymmetricNATs(mapPort: Bool) throws {
        let router = try HomeRouter(.natpmpAndUPnP, symmetric: true, secondHome: true)
        defer { router.remove() }
        let friends = try FriendGroup(count: 3)
        // B the initiator (the lower key, DirectLinks' rule): it sends its initiation to every
        // endpoint C names, the forwarded port among them. With A the initiator, B's punches
        // would come from a port B's symmetric NAT picked for A, which A does not answer (it
        // sends initiations only to endpoints it was told), and they stay linked through C.
        let keys = try (0..<2).map { try #require(PeerID(parsing: friends.ids[$0])).bytes }
        let (indexA, indexB) = keys[1].lexicographicallyPrecedes(keys[0]) ? (0, 1) : (1, 0)
        let cLine = "\(friends.ids[2])@\(Self.publicNode):\(Self.portB)"
        let c = try SwitchProcess(
            arguments: ["--listen", "\(Self.publicNode):\(Self.portB)"] + friends.member(2), launcher: Self.launcher("natpmp-w"), logToFile: true)
        defer { _ = try? c.stop() }
        let a = try SwitchProcess(
            arguments: ["--peer", cLine] + (mapPort ? ["--map-port"] : []) + friends.member(indexA), launcher: Self.launcher("natpmp-a"), logToFile: true)
        defer { _ = try? a.stop() }
        let b = try SwitchProcess(arguments: ["--peer", cLine] + friends.member(indexB), launcher: Self.launcher("natpmp-b"), logToFile: true)
        defer { _ = try? b.stop() }
        // Both linked to C (and, with the mapping, perhaps to each other already).
        try waitUntil(timeout: .seconds(15), "A and B to link with C") {
            try a.establishedPeerCount() >= 1 && b.establishedPeerCount() >= 1
        }
        func direct(_ sw: SwitchProcess) throws -> String? {
            try sw.command("peer/print").data.first { $0.hasPrefix(" path udp direct") }
        }
        guard mapPort else {
            // Two rounds of introductions and punching (0 s, 2 s, 6 s).
            let deadline = ContinuousClock.now + .seconds(8)
            while ContinuousClock.now < deadline {
                #expect(try direct(a) == nil && direct(b) == nil, "no direct link through two symmetric NATs without a mapping")
                usleep(250_000)
            }
            return
        }
        try waitUntil(timeout: .seconds(15), "A to map its UDP port") { try Self.natLines(a).first?.hasPrefix("port-mapping mapped ") == true }
        let advertised = try #require(try Self.natLines(a).first { $0.hasPrefix("advertised \(Self.routerWAN):") })
        let mappedPort = try #require(advertised.split(separator: ":").last.map(String.init))
        try waitUntil(timeout: .seconds(20), "A and B to link directly") { try direct(a) != nil && direct(b) != nil }
        let seenByC = try a.command("peer/print").data.first { $0.contains(" sees-us-at ") } ?? ""
        #expect(seenByC.contains("sees-us-at \(Self.routerWAN):") && !seenByC.hasSuffix(":\(mappedPort)"), "C sees A at the random port: \(seenByC)")
        let onB = try #require(try direct(b))
        #expect(onB.contains("udp \(Self.routerWAN):\(mappedPort) ") && onB.contains(" initiator"), "B reaches A at the forwarded port: \(onB)")
    }
}
