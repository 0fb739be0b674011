import F2FTesting
import Foundation
import Glibc
import Testing

/// Friend links carrying frames over UDP (issue 15), on real processes: frames cross as
/// datagrams, a 1514-byte frame crosses whole where the path carries it (in fragments where
/// not), a replayed or forged datagram is dropped
/// and counted, and a link whose UDP is blocked (nftables in a namespace) falls back to TCP and
/// comes back.
@Suite(.serialized) struct UDPPathTests {
    private func recordsOut(_ sw: SwitchProcess) throws -> Int {
        let line = try sw.command("peer/print").data.first { $0.contains("encrypted records") } ?? ""
        return number(after: "out", in: line) ?? -1
    }

    private func datagramsOut(_ sw: SwitchProcess) throws -> Int {
        let line = try sw.peerPathLine()
        guard let range = line.range(of: "datagrams in ") else { return -1 }
        return number(after: "out", in: String(line[range.lowerBound...])) ?? -1
    }

    private func linked(launcher: [String] = []) throws -> (a: SwitchProcess, b: SwitchProcess, port: UInt16) {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0), launcher: launcher)
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1), launcher: launcher)
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        return (a, b, port)
    }

    @Test func framesCrossOverUDPNotTheTCPLink() throws {
        let (a, b, port) = try linked()
        for sw in [a, b] {
            try waitUntil(timeout: .seconds(5), "the link to take UDP") { try sw.peerPathLine().hasPrefix(" path udp udp 127.0.0.1:") }
        }
        let line = try b.peerPathLine()
        #expect(line.contains("udp 127.0.0.1:\(port) "), "b sends to a's --listen port: \(line)")
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        let recordsBefore = try recordsOut(b)
        let datagramsBefore = try datagramsOut(b)
        for tag in 0..<100 {
            let frame = onB.frame(to: .broadcast, size: 1000, tag: UInt8(tag))
            try onB.send(frame)
            #expect(try onA.receive() == frame)
        }
        let recordsAfter = try recordsOut(b)
        let datagramsAfter = try datagramsOut(b)
        #expect(datagramsAfter - datagramsBefore >= 100, "the frames went as datagrams (\(datagramsBefore) → \(datagramsAfter))")
        // Keepalives and probes still use the stream now and then; 100 frames would be 100 records.
        #expect(recordsAfter - recordsBefore < 20, "the frames did not go over TCP (\(recordsBefore) → \(recordsAfter))")
        // The receive buffer the kernel granted (a few hundred KiB: a few ms of a transfer, not
        // tens) and what overflowed it: nothing, at this pace.
        let buffer = try a.command("limits/print").data.first { $0.hasPrefix("udp-receive-buffer ") } ?? ""
        let kib = Int(buffer.split(separator: " ").dropFirst().first ?? "") ?? 0
        #expect(kib >= 200 && kib <= 600 && buffer.contains(" KiB overflowed 0 held "), "\(buffer)")
        try b.stop()
        try a.stop()
    }

    /// Loopback carries 9000-byte datagrams: the path-MTU search confirms a 8940-byte payload
    /// and 1514-byte frames then cross whole, one datagram each. (Fragments on a real process
    /// pair: `blockedUDPFallsBackToTCPAndComesBack`, over a 1500-byte path.)
    @Test func fullSizeFramesCrossWholeOnceThePathMTUIsProbed() throws {
        let (a, b, _) = try linked()
        try waitUntil(timeout: .seconds(5), "the link to take UDP and confirm 8940-byte payloads") {
            let line = try b.peerPathLine()
            return line.hasPrefix(" path udp") && line.hasSuffix(" payload 8940")
        }
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        for tag in 0..<5 {
            let frame = onB.frame(to: .broadcast, size: 1514, tag: UInt8(tag))
            try onB.send(frame)
            #expect(try onA.receive() == frame)
        }
        let line = try b.peerPathLine()
        #expect(line.contains("path udp") && line.contains("fragments in 0 out 0 ") && line.contains("send-failures 0"), "\(line)")
        try b.stop()
        try a.stop()
    }

    @Test func replayedAndForgedDatagramsAreDroppedAndCounted() throws {
        let (a, b, port) = try linked()
        try waitUntil(timeout: .seconds(5), "the link to take UDP") { try b.peerPathLine().hasPrefix(" path udp") }
        let capturePath = a.workDirectory + "/udp.pcap"
        let capture = try PacketCapture(interface: "lo", filter: "udp dst port \(port)", path: capturePath)
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        let frame = onB.frame(to: .broadcast, size: 400, tag: 7)
        try onB.send(frame)
        #expect(try onA.receive() == frame)
        let datagrams = UDPCapture.payloads(try capture.finish(minimumCount: 400)).filter { $0.first == 4 && $0.count > 400 }
        let captured = try #require(datagrams.first, "the frame's datagram was captured")
        let endpointBefore = try a.peerPathLine()
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sender) }
        func send(_ bytes: [UInt8]) {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sender, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        send(captured)
        var forged = captured
        forged[8] = 0xF0  // a fresh counter, so only the AEAD check can refuse it
        forged[forged.count - 1] ^= 1
        send(forged)
        try waitUntil(timeout: .seconds(5), "both to be counted") {
            let line = try a.command("limits/print").data.first { $0.hasPrefix("udp-dropped ") } ?? ""
            return line.contains(" replayed 1 ") && line.contains(" bad-mac 1 ")
        }
        #expect(try onA.receive(timeout: .milliseconds(300)) == nil, "the replayed frame is not delivered again")
        let endpointAfter = try a.peerPathLine()
        #expect(endpointBefore.split(separator: " ")[3] == endpointAfter.split(separator: " ")[3], "the endpoint stays with b: \(endpointAfter)")
        #expect(endpointAfter.contains("roams 0") || endpointAfter.hasSuffix("roams 0"), "\(endpointAfter)")
        try b.stop()
        try a.stop()
    }

    /// Two linked switches in a namespace of their own, whose loopback is a 1500-byte path as
    /// between two hosts on Ethernet (the datagrams carry DF), and nftables commands in it that
    /// can drop the UDP sent to a's port. Nil (recorded) where nft is not installed.
    private func linkedOverA1500BytePath(_ namespace: String) throws -> (a: SwitchProcess, b: SwitchProcess, blockUDP: () throws -> Void, unblockUDP: () throws -> Void)? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") else {
            Issue.record("nft is not installed (Debian nftables)")
            return nil
        }
        try run("/usr/sbin/ip", ["netns", "add", namespace])
        try run("/usr/sbin/ip", ["netns", "exec", namespace, "ip", "link", "set", "lo", "mtu", "1500", "up"])
        let (a, b, port) = try linked(launcher: ["/usr/sbin/ip", "netns", "exec", namespace])
        func nft(_ command: String) throws { try run("/usr/sbin/ip", ["netns", "exec", namespace, "nft", command]) }
        let block = {
            try nft("add table inet f2ftest")
            try nft("add chain inet f2ftest input { type filter hook input priority 0 ; }")
            try nft("add rule inet f2ftest input udp dport \(port) drop")
        }
        return (a, b, block, { try nft("delete table inet f2ftest") })
    }

    @Test func blockedUDPFallsBackToTCPAndComesBack() throws {
        let namespace = "f2f-udp-\(getpid())"
        defer { try? run("/usr/sbin/ip", ["netns", "del", namespace]) }
        guard let (a, b, blockUDP, unblockUDP) = try linkedOverA1500BytePath(namespace) else { return }
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        try waitUntil(timeout: .seconds(5), "the link to take UDP") { try b.peerPathLine().hasPrefix(" path udp") }
        for tag in 0..<5 {
            let frame = onB.frame(to: .broadcast, size: 1514, tag: UInt8(tag))
            try onB.send(frame)
            #expect(try onA.receive() == frame, "a full-size frame crosses the 1500-byte path over UDP")
        }
        let sent = try b.peerPathLine()
        #expect(sent.hasPrefix(" path udp") && !sent.contains("fragments in 0 out 0 ") && sent.contains("send-failures 0"), "\(sent)")
        try blockUDP()
        try waitUntil(timeout: .seconds(10), "both ends to fall back to TCP") {
            try a.peerPathLine().hasPrefix(" path tcp") && b.peerPathLine().hasPrefix(" path tcp")
        }
        #expect(try a.establishedPeerCount() == 1, "the link itself stays")
        for tag in 0..<10 {
            let frame = onB.frame(to: .broadcast, size: 1514, tag: UInt8(tag))
            try onB.send(frame)
            #expect(try onA.receive() == frame)
        }
        try unblockUDP()
        try waitUntil(timeout: .seconds(20), "UDP to be taken again") {
            try a.peerPathLine().hasPrefix(" path udp") && b.peerPathLine().hasPrefix(" path udp")
        }
        let frame = onA.frame(to: .broadcast, size: 600, tag: 99)
        try onA.send(frame)
        #expect(try onB.receive() == frame)
        try b.stop()
        try a.stop()
    }

    /// An IPv4 TCP SYN from `source` to `destination` announcing MSS 1460, with a valid
    /// checksum (the fixture `TCPMSSClampTests` checks against, its MAC addresses replaced).
    private func syn(from source: TestClient, to destination: TestClient) -> [UInt8] {
        var frame = Fixture.bytes("ethernet/tcp-syn-ipv4-mss1460.hex")
        frame.replaceSubrange(0..<6, with: destination.mac.octets)
        frame.replaceSubrange(6..<12, with: source.mac.octets)
        return frame
    }

    /// The MSS a SYN frame (as `syn` builds it) announces, and whether its TCP checksum holds.
    private func announcedMSS(_ frame: [UInt8]) -> (mss: Int, checksumHolds: Bool) {
        let tcp = 34
        var sum = 0
        for word in stride(from: 26, to: 34, by: 2) { sum += Int(frame[word]) << 8 | Int(frame[word + 1]) }  // addresses
        sum += 6 + (frame.count - tcp)  // protocol, TCP length
        for word in stride(from: tcp, to: frame.count, by: 2) { sum += Int(frame[word]) << 8 | Int(frame[word + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return (Int(frame[tcp + 22]) << 8 | Int(frame[tcp + 23]), sum == 0xFFFF)
    }

    /// Guests' TCP is told to send segments that fit one datagram of a 1500-byte path, with
    /// room for a routed frame's mesh header: 1440 − 3 − 9 − 14 − 40 = 1374. That holds for a
    /// SYN that crosses as a routed frame (the two stations known) over UDP, and for one that
    /// crosses the TCP link during a fallback, whose connection would otherwise send two
    /// datagrams per segment once UDP is back.
    @Test func synsAreClampedForOneDatagramOverUDPAndOverTheTCPFallback() throws {
        let namespace = "f2f-mss-\(getpid())"
        defer { try? run("/usr/sbin/ip", ["netns", "del", namespace]) }
        guard let (a, b, blockUDP, _) = try linkedOverA1500BytePath(namespace) else { return }
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        try waitUntil(timeout: .seconds(10), "the link to take UDP and confirm a 1440-byte payload") {
            try a.peerPathLine().hasSuffix(" payload 1440") && b.peerPathLine().hasSuffix(" payload 1440")
        }
        // Both stations known on both switches, so the SYN may travel as a routed frame.
        for (from, to) in [(onA, onB), (onB, onA)] {
            let hello = from.frame(to: .broadcast, size: 60, tag: 1)
            try from.send(hello)
            #expect(try to.receive() == hello)
        }
        try onA.send(syn(from: onA, to: onB))
        let overUDP = try #require(try onB.receive(), "the SYN crossed over UDP")
        #expect(announcedMSS(overUDP).mss == 1374 && announcedMSS(overUDP).checksumHolds, "\(announcedMSS(overUDP))")

        try blockUDP()
        try waitUntil(timeout: .seconds(10), "both ends to fall back to TCP") {
            try a.peerPathLine().hasPrefix(" path tcp") && b.peerPathLine().hasPrefix(" path tcp")
        }
        try onB.send(syn(from: onB, to: onA))
        let overTCP = try #require(try onA.receive(), "the SYN crossed over the TCP link")
        #expect(announcedMSS(overTCP).mss == 1374 && announcedMSS(overTCP).checksumHolds, "\(announcedMSS(overTCP))")
        try b.stop()
        try a.stop()
    }

    @Test func aFriendWithoutUDPKeepsTheLinkOnTCP() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0))
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port), "--no-udp"] + friends.member(1))
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        let onA = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        let onB = try TestClient(b.socketDirectory, mac: "02:00:00:00:0b:01")
        Thread.sleep(forTimeInterval: 0.5)  // time enough for UDP to be taken, were it offered
        for tag in 0..<5 {
            let frame = onA.frame(to: .broadcast, size: 800, tag: UInt8(tag))
            try onA.send(frame)
            #expect(try onB.receive() == frame)
        }
        let onTheUDPSide = try a.peerPathLine()
        #expect(onTheUDPSide.hasPrefix(" path tcp udp - "), "no offer from b, so no UDP endpoint: \(onTheUDPSide)")
        #expect(try b.peerPathLine() == " path tcp")
        try b.stop()
        try a.stop()
    }

    private func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("\(executable) \(arguments.joined(separator: " ")) failed") }
    }
}

/// The UDP payloads of a pcap file captured on `lo` (Ethernet framing, IPv4).
enum UDPCapture {
    static func payloads(_ file: [UInt8]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var offset = 24  // global header
        while offset + 16 <= file.count {
            let length = Int(file[offset + 8]) | Int(file[offset + 9]) << 8 | Int(file[offset + 10]) << 16 | Int(file[offset + 11]) << 24
            let start = offset + 16
            offset = start + length
            guard offset <= file.count, length > 14 + 20 + 8 else { continue }
            let packet = Array(file[start..<offset])
            guard packet[12] == 0x08, packet[13] == 0x00, packet[14 + 9] == 17 else { continue }
            let ipHeader = Int(packet[14] & 0x0F) * 4
            let udp = 14 + ipHeader
            result.append(Array(packet[(udp + 8)...]))
        }
        return result
    }
}
