import EthernetSwitch
import Foundation
import Glibc
import Testing

/// VDE cables between real f2f-switches — `dpipe vde_plug = vde_plug`, `wirefilter -v`, `--plug`
/// — where the switches are also linked as friends: every cable closes a loop that only the
/// hellos on client ports can reveal.
@Suite(.serialized) struct VDECableProcessTests {
    /// A (the root) – B – C by peer links; the third side, C–A, is left for a cable.
    struct Triangle {
        var a: SwitchProcess
        var b: SwitchProcess
        var c: SwitchProcess

        init(cableEnds extra: [String] = []) throws {
            let portA = try TCPPorts.free()
            let portB = try TCPPorts.free()
            let friends = try FriendGroup(count: 3)
            // A and C are not friends: a link between them would close the loop the cable is for.
            a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(portA)", "--priority", "4096"] + extra + friends.member(0, friendsWith: [1]))
            b = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(portB)", "--peer", "127.0.0.1:\(portA)"] + friends.member(1, friendsWith: [0, 2]))
            c = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(portB)"] + extra + friends.member(2, friendsWith: [1]))
            try a.waitForPeers(1)
            try b.waitForPeers(2)
            try c.waitForPeers(1)
        }

        func stop() throws {
            for sw in [c, b, a] { try sw.stop() }
        }
    }

    // MARK: Cables closing a loop

    @Test func dpipeCableClosingATriangleMakesNoStorm() throws {
        let triangle = try Triangle()
        let onA = try TestClient(triangle.a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onC = try TestClient(triangle.c.socketDirectory, mac: "02:00:00:00:0c:01")
        let cable = try ChildProcess("dpipe", ["vde_plug", "vde://" + triangle.a.socketDirectory, "=", "vde_plug", "vde://" + triangle.c.socketDirectory])
        defer { cable.terminate() }
        try expectNoStorm(from: onA, to: onC, for: .seconds(2))
        let cablePortOnC = try waitForCablePort(on: triangle.c)
        _ = try waitForCablePort(on: triangle.a)
        try expectOneCopyOfEachBroadcast(from: onA, to: onC)
        // By default a client port never leads to the root: the cable's end at C, which would
        // have been C's root port, is the one that discards.
        let cableLine = try stpLine(of: cablePortOnC, on: triangle.c)
        let treeOnC = try triangle.c.command("stp/print").data.joined(separator: "\n")
        let peersOnC = try triangle.c.command("peer/print").data.joined(separator: "\n")
        #expect(cableLine.contains("ROOT-INCONSISTENT"), "\(cableLine)\n\(treeOnC)\n\(peersOnC)")
        cable.terminate()
        try triangle.stop()
    }

    /// With `--client-root` the cable is C's path to the root; silenced, the peer links take
    /// over once its information ages (three hellos) and the stations behind it are flushed;
    /// back on, the LAN is still loop-free.
    @Test func wirefilterCableFailsOverWhenSilentAndStaysLoopFreeWhenBack() throws {
        let triangle = try Triangle(cableEnds: ["--client-root"])
        let onA = try TestClient(triangle.a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onC = try TestClient(triangle.c.socketDirectory, mac: "02:00:00:00:0c:01")
        let wirefilterConsole = triangle.a.workDirectory + "/wirefilter"
        let cable = try ChildProcess("wirefilter", ["-v", triangle.a.socketDirectory + ":" + triangle.c.socketDirectory, "-M", wirefilterConsole])
        defer { cable.terminate() }
        try expectNoStorm(from: onA, to: onC, for: .seconds(2))
        let cablePortOnC = try waitForCablePort(on: triangle.c)
        try waitUntil(timeout: .seconds(5), "the cable to become C's root port") {
            try triangle.c.command("stp/print").data.contains { $0.hasSuffix("rootport \(pad(cablePortOnC))") }
        }
        #expect(try roundTrip(onA, onC, within: .seconds(2)) != nil, "A and C talk across the cable")

        try wirefilterCommand(wirefilterConsole, "loss 100")
        let failover = try #require(try roundTrip(onA, onC, within: .seconds(12)), "no round trip through the peer links")
        print("measured: failover around a silent VDE cable: \(failover)")
        #expect(failover <= .seconds(7))

        try wirefilterCommand(wirefilterConsole, "loss 0")
        try expectNoStorm(from: onA, to: onC, for: .seconds(4))
        try expectOneCopyOfEachBroadcast(from: onA, to: onC)
        #expect(try roundTrip(onA, onC, within: .seconds(2)) != nil)
        cable.terminate()
        try triangle.stop()
    }

    @Test func plugIntoAFriendItIsLinkedWithMakesNoLoop() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let b = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(1))
        let a = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(port)", "--plug", "vde://" + b.socketDirectory] + friends.member(0))
        try a.waitForPeers(1)
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        try expectNoStorm(from: onA, to: onB, for: .seconds(1))
        _ = try waitForCablePort(on: b)
        try expectOneCopyOfEachBroadcast(from: onA, to: onB)
        try expectOneCopyOfEachBroadcast(from: onB, to: onA)
        try a.stop()
        try b.stop()
    }

