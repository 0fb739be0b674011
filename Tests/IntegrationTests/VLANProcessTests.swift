import EthernetSwitch
import Foundation
import Glibc
import Testing

/// 802.1Q VLANs on real processes: real `unixcmd` configuring them, libvdeplug clients in
/// and out of a VLAN, a tagged client on a trunk port, a VLAN across a friend link, and the
/// same scenario against Debian's vde_switch.
@Suite(.serialized) struct VLANProcessTests {
    /// A switch the scenario runs on: f2f-switch or vde_switch, each with a console.
    struct UnderTest {
        var socketDirectory: String
        var managementPath: String

        func command(_ line: String) throws -> ConsoleClient.Response {
            let console = try ConsoleClient(path: managementPath)
            defer { console.close() }
            return try console.send(line)
        }
    }

    /// What reached whom in `runReachabilityScenario`: nil for nothing, else the exact bytes.
    struct Reachability: Equatable {
        var accessToAccess: [UInt8]?
        var accessToTrunk: [UInt8]?
        var accessToOtherVLAN: [UInt8]?
        var otherVLANToAccess: [UInt8]?
        var otherVLANToTrunk: [UInt8]?
        var trunkTaggedToAccess: [UInt8]?
        var trunkForeignTagToAccess: [UInt8]?
        var trunkForeignTagToOtherVLAN: [UInt8]?
    }

    static let quiet = Duration.milliseconds(400)

    /// Ports 1, 2: access ports of VLAN 10; port 3: VLAN 0; port 4: tagged member of 10.
    static func runReachabilityScenario(on sw: UnderTest) throws -> Reachability {
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:10:01", port: 1)
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:10:02", port: 2)
        let c = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:03", port: 3)
        let trunk = try TestClient(sw.socketDirectory, mac: "02:00:00:00:10:04", port: 4)
        defer { [a, b, c, trunk].forEach { $0.close() } }
        for line in ["vlan/create 10", "port/setvlan 1 10", "port/setvlan 2 10", "vlan/addport 10 4"] {
            let status = try sw.command(line).status
            guard status == "1000 Success" else { throw TestFailure("\(line): \(status)") }
        }
        var result = Reachability()
        let fromA = a.frame(to: .broadcast, size: 100, tag: 1)
        try a.send(fromA)
        result.accessToAccess = try b.receive(timeout: .seconds(3))
        result.accessToTrunk = try trunk.receive(timeout: .seconds(3))
        result.accessToOtherVLAN = try c.receive(timeout: quiet)

        let fromC = c.frame(to: .broadcast, size: 100, tag: 2)
        try c.send(fromC)
        result.otherVLANToTrunk = try trunk.receive(timeout: .seconds(3))
        result.otherVLANToAccess = try a.receive(timeout: quiet)

        // The trunk client sends in VLAN 10 (tagged) to a, which it learned from its broadcast.
        let tagged = tag(trunk.frame(to: a.mac, size: 100, tag: 3), vlan: 10)
        try trunk.send(tagged)
        result.trunkTaggedToAccess = try a.receive(timeout: .seconds(3))
        // VLAN 20 does not exist: dropped on ingress.
        let foreign = tag(trunk.frame(to: .broadcast, size: 100, tag: 4), vlan: 20)
        try trunk.send(foreign)
        result.trunkForeignTagToAccess = try a.receive(timeout: quiet)
        result.trunkForeignTagToOtherVLAN = try c.receive(timeout: quiet)
        return result
    }

