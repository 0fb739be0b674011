import EthernetSwitch
import Foundation
import Glibc
import Testing

/// One console write of hundreds of printing commands, from a client that does not read: the
/// switch keeps its memory and its forwarding, and the client gets every answer once it reads.
@Suite(.serialized) struct ConsoleFloodTests {
    private func residentKiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let value = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) })
        else { throw TestFailure("no VmRSS in /proc/\(pid)/status") }
        return value
    }

    /// One frame from `from` to `to` and back; false if either leg is lost.
    private func roundTrip(_ from: TestClient, _ to: TestClient, tag: UInt8) throws -> Bool {
        let out = from.frame(to: to.mac, tag: tag)
        try from.send(out)
        while true {
            guard let frame = try to.receive(timeout: .seconds(5)) else { return false }
            if frame == out { break }
        }
        let back = to.frame(to: from.mac, tag: tag)
        try to.send(back)
        while true {
            guard let frame = try from.receive(timeout: .seconds(5)) else { return false }
            if frame == back { return true }
        }
    }

    @Test func aBurstOfHashPrintsFromAClientThatDoesNotReadStaysBounded() throws {
        let sw = try SwitchProcess(arguments: ["--port-macs", "4096"])
        // 1 000 learned stations: each hash/print answers with about 75 KB.
        let flooder = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0f:00")
        let stationCount = 1000
        func entries() throws -> Int {
            try sw.command("hash/showinfo").data.lazy.filter { $0.hasPrefix("Entries ") }.compactMap { Int($0.dropFirst(8)) }.first ?? 0
        }
        // Datagrams the switch had no room for are sent again: learning is idempotent.
        for _ in 0..<5 where try entries() < stationCount {
            for index in 0..<stationCount {
                var frame = flooder.frame(to: MACAddress(parsing: "02:00:00:00:0e:ee")!)
                frame[9] = UInt8(index >> 8)
                frame[10] = UInt8(index & 0xFF)
                frame[11] = 0x5A
                try flooder.send(frame)
                if index % 100 == 99 { usleep(2000) }
            }
            usleep(200_000)
        }
        #expect(try entries() == stationCount)
        let ping = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0a:01")
        let echo = try TestClient(sw.socketDirectory, mac: "02:00:00:00:0a:02")
        #expect(try roundTrip(ping, echo, tag: 0))
        // The flooder's stations, then the two clients'.
        let learned = try sw.command("hash/print").data.filter { $0.hasPrefix("Hash: ") }.count
        #expect(learned == stationCount + 2)
        let baseline = try residentKiB(sw.pid)

        let console = try sw.console()
        defer { console.close() }
        let commandCount = 372
        let burst = Array(String(repeating: "hash/print\n", count: commandCount).utf8)
        #expect(burst.withUnsafeBytes { send(console.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == burst.count)

        // The console client reads nothing for 3 s; meanwhile frames cross the switch.
        var peak = baseline
        var slowest = Duration.zero
        var trips = 0
        let clock = ContinuousClock()
        let end = clock.now + .seconds(3)
        while clock.now < end {
            let start = clock.now
            #expect(try roundTrip(ping, echo, tag: UInt8(truncatingIfNeeded: trips + 1)), "round trip \(trips) lost")
            slowest = max(slowest, clock.now - start)
            trips += 1
            peak = max(peak, try residentKiB(sw.pid))
            usleep(20_000)
        }
        print("console flood: RSS \(baseline) KiB before, peak \(peak) KiB; \(trips) round trips, slowest \(slowest)")
        #expect(peak - baseline < 8 * 1024, "RSS grew by \(peak - baseline) KiB")
        #expect(slowest < .milliseconds(500), "a round trip took \(slowest)")

        // Now read: every answer arrives whole, each with every learned station.
        var received: [UInt8] = []
        received.reserveCapacity(commandCount * learned * 80)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var successes = 0
        var stationLines = 0
        var lineStart = 0
        let deadline = clock.now + .seconds(60)
        while successes < commandCount, clock.now < deadline {
            var poller = pollfd(fd: console.descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 1000) > 0 else { continue }
            let count = recv(console.descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            received += buffer[..<count]
            // Count whole lines as they complete, without copying them.
            received.withUnsafeBufferPointer { bytes in
                var index = lineStart
                while index < bytes.count {
                    guard let newline = memchr(bytes.baseAddress! + index, 0x0A, bytes.count - index) else { break }
                    let end = UnsafeRawPointer(newline) - UnsafeRawPointer(bytes.baseAddress!)
                    let length = end - index
                    if length >= 6, memcmp(bytes.baseAddress! + index, "Hash: ", 6) == 0 { stationLines += 1 }
                    if length == 12, memcmp(bytes.baseAddress! + index, "1000 Success", 12) == 0 { successes += 1 }
                    index = end + 1
                }
                lineStart = index
            }
        }
        #expect(successes == commandCount)
        #expect(stationLines == commandCount * learned, "\(stationLines) station lines for \(commandCount) × \(learned)")
        #expect(sw.isRunning)
        try sw.stop()
    }
}
