import EthernetSwitch
import Foundation
import Glibc
import Testing

/// `--stream` and `--dgram`: ports for QEMU builds without VDE, against a real switch and a
/// real libvdeplug client.
@Suite(.serialized) struct QEMUStreamDgramTests {
    /// Frames both ways between a stream client and a VDE client, byte-identical.
    private func exchange(_ stream: StreamTestClient, with vde: TestClient, tag: UInt8 = 1) throws {
        let broadcast = stream.frame(to: .broadcast, size: 60, tag: tag)
        try stream.send(broadcast)
        #expect(try vde.receive() == broadcast)
        let reply = vde.frame(to: stream.mac, size: 1514, tag: tag &+ 1)
        try vde.send(reply)
        #expect(stream.receive() == reply)
        let unicast = stream.frame(to: vde.mac, size: 1000, tag: tag &+ 2)
        try stream.send(unicast)
        #expect(try vde.receive() == unicast)
    }

    @Test func unixStreamConnectionIsAPortAndAReconnectGetsANewOne() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let path = work + "/qemu.stream"
        let sw = try SwitchProcess(arguments: ["--stream", path])
        let vde = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        var stream: StreamTestClient? = try StreamTestClient(unixPath: path, mac: "02:00:00:00:00:51")
        try exchange(stream!, with: vde)
        let ports = try sw.command("port/print").data.joined(separator: "\n")
        #expect(ports.contains("stream unix"))
        // The connection closes: its port goes; a new connection works on a fresh port.
        stream = nil
        try waitUntil(timeout: .seconds(5), "stream port to go") {
            !(try sw.command("port/print").data.joined(separator: "\n").contains("stream unix"))
        }
        let again = try StreamTestClient(unixPath: path, mac: "02:00:00:00:00:52")
        try exchange(again, with: vde, tag: 10)
        let log = try sw.stop().log
        #expect(!FileManager.default.fileExists(atPath: path), "the stream socket is removed at shutdown")
        #expect(log.contains("accepting QEMU stream connections"))
    }

    @Test func tcpStreamOnLoopbackByDefault() throws {
        let port = try TCPPorts.free()
        let sw = try SwitchProcess(arguments: ["--stream", String(port)])
        let vde = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let stream = try StreamTestClient(tcpPort: port, mac: "02:00:00:00:00:53")
        try exchange(stream, with: vde)
        let ports = try sw.command("port/print").data.joined(separator: "\n")
        #expect(ports.contains("stream tcp"))
        #expect(ports.contains("stream 127.0.0.1:\(port) from 127.0.0.1:"), "\(ports)")
        try sw.stop()
    }

    /// A length of zero or over the frame size cuts off that connection only; it is counted
    /// (logged), and the switch and the other connections go on.
    @Test(arguments: [UInt32(0), UInt32(9235), UInt32(0xFFFF_FFFF)])
    func badLengthCutsOnlyThatConnection(length: UInt32) throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let path = work + "/qemu.stream"
        let sw = try SwitchProcess(arguments: ["--stream", path])
        let vde = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let good = try StreamTestClient(unixPath: path, mac: "02:00:00:00:00:54")
        let bad = try StreamTestClient(unixPath: path, mac: "02:00:00:00:00:55")
        try exchange(good, with: vde)
        try bad.sendRaw([UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + [UInt8](repeating: 0xAB, count: 64))
        #expect(bad.isClosedBySwitch(), "the switch cuts off a connection with length \(length)")
        try exchange(good, with: vde, tag: 20)
        #expect(sw.isRunning)
        let log = try sw.stop().log
        #expect(log.contains("stream connection cut off: bad frame length"))
        #expect(log.contains("length=\(length)"))
    }

    @Test func datagramPortAnswersItsSender() throws {
        let port = try DatagramPortSwitch()
        defer { port.removeWorkDirectory() }
        let (sw, vde, path) = (port.sw, port.vde, port.path)
        let dgram = try port.guest("guest.dgram", mac: "02:00:00:00:00:56")
        let broadcast = dgram.frame(to: .broadcast, size: 60, tag: 1)
        try dgram.send(broadcast)
        #expect(try vde.receive() == broadcast)
        let reply = vde.frame(to: dgram.mac, size: 1514, tag: 2)
        try vde.send(reply)
        #expect(dgram.receive() == reply)
        let unicast = dgram.frame(to: vde.mac, size: 1000, tag: 3)
        try dgram.send(unicast)
        #expect(try vde.receive() == unicast)
        // An oversize datagram is dropped and counted; the port goes on.
        try dgram.send(dgram.frame(to: vde.mac, size: 9300, tag: 4))
        let after = dgram.frame(to: vde.mac, size: 100, tag: 5)
        try dgram.send(after)
        #expect(try vde.receive() == after)
        #expect(try sw.command("port/print").data.joined(separator: "\n").contains("dgram unix"))
        try sw.stop()
        #expect(!FileManager.default.fileExists(atPath: path), "the dgram socket is removed at shutdown")
    }

    /// QEMU's dgram netdev never connects its socket: it names the switch's in every datagram.
    /// The kernel holds such a sender to the receiving socket's queue limit
    /// (net.unix.max_dgram_qlen, 10 on many hosts: a wait for every tenth frame) unless the
    /// receiving socket is connected back to it, which the switch does when it learns its
    /// guest. So a burst sent while the switch is not reading at all (stopped) queues whole,
    /// up to the guest's own send buffer, and is then forwarded in order.
    @Test func anUnconnectedGuestIsNotHeldToTheDatagramQueueLimit() throws {
        let port = try DatagramPortSwitch()
        defer { port.removeWorkDirectory() }
        let (sw, vde) = (port.sw, port.vde)
        let dgram = try port.guest("guest.dgram", mac: "02:00:00:00:00:5a")
        var sendBuffer: Int32 = 4 << 20
        if setsockopt(dgram.fd, SOL_SOCKET, SO_SNDBUFFORCE, &sendBuffer, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = setsockopt(dgram.fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
        }
        let queueLimit = Int((try? String(contentsOfFile: "/proc/sys/net/unix/max_dgram_qlen", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "10") ?? 10
        let burst = queueLimit + 30
        // The switch learns (and connects to) its guest before it forwards the first frame.
        try dgram.send(dgram.frame(to: .broadcast, tag: 1))
        #expect(try vde.receive() == dgram.frame(to: .broadcast, tag: 1))

        sw.signal(SIGSTOP)
        var accepted = 0
        while accepted < burst, try dgram.trySend(dgram.frame(to: vde.mac, size: 60, tag: UInt8(truncatingIfNeeded: accepted))) {
            accepted += 1
        }
        sw.signal(SIGCONT)
        #expect(accepted == burst, "the kernel took \(accepted) of \(burst) datagrams (queue limit \(queueLimit))")
        for index in 0..<accepted {
            let expected = dgram.frame(to: vde.mac, size: 60, tag: UInt8(truncatingIfNeeded: index))
            guard try vde.receive() == expected else {
                Issue.record("frame \(index) of the burst missing or out of order")
                break
            }
        }
        try sw.stop()
    }

    /// The guest restarts (a new socket at a new path): the switch answers the new sender.
    @Test func datagramPortFollowsANewSender() throws {
        let port = try DatagramPortSwitch()
        defer { port.removeWorkDirectory() }
        let (sw, vde) = (port.sw, port.vde)
        var first: DatagramTestClient? = try port.guest("g1", mac: "02:00:00:00:00:57")
        try first!.send(first!.frame(to: .broadcast))
        #expect(try vde.receive() != nil)
        first = nil
        // The switch still points at the dead socket until its next send fails.
        try vde.send(vde.frame(to: .broadcast, tag: 7))
        let second = try port.guest("g2", mac: "02:00:00:00:00:58")
        try waitUntil(timeout: .seconds(5), "the switch to take the new sender") {
            (try? second.send(second.frame(to: .broadcast, tag: 8))) != nil
        }
        #expect(try vde.receive() == second.frame(to: .broadcast, tag: 8))
        let reply = vde.frame(to: second.mac, tag: 9)
        try vde.send(reply)
        #expect(second.receive() == reply)
        try sw.stop()
    }

    /// A guest on a stream port that sends faster than a VDE client reads is slowed down (the
    /// switch stops reading its connection), and nothing is dropped inside the switch.
    @Test func streamSenderBehindASlowReceiverIsPausedAndLosesNothing() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let path = work + "/qemu.stream"
        // Tiny data-socket buffers make the reader's socket refuse frames almost at once; a
        // generous stall timeout keeps a slow machine from counting the reader as stalled.
        let sw = try SwitchProcess(arguments: ["--sndbuf", "4096", "--stall-timeout", "2", "--stream", path])
        let reader = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")  // port 1
        let stream = try StreamTestClient(unixPath: path, mac: "02:00:00:00:00:59")  // port 2
        let hello = reader.frame(to: stream.mac, tag: 0xEE)
        try reader.send(hello)
        #expect(stream.receive() == hello)

        let frames = (0..<3000).map { index -> [UInt8] in
            var frame = stream.frame(to: reader.mac, size: 1000)
            frame[14] = UInt8(truncatingIfNeeded: index >> 8)
            frame[15] = UInt8(truncatingIfNeeded: index)
            return frame
        }
        let bytes = frames.flatMap(StreamTestClient.framed)
        stream.setNonBlocking()
        var offset = 0
        var received: [[UInt8]] = []
        while received.count < frames.count {
            while offset < bytes.count {
                let written = try stream.tryWrite(bytes[offset...])
                if written == 0 { break }
                offset += written
            }
            for _ in 0..<8 {
                guard let frame = try reader.receive(timeout: .seconds(5)) else {
                    throw TestFailure("the reader got \(received.count) of \(frames.count) frames, then nothing")
                }
                received.append(frame)
                if received.count == frames.count { break }
            }
        }
        #expect(received == frames)
        let toReader = try sw.command("port/print 1").data
        #expect(toReader.contains { $0.hasPrefix(" DROP:") && $0.contains("queue-full 0 ") }, "\(toReader)")
        let streamPort = try sw.command("port/print 2").data
        let paused = streamPort.first { $0.hasPrefix(" PAUSED:") }.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
        #expect(paused > 0, "\(streamPort)")
        try sw.stop()
    }

    /// A symbolic link planted under the --stream or --dgram name is replaced by the socket,
    /// never followed: what it points to stays as it was.
    @Test func aPlantedLinkIsReplacedNotFollowed() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let target = work + "/precious"
        try Array("keep me".utf8).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: target)) }
        let streamPath = work + "/qemu.stream"
        let dgramPath = work + "/qemu.dgram"
        try FileManager.default.createSymbolicLink(atPath: streamPath, withDestinationPath: target)
        try FileManager.default.createSymbolicLink(atPath: dgramPath, withDestinationPath: target)
        let sw = try SwitchProcess(arguments: ["--stream", streamPath, "--dgram", dgramPath])
        try waitUntil(timeout: .seconds(5), "both sockets") {
            var status = stat()
            return lstat(streamPath, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK
                && lstat(dgramPath, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK
        }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me")
        let vde = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let stream = try StreamTestClient(unixPath: streamPath, mac: "02:00:00:00:00:5a")
        try exchange(stream, with: vde)
        try sw.stop()
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me")
    }
}

/// A switch with a `--dgram` port in a fresh directory, and a VDE client on it: the guests'
/// peer in the datagram port tests.
private struct DatagramPortSwitch {
    let work: String
    let path: String
    let sw: SwitchProcess
    let vde: TestClient

    init() throws {
        work = try TemporaryDirectory.make()
        path = work + "/qemu.dgram"
        sw = try SwitchProcess(arguments: ["--dgram", path])
        vde = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
    }

    /// A guest socket named `name` in the work directory, sending to the port.
    func guest(_ name: String, mac: String) throws -> DatagramTestClient {
        try DatagramTestClient(path: work + "/" + name, switchPath: path, mac: mac)
    }

    func removeWorkDirectory() {
        try? FileManager.default.removeItem(atPath: work)
    }
}