    @Test func cableFromASwitchToItselfMakesNoLoop() throws {
        let sw = try SwitchProcess()
        let one = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:01")
        let two = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:02")
        let cable = try ChildProcess("dpipe", ["vde_plug", "vde://" + sw.socketDirectory, "=", "vde_plug", "vde://" + sw.socketDirectory])
        defer { cable.terminate() }
        try expectNoStorm(from: one, to: two, for: .seconds(1))
        try expectOneCopyOfEachBroadcast(from: one, to: two)
        #expect(try sw.command("stp/print").data.contains { $0.contains("role=backup state=discarding") })
        cable.terminate()
        try sw.stop()
    }

    // MARK: Edge ports

    /// A client gets a hello as soon as it attaches and its frames flow at once: being edge
    /// only skips the wait, it does not silence the port.
    @Test func aClientForwardsAtOnceAndHearsHellos() throws {
        let sw = try SwitchProcess()
        let one = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:01")
        let two = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:02")
        let hello = try #require(try two.receive(timeout: .seconds(3), bpdus: true))
        #expect(TestClient.isBPDU(hello))
        let frame = one.frame(to: .broadcast, tag: 7)
        try one.send(frame)
        #expect(try two.receive(timeout: .seconds(1)) == frame)
        // The filter silences a port for a client that must not see BPDUs.
        #expect(try sw.command("stp/setbpdufilter 2 1").status == "1000 Success")
        #expect(try two.receive(timeout: .milliseconds(2500), bpdus: true) == nil)
        #expect(try sw.command("stp/print").data.contains { $0.hasPrefix("Port 0002 ") && $0.contains("guards=root,filter") })
        try sw.stop()
    }

    // MARK: Guards

