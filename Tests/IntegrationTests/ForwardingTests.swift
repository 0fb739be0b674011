import EthernetSwitch
import Foundation
import Glibc
import Testing

/// Real f2f-switch process, real libvdeplug clients.
@Suite(.serialized) struct ForwardingTests {
    @Test func broadcastReachesEveryOtherPortByteIdenticalAndIsNotEchoed() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        let c = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0c")

        let broadcast = a.frame(to: .broadcast, size: 60, tag: 1)
        try a.send(broadcast)
        #expect(try b.receive() == broadcast)
        #expect(try c.receive() == broadcast)

        // Barrier: once C's marker reaches A, anything echoed to A would have come first.
        let marker = c.frame(to: .broadcast, tag: 99)
        try c.send(marker)
        #expect(try a.framesBefore(marker).isEmpty)
        #expect(try b.framesBefore(marker).isEmpty)
        try sw.stop()
    }

    @Test func unknownUnicastFloodsLearnedUnicastGoesOnlyToItsPort() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        let c = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0c")

        // B is unknown: flooded to B and C.
        let toB = a.frame(to: b.mac, tag: 1)
        try a.send(toB)
        #expect(try b.receive() == toB)
        #expect(try c.receive() == toB)

        // B answers A: A is known now, so only A gets it.
        let toA = b.frame(to: a.mac, tag: 2)
        try b.send(toA)
        #expect(try a.receive() == toA)
        // And now B is known too.
        let toBAgain = a.frame(to: b.mac, tag: 3)
        try a.send(toBAgain)
        #expect(try b.receive() == toBAgain)

        let marker = a.frame(to: .broadcast, tag: 99)
        try a.send(marker)
        #expect(try c.framesBefore(marker).isEmpty, "C must not see learned unicast between A and B")

        let table = try sw.command("hash/print").data
        #expect(table.contains { $0.contains("Addr: 02:00:00:00:00:0a") && $0.contains("to port: 001") })
        #expect(table.contains { $0.contains("Addr: 02:00:00:00:00:0b") && $0.contains("to port: 002") })
        try sw.stop()
    }

    @Test(arguments: [60, 1514, 9000, 9234])
    func framesPassIntact(size: Int) throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        let frame = a.frame(to: .broadcast, size: size, tag: UInt8(truncatingIfNeeded: size))
        try a.send(frame)
        let received = try #require(try b.receive())
        #expect(received.count == size)
        #expect(received == frame)
        try sw.stop()
    }

    @Test func runtsAndOversizeFramesAreDroppedAndCounted() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        try a.send(Array(a.frame(to: .broadcast).prefix(13)))
        try a.send(a.frame(to: .broadcast, size: 9235))
        let marker = a.frame(to: .broadcast, tag: 7)
        try a.send(marker)
        #expect(try b.framesBefore(marker).isEmpty)

        let port = try sw.command("port/print 1").data
        let drops = try #require(port.first { $0.hasPrefix(" DROP:") })
        #expect(drops.contains("runt 1"))
        #expect(drops.contains("oversize 1"))
        #expect(port.contains { $0.hasPrefix(" IN:  pkts          1 ") })
        try sw.stop()
    }

    @Test func smallerMaximumFrameIsEnforced() throws {
        let sw = try SwitchProcess(arguments: ["--max-frame", "1518"])
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        try a.send(a.frame(to: .broadcast, size: 1519))
        let largest = a.frame(to: .broadcast, size: 1518)
        try a.send(largest)
        #expect(try b.receive() == largest)
        try sw.stop()
    }

    @Test func burstToASlowReaderIsQueuedNotDropped() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        // B does not read while A sends a burst of 200 full-size frames.
        let frames = (0..<200).map { a.frame(to: .broadcast, size: 1514, tag: UInt8($0)) }
        for frame in frames { try a.send(frame) }
        var received: [[UInt8]] = []
        while let frame = try b.receive(timeout: .seconds(2)) {
            received.append(frame)
            if received.count == frames.count { break }
        }
        #expect(received == frames)
        try sw.stop()
    }
}
