import Foundation
import Testing

/// `peer/setvlans` and `--peer-vlans` on real linked switches: a friend link carries only
/// the VLANs its list allows, in both directions, the frames it refuses are counted, and
/// `all` restores the trunk.
@Suite(.serialized) struct LinkVLANListProcessTests {
    static let quiet = Duration.milliseconds(400)

    /// On each switch port 1 is the friend link, port 2 an access port of VLAN 10, port 3
    /// of VLAN 20.
    struct Pair {
        var a: SwitchProcess
        var b: SwitchProcess
        var friends: FriendGroup

        init(aArguments: [String] = [], bArguments: [String] = [], friends given: FriendGroup? = nil) throws {
            let port = try TCPPorts.free()
            let friends = try given ?? FriendGroup(count: 2)
            self.friends = friends
            a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0) + aArguments)
            b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1) + bArguments)
            try a.waitForPeers(1)
            try b.waitForPeers(1)
        }

        func createVLANs(on switches: [SwitchProcess]) throws {
            for sw in switches {
                for line in ["vlan/create 10", "vlan/create 20", "port/setvlan 2 10", "port/setvlan 3 20"] {
                    let status = try sw.command(line).status
                    guard status == "1000 Success" else { throw TestFailure("\(line): \(status)") }
                }
            }
        }
    }

    static func vlanDrops(_ sw: SwitchProcess, port: Int) throws -> Int {
        let line = try sw.command("port/allprint \(port)").data.first { $0.hasPrefix(" DROP:") } ?? ""
        let words = line.split(separator: " ")
        guard let index = words.firstIndex(of: "vlan"), index + 1 < words.count, let count = Int(words[index + 1]) else {
            throw TestFailure("no vlan count in '\(line)'")
        }
        return count
    }

    /// `Peer 0001 ESTABLISHED ...`: the number of the switch's one established link.
    static func peerNumber(_ sw: SwitchProcess) throws -> Int {
        let line = try sw.command("peer/print").data.first { $0.hasPrefix("Peer ") && $0.contains(" ESTABLISHED ") } ?? ""
        guard let number = Int(line.split(separator: " ").dropFirst().first ?? "") else { throw TestFailure("no established peer: '\(line)'") }
        return number
    }

    @Test func aLinkCarriesOnlyItsListsVLANsUntilAllRestoresThem() throws {
        let pair = try Pair()
        let (a, b) = (pair.a, pair.b)
        let tenOnA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:10", port: 2)
        let twentyOnA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:20", port: 3)
        let tenOnB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:10", port: 2)
        let twentyOnB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:20", port: 3)
        defer { [tenOnA, twentyOnA, tenOnB, twentyOnB].forEach { $0.close() } }
        try pair.createVLANs(on: [a, b])
        // A names B by its friend id; B is unrestricted, so A must refuse what B sends of 20.
        #expect(try a.command("peer/setvlans \(pair.friends.ids[1]) 10").status == "1000 Success")
        #expect(try a.command("peer/print").data.contains(" vlans 10"))
        #expect(try b.command("peer/print").data.contains(" vlans all"))
        #expect(try a.command("vlan/print 10").data.contains(" -- Port 0001 tagged=1 active=1 status=Forwarding"))
        #expect(try !a.command("vlan/print 20").data.contains { $0.hasPrefix(" -- Port 0001 ") })

        // VLAN 10 crosses both ways.
        let ten = tenOnA.frame(to: .broadcast, size: 200, tag: 1)
        try tenOnA.send(ten)
        #expect(try tenOnB.receive() == ten)
        let tenBack = tenOnB.frame(to: tenOnA.mac, size: 200, tag: 2)
        try tenOnB.send(tenBack)
        #expect(try tenOnA.receive() == tenBack)
        // VLAN 20 from A is not sent over the link...
        let twenty = twentyOnA.frame(to: .broadcast, size: 200, tag: 3)
        try twentyOnA.send(twenty)
        #expect(try twentyOnB.receive(timeout: Self.quiet) == nil)
        // ...and from B it is sent, tagged, and refused by A, which counts it on the link.
        let dropsBefore = try Self.vlanDrops(a, port: 1)
        let twentyFromB = twentyOnB.frame(to: .broadcast, size: 200, tag: 4)
        try twentyOnB.send(twentyFromB)
        #expect(try twentyOnA.receive(timeout: Self.quiet) == nil)
        try waitUntil(timeout: .seconds(3), "A to count the refused frame") { try Self.vlanDrops(a, port: 1) == dropsBefore + 1 }
        // A unicast of 20 that B routes through the mesh to A's station is refused too.
        try waitUntil(timeout: .seconds(10), "B to route to A's station in VLAN 20") {
            let line = try b.command("mesh/route \(twentyOnA.mac) 20").data.first ?? ""
            return line.contains(" owner ") && !line.contains("(here)")
        }
        let routed = twentyOnB.frame(to: twentyOnA.mac, size: 200, tag: 5)
        try twentyOnB.send(routed)
        #expect(try twentyOnA.receive(timeout: Self.quiet) == nil)
        try waitUntil(timeout: .seconds(3), "A to count the refused routed frame") { try Self.vlanDrops(a, port: 1) == dropsBefore + 2 }
        // Nothing leaked into the other VLAN on the way.
        #expect(try tenOnA.receive(timeout: Self.quiet) == nil)
        #expect(try tenOnB.receive(timeout: Self.quiet) == nil)

        // `all` restores the trunk, both ways.
        #expect(try a.command("peer/setvlans \(Self.peerNumber(a)) all").status == "1000 Success", "by peer/print's number too")
        #expect(try a.command("peer/print").data.contains(" vlans all"))
        try twentyOnA.send(twenty)
        #expect(try twentyOnB.receive() == twenty)
        try twentyOnB.send(twentyFromB)
        #expect(try twentyOnA.receive() == twentyFromB)
        try twentyOnB.send(routed)
        #expect(try twentyOnA.receive() == routed)
        #expect(try Self.vlanDrops(a, port: 1) == dropsBefore + 2)
        try a.stop()
        try b.stop()
    }

    @Test func theConsoleRefusesBadListsAndUnknownPeers() throws {
        let pair = try Pair()
        let a = pair.a
        let stranger = try FriendGroup(count: 1).ids[0]
        let friend = pair.friends.ids[1]
        let codes = try [
            "peer/setvlans \(friend) 0", "peer/setvlans \(friend) 4095", "peer/setvlans \(friend) 4096", "peer/setvlans \(friend) 10,",
            "peer/setvlans \(friend) 20-10", "peer/setvlans \(friend) ten", "peer/setvlans \(friend)", "peer/setvlans",
            "peer/setvlans \(friend) 10 20", "peer/setvlans \(stranger) 10", "peer/setvlans 99 10", "peer/setvlans nobody 10",
        ].map { try a.command($0).status.prefix(4) }
        #expect(codes == ["1022", "1022", "1022", "1022", "1022", "1022", "1022", "1022", "1022", "1006", "1006", "1022"])
        // None of them changed anything.
        #expect(try a.command("peer/print").data.contains(" vlans all"))
        #expect(try a.command("peer/setvlans \(friend) none").status == "1000 Success")
        #expect(try a.command("peer/print").data.contains(" vlans none"))
        try a.stop()
        try pair.b.stop()
    }

    /// The lists set at start-up, by an rc file's `peer/setvlans` (before the friend links)
    /// and by `--peer-vlans`, apply when the link comes up.
    @Test func listsFromTheRCFileAndTheCommandLineApplyWhenTheLinkComesUp() throws {
        let friends = try FriendGroup(count: 2)
        let rcFile = friends.directory + "/a.rc"
        try "vlan/create 10\nvlan/create 20\nport/create 2\nport/setvlan 2 10\nport/create 3\nport/setvlan 3 20\npeer/setvlans \(friends.ids[1]) 10\n"
            .write(toFile: rcFile, atomically: false, encoding: .utf8)
        let pair = try Pair(aArguments: ["-f", rcFile], bArguments: ["--peer-vlans", "\(friends.ids[0])=10"], friends: friends)
        let (a, b) = (pair.a, pair.b)
        #expect(try a.command("peer/print").data.contains(" vlans 10"))
        #expect(try b.command("peer/print").data.contains(" vlans 10"))
        let tenOnA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:10", port: 2)
        let twentyOnA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:20", port: 3)
        let tenOnB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:10", port: 2)
        let twentyOnB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:20", port: 3)
        defer { [tenOnA, twentyOnA, tenOnB, twentyOnB].forEach { $0.close() } }
        try pair.createVLANs(on: [b])
        for sw in [a, b] {
            #expect(try sw.command("vlan/print 10").data.contains(" -- Port 0001 tagged=1 active=1 status=Forwarding"))
            #expect(try !sw.command("vlan/print 20").data.contains { $0.hasPrefix(" -- Port 0001 ") }, "the link's list applied at link-up")
        }
        let ten = tenOnB.frame(to: .broadcast, size: 200, tag: 1)
        try tenOnB.send(ten)
        #expect(try tenOnA.receive() == ten)
        let twenty = twentyOnB.frame(to: .broadcast, size: 200, tag: 2)
        try twentyOnB.send(twenty)
        #expect(try twentyOnA.receive(timeout: Self.quiet) == nil)
        try a.stop()
        try b.stop()
    }
}
