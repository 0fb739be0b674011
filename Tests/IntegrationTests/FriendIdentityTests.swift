import EthernetSwitch
import F2FCore
import Foundation
import Glibc
import Testing

/// What one friend may take, on real processes: one link per friend key however many
/// processes share it, no link closed by a hello that claims another friend's node id, and
/// ports kept for local clients however many friends link.
@Suite(.serialized) struct FriendIdentityTests {
    @Test func processesSharingOneFriendKeyGetOneLinkAndALocalClientStillAttaches() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        // Ports 1-3 are handed out; before, each copy's random node id made it a new link.
        let hub = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--numports", "4"] + friends.member(0))
        let copies = try (0..<4).map { index in
            try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1), socketName: "copy\(index)")
        }
        try hub.waitForPeers(1)
        try waitUntil(timeout: .seconds(10), "every copy to have been answered") {
            try copies.allSatisfy { copy in
                try copy.command("peer/print").data.contains { $0.hasPrefix("Dial ") && ($0.contains("CONNECTED") || $0.contains("last:")) }
            }
        }
        #expect(try hub.establishedPeerCount() == 1)
        #expect(try copies.map { try $0.establishedPeerCount() }.reduce(0, +) == 1)
        #expect(try hub.command("limits/print").data.contains { $0.hasPrefix("duplicate-links refused ") && !$0.hasPrefix("duplicate-links refused 0 ") })
        let client = try TestClient(hub.socketDirectory, mac: "02:00:00:00:0a:01")
        #expect(try hub.command("port/print").data.contains { $0.contains(": test") })
        client.close()
        for copy in copies { try copy.stop() }
        try hub.stop()
    }

    @Test func peerLinksLeaveThePortsKeptForLocalClients() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 4)
        // 3 ports to hand out; on so small a switch --client-ports keeps 1 of them: friends take 2.
        let hub = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--numports", "4"] + friends.member(0))
        let others = try (1...3).map { index in
            try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(index), socketName: "friend\(index)")
        }
        try waitUntil(timeout: .seconds(10), "every friend to have been answered") {
            try others.allSatisfy { other in
                try other.command("peer/print").data.contains { $0.hasPrefix("Dial ") && ($0.contains("CONNECTED") || $0.contains("last:")) }
            }
        }
        #expect(try hub.establishedPeerCount() <= 2)
        let client = try TestClient(hub.socketDirectory, mac: "02:00:00:00:0a:01")
        #expect(try hub.command("port/print").data.contains { $0.contains(": test") })
        try waitUntil(timeout: .seconds(10), "the third friend to be turned away") {
            try hub.command("limits/print").data.contains { $0.hasPrefix("peer-ports 2 now 2 refused ") && !$0.hasSuffix("refused 0") }
        }
        client.close()
        for other in others { try other.stop() }
        try hub.stop()
    }

    @Test func clientPortsAndAllPeersMACsSetWhatPeersLeave() throws {
        let all = try SwitchProcess(arguments: ["--numports", "4", "--client-ports", "0", "--all-peers-macs", "100"])
        #expect(try all.command("limits/print").data.contains { $0.hasPrefix("peer-ports 3 now 0 ") })
        #expect(try all.command("limits/print").data.contains("all-peers-macs 100 now 0 refused 0"))
        try all.stop()
        let most = try SwitchProcess(arguments: ["--numports", "40", "--client-ports", "30"])
        #expect(try most.command("limits/print").data.contains { $0.hasPrefix("peer-ports 20 now 0 ") }, "at most half the ports are kept")
        #expect(try most.command("limits/print").data.contains("all-peers-macs 4096 now 0 refused 0"), "half of the 8192-entry table")
        try most.stop()
        let refused = try ChildProcess(SwitchProcess.binaryPath, ["--client-ports", "5000", "-s", "/tmp/f2ft-never-\(getpid())"])
        #expect(try refused.finish().status != 0)
    }

    /// Gamma, a friend of the hub, authenticates with its own key and says hello with beta's
    /// node id. Before, the hub took that id at its word: it closed beta's real link (the link
    /// direction here is chosen so that it would), and beta's redials were then duplicates.
    @Test func aHelloClaimingAnotherFriendsNodeIDDoesNotCloseThatFriendsLink() throws {
        let hubPort = try TCPPorts.free()
        let betaPort = try TCPPorts.free()
        let friends = try FriendGroup(count: 3)
        let hub = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(hubPort)"] + friends.member(0), socketName: "hub")
        let beta = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(betaPort)"] + friends.member(1), socketName: "beta")
        // Each switch tells a friend its node id in its hello.
        let hubID = try HandmadeFriend(port: hubPort, keyPath: friends.keyPaths[2]).receiveHello().nodeID
        let betaID = try HandmadeFriend(port: betaPort, keyPath: friends.keyPaths[2]).receiveHello().nodeID
        try waitUntil(timeout: .seconds(5), "the probes to be gone") {
            try hub.command("peer/print").data.isEmpty && beta.command("peer/print").data.isEmpty
        }
        // The hub keeps the link the lower id dialled: make it the other one.
        if hubID < betaID {
            #expect(try beta.command("peer/add \(friends.pinned(0, port: hubPort))").status == "1000 Success")
        } else {
            #expect(try hub.command("peer/add \(friends.pinned(1, port: betaPort))").status == "1000 Success")
        }
        try hub.waitForPeers(1)
        let betaLink = try #require(try hub.command("friend/print").data.first { $0.hasPrefix("Friend \(friends.ids[1]) LINKED peer ") })

        let gamma = try HandmadeFriend(port: hubPort, keyPath: friends.keyPaths[2])
        _ = try gamma.receiveHello()
        try gamma.send(Hello(nodeID: betaID, name: "not-beta"))
        let (_, closed) = TCPPorts.readUntilClosed(gamma.descriptor, timeout: 3000)
        #expect(closed, "the hub closes the link that claims beta's node id")

        #expect(try hub.command("friend/print").data.contains(betaLink), "beta's link is the one it had")
        #expect(try hub.establishedPeerCount() == 1)
        #expect(try hub.command("limits/print").data.contains { $0.hasSuffix("forged-node-ids 1") })
        let log = try hub.stop().log
        #expect(log.contains("hello claims node id \(String(betaID, radix: 16))"), "\(log)")
        try beta.stop()
    }
}
