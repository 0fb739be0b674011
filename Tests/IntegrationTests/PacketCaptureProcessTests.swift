import EthernetSwitch
import Foundation
import Glibc
import Testing

/// `pcap/start` and `f2f-switch capture`: a ping between two real clients, captured on one
/// port, read back by tcpdump from the file and from the capture command's standard output.
@Suite(.serialized) struct PacketCaptureProcessTests {
    /// An ICMP echo request (type 8) or reply (0) from `source` to `destination`, 10.0.0.x.
    static func echo(from source: TestClient, _ sourceHost: UInt8, to destination: MACAddress, _ destinationHost: UInt8, reply: Bool) -> [UInt8] {
        var frame: [UInt8] = []
        EthernetHeader(destination: destination, source: source.mac, etherType: 0x0800).encode(into: &frame)
        var icmp: [UInt8] = [reply ? 0 : 8, 0, 0, 0, 0x12, 0x34, 0, 1] + Array("f2f-switch capture test".utf8)
        let icmpSum = checksum(icmp)
        icmp[2] = UInt8(icmpSum >> 8)
        icmp[3] = UInt8(icmpSum & 0xFF)
        var ip: [UInt8] = [0x45, 0, 0, UInt8(20 + icmp.count), 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, sourceHost, 10, 0, 0, destinationHost]
        let ipSum = checksum(ip)
        ip[10] = UInt8(ipSum >> 8)
        ip[11] = UInt8(ipSum & 0xFF)
        frame += ip + icmp
        while frame.count < 60 { frame.append(0) }
        return frame
    }

    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        for index in stride(from: 0, to: bytes.count, by: 2) {
            sum += UInt32(bytes[index]) << 8 | UInt32(index + 1 < bytes.count ? bytes[index + 1] : 0)
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// a (port 1, 10.0.0.1) pings b (port 2, 10.0.0.2) and b answers.
    static func ping(_ a: TestClient, _ b: TestClient) throws {
        let request = echo(from: a, 1, to: b.mac, 2, reply: false)
        try a.send(request)
        #expect(try b.receive() == request)
        let reply = echo(from: b, 2, to: a.mac, 1, reply: true)
        try b.send(reply)
        #expect(try a.receive() == reply)
    }

    @Test func aPingCapturedToAFileReadsBackInTcpdump() throws {
        let sw = try SwitchProcess(arguments: ["--no-stp"])  // no hellos in the file
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        let path = sw.workDirectory + "/port1.pcap"
        #expect(try sw.command("pcap/start 1 \(path)").status == "1000 Success")
        #expect(try sw.command("pcap/start 1 \(sw.workDirectory)/again.pcap").status.hasPrefix("1098 "), "one capture per port")
        #expect(try sw.command("pcap/start 2 \(path)").status.hasPrefix("1017 "), "an existing file is never overwritten")
        try Self.ping(a, b)
        let print = try sw.command("pcap/print").data
        #expect(print.contains { $0.hasPrefix("Port 1 \(path) recording frames 2 ") })
        #expect(try sw.command("pcap/stop 1").status == "1000 Success")
        #expect(try sw.command("pcap/stop 1").status.hasPrefix("1019 "))

        let tcpdump = try ChildProcess("tcpdump", ["-n", "-e", "-r", path])
        let (status, output) = try tcpdump.finish()
        #expect(status == 0, "\(tcpdump.errorText)")
        let lines = output.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.contains("10.0.0.1 > 10.0.0.2: ICMP echo request") == true, "\(output)")
        #expect(lines.last?.contains("10.0.0.2 > 10.0.0.1: ICMP echo reply") == true, "\(output)")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try sw.stop()
    }

    @Test func aCaptureStopsAtItsBound() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        let path = sw.workDirectory + "/bounded.pcap"
        // The file header and one echo frame with its record header.
        let bound = 24 + 16 + Self.echo(from: a, 1, to: b.mac, 2, reply: false).count
        #expect(try sw.command("pcap/start 2 \(path) \(bound)").status == "1000 Success")
        try Self.ping(a, b)
        try Self.ping(a, b)
        try waitUntil(timeout: .seconds(5), "the capture to fill") {
            try sw.command("pcap/print").data.contains { $0.contains(" full frames 1 ") }
        }
        try waitUntil(timeout: .seconds(5), "the capture's file to reach its bound") {
            try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == bound
        }
        try sw.stop()
    }

    @Test func theCaptureCommandStreamsToTcpdump() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        let command = "'\(SwitchProcess.binaryPath)' capture '\(sw.socketDirectory)' 2 | tcpdump -n -r - -c 2 icmp"
        let pipeline = try ChildProcess("/bin/sh", ["-c", command])
        defer { pipeline.terminate() }
        try waitUntil(timeout: .seconds(10), "the capture stream to start") {
            try sw.command("pcap/print").data.contains { $0.hasPrefix("Port 2 stream recording") }
        }
        try Self.ping(a, b)
        try Self.ping(a, b)  // the capture command's write after tcpdump left fails: it ends too
        let (status, output) = try pipeline.finish()
        #expect(status == 0, "\(pipeline.errorText)")
        #expect(output.contains("10.0.0.1 > 10.0.0.2: ICMP echo request"), "\(output)")
        #expect(output.contains("10.0.0.2 > 10.0.0.1: ICMP echo reply"), "\(output)")
        // tcpdump left after two packets; the capture command sees the pipe closed at its next
        // write (this ping), and the switch its stream end.
        try Self.ping(a, b)
        try waitUntil(timeout: .seconds(5), "the stream to end") {
            try sw.command("pcap/print").data.isEmpty
        }
        try Self.ping(a, b)
        try sw.stop()
    }

    @Test func theCaptureCommandRefusesAPortOutOfRangeOrTaken() throws {
        let sw = try SwitchProcess()
        let capture = try ChildProcess(SwitchProcess.binaryPath, ["capture", sw.socketDirectory, "32"])
        let (status, _) = try capture.finish()
        #expect(status == 1)
        #expect(capture.errorText.contains("expected a port number"))
        #expect(try sw.command("pcap/start 5 \(sw.workDirectory)/five.pcap").status == "1000 Success")
        let taken = try ChildProcess(SwitchProcess.binaryPath, ["capture", sw.socketDirectory, "5"])
        #expect(try taken.finish().status == 1)
        #expect(taken.errorText.contains("port 5 is captured already"))
        let mode = try FileManager.default.attributesOfItem(atPath: sw.socketDirectory + "/capture")[.posixPermissions] as? Int
        #expect(mode == 0o600, "only the switch's owner may capture")
        try sw.stop()
    }
}
