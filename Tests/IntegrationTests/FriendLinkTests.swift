import EthernetSwitch
@testable import F2FSecure
import Foundation
import Glibc
import Testing

/// Friends only, on real processes: Noise-authenticated links over real TCP, strangers and
/// impostors refused, tampering detected, nothing readable on the wire, limits enforced.
@Suite(.serialized) struct FriendLinkTests {
    @Test func aStrangerIsRefusedAndItsIDLogged() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 3)
        // Only member 1 is a's friend; member 2 knows a's id but is unknown to a.
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0, friendsWith: [1]))
        let stranger = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(2))
        let friend = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1))
        try friend.waitForPeers(1)
        try waitUntil(timeout: .seconds(10), "the stranger's dial to be refused") {
            try stranger.command("peer/print").data.contains { $0.contains("last:") }
        }
        #expect(try a.establishedPeerCount() == 1)
        #expect(try stranger.establishedPeerCount() == 0)
        #expect(try a.command("friend/print").data.contains { $0.hasPrefix("Friend \(friends.ids[1]) LINKED peer ") })
        #expect(try a.command("limits/print").data.contains { $0.hasPrefix("strangers-refused") && !$0.hasPrefix("strangers-refused 0 ") })
        let log = try a.stop().log
        #expect(log.contains("refused peer") && log.contains(friends.ids[2]) && log.contains("not a friend"), "\(log)")
        try friend.stop()
        try stranger.stop()
    }

    @Test func anImpostorWithAFriendsIDButNotItsKeyIsRefused() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0))
        let friendID = try #require(PeerID(parsing: friends.ids[1]))
        // A real Noise initiator over a real socket, presenting the friend's public key while
        // holding a different private key.
        var impostor = NoiseHandshake(
            role: .initiator, localStatic: IdentityKey().privateKey, presenting: friendID.bytes,
            ephemeral: nil, prologue: SecureConnection.prologue)
        let fd = try TCPPorts.connect(port: port)
        defer { close(fd) }
        try sendRecord(try impostor.writeMessage(), on: fd)
        _ = try impostor.readMessage(try receiveRecord(from: fd))
        try sendRecord(try impostor.writeMessage(), on: fd)
        let (after, closed) = TCPPorts.readUntilClosed(fd, timeout: 3000)
        #expect(closed && after.isEmpty, "the switch closes the link without a word")
        #expect(try a.establishedPeerCount() == 0)
        let log = try a.stop().log
        #expect(log.contains("Noise handshake failed") && log.contains("failed authentication"), "\(log)")
        #expect(!log.contains("peer connected"))
    }

    @Test func aPortAtItsMACLimitLearnsNoMoreStations() throws {
        let sw = try SwitchProcess(arguments: ["--port-macs", "4"])
        let flooder = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0f:00")
        let honest = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0a:01")
        try honest.send(honest.frame(to: .broadcast))
        for index in 1...10 {
            var frame = flooder.frame(to: .broadcast)
            frame[11] = UInt8(index)  // a new source address each time
            try flooder.send(frame)
        }
        #expect(try honest.receive() != nil)
        try waitUntil(timeout: .seconds(5), "the flood to be counted") {
            try sw.command("limits/print").data.contains("port-macs 4 peer-macs 4096 refused 6")
        }
        let stations = try sw.command("hash/print").data.filter { $0.contains("to port") }
        #expect(stations.count == 5, "4 of the flooder's addresses and the honest client's: \(stations)")
        #expect(stations.contains { $0.contains("02:00:00:00:0a:01") })
        try sw.stop()
    }

    @Test func aPeerLinePinsWhoMustAnswer() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 3)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0))
        // b expects member 2 at a's address: a is a friend of b, but not who b pinned there.
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(2, port: port)] + friends.member(1))
        try waitUntil(timeout: .seconds(10), "b to refuse the wrong id") {
            try b.command("peer/print").data.contains { $0.contains("last:") && $0.contains("expected \(friends.ids[2])") }
        }
        #expect(try b.establishedPeerCount() == 0)
        #expect(try a.establishedPeerCount() == 0)
        try b.stop()
        try a.stop()
    }

    @Test func removingAFriendClosesItsLinkAndAddingItBackRestoresIt() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0))
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1))
        try a.waitForPeers(1)
        #expect(try a.command("friend/add not-an-id").status == "1022 Invalid argument")
        #expect(try a.command("friend/del \(friends.ids[1])").status == "1000 Success")
        try a.waitForPeers(0)
        #expect(try a.command("friend/print").data == ["Self \(friends.ids[0])"])
        #expect(try a.command("friend/add \(friends.ids[1])").status == "1000 Success")
        try a.waitForPeers(1, timeout: .seconds(15))  // b redials with backoff
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        let frame = onB.frame(to: .broadcast, size: 300, tag: 5)
        try onB.send(frame)
        #expect(try onA.receive() == frame)
        try b.stop()
        try a.stop()
    }

    @Test func capturedLinkTrafficHoldsNoPlaintextOfAFrame() throws {
        let marker = Array("f2f-secret-payload-7b1e4c".utf8)
        for plaintext in [false, true] {
            let port = try TCPPorts.free()
            let friends = try FriendGroup(count: 2)
            // The TCP link's records are what is captured here (frames over UDP: UDPPathTests).
            let mode = plaintext ? ["--plaintext"] : ["--no-udp"]
            let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + (plaintext ? mode : mode + friends.member(0)))
            let b = try SwitchProcess(arguments: ["--peer", "127.0.0.1:\(port)"] + (plaintext ? mode : mode + friends.member(1)))
            try a.waitForPeers(1)
            try b.waitForPeers(1)
            let capturePath = a.workDirectory + "/link.pcap"
            let capture = try PacketCapture(interface: "lo", filter: "tcp port \(port)", path: capturePath)
            let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
            let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
            var frame: [UInt8] = []
            EthernetHeader(destination: .broadcast, source: onA.mac, etherType: 0x88B5).encode(into: &frame)
            for _ in 0..<20 { frame += marker }
            for _ in 0..<5 {
                try onA.send(frame)
                #expect(try onB.receive() == frame)
            }
            let captured = try capture.finish(minimumCount: 5 * frame.count)
            #expect(captured.count > 5 * frame.count, "the capture saw the link's traffic (\(captured.count) bytes)")
            let found = contains(captured, marker)
            #expect(found == plaintext, plaintext ? "a plaintext link shows the payload (the capture works)" : "an encrypted link must not show it")
            try b.stop()
            try a.stop()
        }
    }

    @Test func tamperedCiphertextClosesTheLink() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        // Frames on the TCP link, through the relay (UDP would bypass it: UDPPathTests).
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--no-udp"] + friends.member(0))
        let relay = try TamperingRelay(targetPort: port)
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: relay.port), "--no-udp"] + friends.member(1))
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        let before = onB.frame(to: .broadcast, size: 500, tag: 1)
        try onB.send(before)
        #expect(try onA.receive() == before)
        relay.tamperWithNextBytes()
        try onB.send(onB.frame(to: .broadcast, size: 500, tag: 2))
        try a.waitForPeers(0)
        #expect(try onA.receive(timeout: .milliseconds(300)) == nil, "nothing of the tampered record is delivered")
        relay.stop()
        let log = try a.stop().log
        #expect(log.contains("failed authentication"), "\(log)")
        try b.stop()
    }

    @Test func unauthenticatedConnectionsAreCappedByEvictingTheOldestAndTimedOut() throws {
        let port = try TCPPorts.free()
        let a = try SwitchProcess(arguments: [
            "--listen", "127.0.0.1:\(port)", "--max-pending", "2", "--first-message-timeout", "1.5", "--handshake-timeout", "3",
        ])
        let oldest = try TCPPorts.connect(port: port)
        defer { close(oldest) }
        try waitUntil(timeout: .seconds(5), "one pending connection") {
            try a.command("limits/print").data.contains { $0.hasPrefix("max-pending 2 now 1 ") }
        }
        let idle = try (0..<2).map { _ in try TCPPorts.connect(port: port) }
        defer { idle.forEach { close($0) } }
        let started = ContinuousClock.now
        let (reply, closed) = TCPPorts.readUntilClosed(oldest, timeout: 1000)
        #expect(closed && reply.isEmpty, "over the pending limit the oldest makes room: closed at once, nothing said")
        #expect(ContinuousClock.now - started < .milliseconds(900))

        for fd in idle {
            let (bytes, idleClosed) = TCPPorts.readUntilClosed(fd, timeout: 4000)
            #expect(idleClosed && bytes.isEmpty, "a silent connection is closed at the first-message timeout")
        }
        #expect(ContinuousClock.now - started < .seconds(2.5))

        // Garbage instead of a Noise message: closed without a word.
        let garbage = try TCPPorts.connect(port: port)
        defer { close(garbage) }
        _ = Array("GET / HTTP/1.0\r\n\r\n".utf8).withUnsafeBytes { send(garbage, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let (answer, garbageClosed) = TCPPorts.readUntilClosed(garbage, timeout: 2000)
        #expect(garbageClosed && answer.isEmpty)
        let lines = try a.command("limits/print").data
        #expect(lines.contains("max-pending 2 now 0 per-source 4 reserved 0/4"), "\(lines)")
        #expect(lines.contains("pending-evicted pool-full 1 per-source 0"), "\(lines)")
        #expect(lines.contains("first-message-timeout 1.5 s timed-out 2"), "\(lines)")
        #expect(lines.contains("handshake-timeout 3.0 s timed-out 0"), "\(lines)")
        #expect(lines.contains("strangers-refused 0 handshake-failures 1"), "\(lines)")
        try a.stop()
    }

    @Test func peersBeyondTheLimitAreRefused() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 3)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--max-peers", "1"] + friends.member(0))
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1))
        try a.waitForPeers(1)
        let c = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(2))
        try waitUntil(timeout: .seconds(10), "a to refuse a second peer") {
            try a.command("limits/print").data.contains { $0.hasPrefix("max-peers 1 now 1 refused ") && !$0.hasSuffix("refused 0") }
        }
        #expect(try c.establishedPeerCount() == 0)
        #expect(try b.establishedPeerCount() == 1)
        for sw in [c, b, a] { try sw.stop() }
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