    /// `frame` with an 802.1Q tag (priority 0) after its addresses.
    static func tag(_ frame: [UInt8], vlan: UInt16) -> [UInt8] {
        Array(frame[..<12]) + [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xFF)] + frame[12...]
    }

    static func expectIsolation(_ result: Reachability, sentFromA fromA: [UInt8], fromC: [UInt8], trunkToA: [UInt8]) {
        #expect(result.accessToAccess == fromA)
        #expect(result.accessToTrunk == tag(fromA, vlan: 10))
        #expect(result.accessToOtherVLAN == nil)
        #expect(result.otherVLANToAccess == nil)
        #expect(result.otherVLANToTrunk == fromC)
        #expect(result.trunkTaggedToAccess == trunkToA)
        #expect(result.trunkForeignTagToAccess == nil)
        #expect(result.trunkForeignTagToOtherVLAN == nil)
    }

    /// The frames the scenario sends, untagged, as each receiver should see them.
    static func expectedFrames() -> (fromA: [UInt8], fromC: [UInt8], trunkToA: [UInt8]) {
        let a = MACAddress(parsing: "02:00:00:00:10:01")!
        func frame(from source: String, to destination: MACAddress, tag: UInt8) -> [UInt8] {
            var bytes: [UInt8] = []
            EthernetHeader(destination: destination, source: MACAddress(parsing: source)!, etherType: 0x88B5).encode(into: &bytes)
            var value = tag
            while bytes.count < 100 {
                bytes.append(value)
                value &+= 1
            }
            return bytes
        }
        return (
            frame(from: "02:00:00:00:10:01", to: .broadcast, tag: 1), frame(from: "02:00:00:00:00:03", to: .broadcast, tag: 2),
            frame(from: "02:00:00:00:10:04", to: a, tag: 3)
        )
    }

    @Test func vlansIsolateClientsAndTheTrunkCarriesTags() throws {
        let sw = try SwitchProcess()
        let result = try Self.runReachabilityScenario(on: UnderTest(socketDirectory: sw.socketDirectory, managementPath: sw.managementPath))
        let expected = Self.expectedFrames()
        Self.expectIsolation(result, sentFromA: expected.fromA, fromC: expected.fromC, trunkToA: expected.trunkToA)
        let drops = try sw.command("port/allprint 4").data.first { $0.hasPrefix(" DROP:") } ?? ""
        #expect((drops + " ").contains(" vlan 1 "), "the foreign tag is counted: \(drops)")
        try sw.stop()
    }

    @Test func theRealVdeSwitchGivesTheSameReachability() throws {
        let sw = try SwitchProcess()
        let ours = try Self.runReachabilityScenario(on: UnderTest(socketDirectory: sw.socketDirectory, managementPath: sw.managementPath))
        try sw.stop()

        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        // Debian's vde_switch exits on EOF of stdin unless it is a daemon.
        #expect(ProcessLaunch.system("vde_switch -s \(work)/vde -M \(work)/mgmt -d -p \(work)/vde.pid </dev/null >/dev/null 2>&1") == 0)
        var vdePID: Int32 = 0
        try waitUntil(timeout: .seconds(5), "vde_switch pid file") {
            let text = (try? String(contentsOfFile: work + "/vde.pid", encoding: .utf8)) ?? ""
            vdePID = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return vdePID > 0 && FileManager.default.fileExists(atPath: work + "/mgmt")
        }
        defer { kill(vdePID, SIGTERM) }
        let theirs = try Self.runReachabilityScenario(on: UnderTest(socketDirectory: work + "/vde", managementPath: work + "/mgmt"))
        #expect(ours == theirs)
        let expected = Self.expectedFrames()
        Self.expectIsolation(theirs, sentFromA: expected.fromA, fromC: expected.fromC, trunkToA: expected.trunkToA)
    }

    @Test func unixcmdConfiguresVLANsWithVdeSwitchsAnswers() throws {
        let sw = try SwitchProcess()
        let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a", port: 3)
        func unixcmd(_ arguments: String...) throws -> [String] {
            let process = try ChildProcess("unixcmd", ["-f", "/etc/vde2/vdecmd", "-s", sw.managementPath] + arguments)
            let (_, output) = try process.finish()
            // Debian's unixcmd follows every copied line with a NUL.
            return output.split(separator: "\0").map { $0.trimmingCharacters(in: .newlines) }.filter { !$0.isEmpty }
        }
        _ = try unixcmd("vlan/create", "10")
        _ = try unixcmd("port/setvlan", "3", "10")
        #expect(try unixcmd("port/print", "3").first == "Port 0003 untagged_vlan=0010 ACTIVE - Unnamed Allocatable")
        #expect(try unixcmd("vlan/print", "10") == ["VLAN 0010", " -- Port 0003 tagged=0 active=1 status=Forwarding"])
        // unixcmd prints no error codes: the console's own answers, as vde_switch gives them.
        let codes = try [
            "vlan/create 0", "vlan/create 4094", "vlan/create 10", "vlan/remove 10", "vlan/remove 11", "vlan/addport 11 3",
            "vlan/addport 10 4", "vlan/addport 10 99", "vlan/delport 10 3", "port/setvlan 3 11", "port/setvlan 99 10",
            "port/setvlan 4 10", "vlan/print 11", "vlan/print 5000", "vlan/allprint 0",
        ].map { try sw.command($0).status.prefix(4) }
        #expect(codes == ["1022", "1022", "1017", "1098", "1006", "1006", "1006", "1022", "1098", "1006", "1022", "1006", "1006", "1022", "1022"])
        #expect(try sw.command("port/setvlan 3 0").status == "1000 Success")
        #expect(try sw.command("vlan/remove 10").status == "1000 Success")
        client.close()
        try sw.stop()
    }

    @Test func aVLANSpansAFriendLinkTagged() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0))
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1))
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        // Port 1 on each is the friend link.
        let inTenOnA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:10", port: 2)
        let inZeroOnA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:00", port: 3)
        let inTenOnB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:10", port: 2)
        let inZeroOnB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:00", port: 3)
        for sw in [a, b] {
            #expect(try sw.command("vlan/create 10").status == "1000 Success")
            #expect(try sw.command("port/setvlan 2 10").status == "1000 Success")
            #expect(try sw.command("vlan/print 10").data.contains(" -- Port 0001 tagged=1 active=1 status=Forwarding"))
        }
        let inTen = inTenOnA.frame(to: .broadcast, size: 1000, tag: 1)
        try inTenOnA.send(inTen)
        #expect(try inTenOnB.receive() == inTen)
        let inZero = inZeroOnA.frame(to: .broadcast, size: 1000, tag: 2)
        try inZeroOnA.send(inZero)
        #expect(try inZeroOnB.receive() == inZero)
        // Neither crossed into the other VLAN, on either switch.
        #expect(try inZeroOnB.receive(timeout: Self.quiet) == nil)
        #expect(try inTenOnB.receive(timeout: Self.quiet) == nil)
        #expect(try inTenOnA.receive(timeout: Self.quiet) == nil)
        // Unicast back across the link, to the station b learned in VLAN 10.
        let reply = inTenOnB.frame(to: inTenOnA.mac, size: 300, tag: 3)
        try inTenOnB.send(reply)
        #expect(try inTenOnA.receive() == reply)
        #expect(try inZeroOnA.receive(timeout: Self.quiet) == nil)
        [inTenOnA, inZeroOnA, inTenOnB, inZeroOnB].forEach { $0.close() }
        try a.stop()
        try b.stop()
    }
}