    /// A friend announcing priority 0 over a link with root guard (`--no-remote-root`): the
    /// port is root-inconsistent and discards, the switch stays its own root; when the friend
    /// stops claiming the root, the port takes part again.
    @Test func rootGuardLetsTheFriendBackWhenItStopsClaimingTheRoot() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let guarded = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--no-remote-root"] + friends.member(0))
        let friend = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(port)", "--priority", "0"] + friends.member(1))
        try guarded.waitForPeers(1)
        try waitUntil(timeout: .seconds(5), "the peer port to be root-inconsistent") {
            try guarded.command("stp/print").data.contains { $0.contains("p2p=1") && $0.contains("ROOT-INCONSISTENT") && $0.contains("state=discarding") }
        }
        #expect(try guarded.command("stp/print").data.contains { $0.hasPrefix("bridge 8000.") && $0.hasSuffix(" ROOT") })
        #expect(try friend.command("stp/setprio 61440").status == "1000 Success")
        try waitUntil(timeout: .seconds(8), "the peer port to forward again") {
            try guarded.command("stp/print").data.contains { $0.contains("p2p=1") && !$0.contains("ROOT-INCONSISTENT") && $0.contains("state=forwarding") }
        }
        let log = try guarded.stop().log
        #expect(log.contains("root guard: port discarding (root-inconsistent)"))
        #expect(log.contains("no longer root-inconsistent"))
        try friend.stop()
    }

    /// One BPDU from an ordinary local client claiming priority 0 takes nothing by default.
    @Test func aClientClaimingTheRootIsRootInconsistent() throws {
        let sw = try SwitchProcess()
        let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:66")
        let bystander = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:01")
        try client.send(Self.bpdu(root: BridgeID(priority: 0, address: client.mac), from: client.mac))
        try waitUntil(timeout: .seconds(3), "the client's port to be root-inconsistent") {
            try sw.command("stp/print").data.contains { $0.hasPrefix("Port 0001 ") && $0.contains("ROOT-INCONSISTENT") && $0.contains("state=discarding") }
        }
        #expect(try sw.command("stp/print").data.contains { $0.hasPrefix("bridge 8000.") && $0.hasSuffix(" ROOT") })
        #expect(try sw.command("stp/print").data.contains { $0.hasPrefix("Port 0002 ") && $0.contains("state=forwarding") })
        _ = bystander
        try sw.stop()
    }

    /// Topology changes every 50 ms for 3 s from a neighbour bridge behind a client port: at
    /// most one a second is acted on (a friend's are limited by the same per-port rule).
    @Test func aTopologyChangeFloodIsRateLimited() throws {
        let sw = try SwitchProcess()
        let flooder = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:66")
        let inferior = BridgeID(priority: 0xF000, address: flooder.mac)
        try flooder.send(Self.bpdu(root: inferior, from: flooder.mac))
        try waitUntil(timeout: .seconds(3), "the flooder's port to be a designated non-edge port") {
            try sw.command("stp/print").data.contains { $0.hasPrefix("Port 0001 role=designated state=forwarding") && $0.contains("edge=0") }
        }
        let before = try topologyChanges(sw)
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(3) {
            // As a bridge's root port reports a change towards the root (17.29).
            try flooder.send(Self.bpdu(root: inferior, from: flooder.mac, flags: [.topologyChange], role: .root))
            usleep(50_000)
        }
        let acted = try topologyChanges(sw) - before
        #expect(acted >= 1 && acted <= 4, "\(acted) topology changes acted on in 3 s")
        #expect(try sw.command("stp/print").data.contains { $0.hasPrefix("Port 0001 ") && !$0.contains("tc-ignored=0 ") })
        try sw.stop()
    }

    @Test func bpduGuardTakesAClientPortDown() throws {
        let sw = try SwitchProcess()
        let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:66")
        #expect(try sw.command("stp/setbpduguard 1 1").status == "1000 Success")
        #expect(try sw.command("stp/setbpduguard 9 1").status == "1006 No such device or address")
        #expect(try sw.command("stp/setbpduguard 1 2").status == "1022 Invalid argument")
        try client.send(Self.bpdu(root: BridgeID(priority: 0xF000, address: client.mac), from: client.mac))
        try waitUntil(timeout: .seconds(3), "port 1 to go down") {
            !(try sw.command("stp/print").data.contains { $0.hasPrefix("Port 0001 ") })
        }
        #expect(try sw.stop().log.contains("BPDU guard"))
    }

    // MARK: Helpers

    static func bpdu(root: BridgeID, from source: MACAddress, flags: BPDUFlags = [], role: BPDUPortRole = .designated) -> [UInt8] {
        var info = BPDUInfo(
            flags: flags, rootID: root, rootPathCost: 0, bridgeID: root, portID: 0x8001,
            messageAge: BPDUTime(rawValue: 0), maxAge: BPDUTime(seconds: 20), helloTime: BPDUTime(seconds: 2),
            forwardDelay: BPDUTime(seconds: 15))
        info.setRole(role)
        var frame: [UInt8] = []
        BPDU.rapid(info, version: 2).encodeFrame(source: source, into: &frame)
        return frame
    }

    private func topologyChanges(_ sw: SwitchProcess) throws -> Int {
        let line = try #require(try sw.command("stp/print").data.first { $0.hasPrefix("topology changes ") })
        return try #require(Int(line.split(separator: " ")[2]))
    }

    private func stpLine(of port: Int, on sw: SwitchProcess) throws -> String {
        try #require(try sw.command("stp/print").data.first { $0.hasPrefix("Port \(pad(port)) ") })
    }

    /// The cable's port: a client port (not point-to-point) that heard a BPDU (no longer edge).
    private func waitForCablePort(on sw: SwitchProcess) throws -> Int {
        var found: Int?
        try waitUntil(timeout: .seconds(5), "a cable port (edge=0 p2p=0) on \(sw.socketDirectory)") {
            let line = try sw.command("stp/print").data.first { $0.hasPrefix("Port ") && $0.contains("edge=0 p2p=0") }
            found = line.flatMap { Int($0.dropFirst(5).prefix(4)) }
            return found != nil
        }
        return found!
    }

    /// A broadcast from `sender` every 10 ms for `duration`, counted at `receiver` in 10 ms
    /// windows: a loop would multiply them into thousands a window.
    private func expectNoStorm(from sender: TestClient, to receiver: TestClient, for duration: Duration) throws {
        let start = ContinuousClock.now
        var sent = 0
        var received = 0
        var busiestWindow = 0
        var tag: UInt8 = 0
        while ContinuousClock.now - start < duration {
            try sender.send(sender.frame(to: .broadcast, size: 100, tag: tag))
            sent += 1
            tag &+= 1
            let windowEnd = ContinuousClock.now + .milliseconds(10)
            var inWindow = 0
            while let _ = try receiver.receive(timeout: max(.zero, windowEnd - ContinuousClock.now)) {
                inWindow += 1
                if ContinuousClock.now >= windowEnd { break }
            }
            busiestWindow = max(busiestWindow, inWindow)
            received += inWindow
        }
        print("measured: \(sent) broadcasts sent, \(received) received, busiest 10 ms window \(busiestWindow)")
        // A loop multiplies every broadcast into thousands a window; a busy machine only
        // bunches a few that were sent 10 ms apart.
        #expect(busiestWindow <= 25, "a loop multiplies broadcasts: \(busiestWindow) frames in one 10 ms window")
        #expect(received <= sent + 10)
    }

    /// Three rounds of a broadcast and a marker: nothing arrives between them.
    private func expectOneCopyOfEachBroadcast(from sender: TestClient, to receiver: TestClient) throws {
        while try receiver.receive(timeout: .milliseconds(50)) != nil {}
        for round in 0..<3 {
            let broadcast = sender.frame(to: .broadcast, size: 300, tag: 0x80 + UInt8(round))
            try sender.send(broadcast)
            #expect(try receiver.receive(timeout: .seconds(2)) == broadcast)
            let marker = sender.frame(to: .broadcast, tag: 0xF0 + UInt8(round))
            try sender.send(marker)
            #expect(try receiver.framesBefore(marker, timeout: .seconds(2)).isEmpty, "a second copy would come before the marker")
        }
    }

    /// A unicast probe from `a` to `b`, answered by `b`, repeated every 20 ms until a round trip
    /// completes: how long the path between the two stations was broken. Late frames (earlier
    /// probes, broadcasts) are read past, so a backlog never makes the probes lag behind.
    private func roundTrip(_ a: TestClient, _ b: TestClient, within limit: Duration) throws -> Duration? {
        let start = ContinuousClock.now
        var tag: UInt8 = 0
        while ContinuousClock.now - start < limit {
            tag &+= 1
            let probe = a.frame(to: b.mac, tag: tag)
            try a.send(probe)
            guard try arrives(probe, at: b, within: .milliseconds(20)) else { continue }
            let answer = b.frame(to: a.mac, tag: tag)
            try b.send(answer)
            if try arrives(answer, at: a, within: .milliseconds(20)) { return ContinuousClock.now - start }
        }
        return nil
    }

    private func arrives(_ frame: [UInt8], at client: TestClient, within limit: Duration) throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while let received = try client.receive(timeout: max(.zero, deadline - ContinuousClock.now)) {
            if received == frame { return true }
        }
        return false
    }

    /// One line to wirefilter's management console (`-M`), answered by `1000 Success`.
    private func wirefilterCommand(_ path: String, _ line: String) throws {
        try waitUntil(timeout: .seconds(5), "wirefilter's console at \(path)") { FileManager.default.fileExists(atPath: path) }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(path.utf8)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect \(path): \(String(cString: strerror(errno)))") }
        _ = (line + "\n").utf8CString.withUnsafeBufferPointer { send(descriptor, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + .seconds(5)
        while !String(decoding: received, as: UTF8.self).contains("1000 Success") {
            guard ContinuousClock.now < deadline else { throw TestFailure("wirefilter did not confirm '\(line)': \(String(decoding: received, as: UTF8.self))") }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { throw TestFailure("wirefilter closed its console") }
            received += buffer[..<count]
        }
    }

    private func pad(_ port: Int) -> String {
        let digits = String(port)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