/// `tcpdump -w` on a real interface, started and stopped by the test.
final class PacketCapture {
    private let child: ChildProcess
    private let path: String

    init(interface: String, filter: String, path: String) throws {
        self.path = path
        child = try ChildProcess("tcpdump", ["-i", interface, "--immediate-mode", "-U", "-s", "0", "-w", path, filter])
        // tcpdump says "listening on" once the capture runs; before that packets are missed.
        let errors = child.errors.fileHandleForReading.fileDescriptor
        var said = ""
        try waitUntil(timeout: .seconds(10), "tcpdump to start capturing") {
            var poller = pollfd(fd: errors, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 50) > 0 {
                var buffer = [UInt8](repeating: 0, count: 1024)
                let count = read(errors, &buffer, buffer.count)
                if count > 0 { said += String(decoding: buffer[..<count], as: UTF8.self) }
            }
            guard child.process.isRunning else { throw TestFailure("tcpdump exited: \(said)") }
            return said.contains("listening on")
        }
    }

    /// Waits until the file holds `minimumCount` bytes (or 5 s pass), stops the capture and
    /// returns the file's bytes.
    func finish(minimumCount: Int) throws -> [UInt8] {
        try? waitUntil(timeout: .seconds(5), "the capture to reach \(minimumCount) bytes") {
            ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) >= minimumCount
        }
        // SIGKILL: children of the test runner inherit its blocked SIGTERM/SIGINT, and with -U
        // every packet is in the file already.
        kill(child.process.processIdentifier, SIGKILL)
        child.process.waitUntilExit()
        guard let data = FileManager.default.contents(atPath: path) else { throw TestFailure("no capture file \(path)") }
        return Array(data)
    }
}
