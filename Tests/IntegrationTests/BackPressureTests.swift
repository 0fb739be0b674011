import EthernetSwitch
import Glibc
import Testing

/// A client whose receiver lags is slowed down (its frames wait in its own socket) instead
/// of having frames dropped inside the switch; a receiver that stops reading for good is
/// given up on, so nobody else waits for it. A friend link is the exception: frames for it
/// wait in its CoDel queue, never in a paused sender's socket.
@Suite(.serialized) struct BackPressureTests {
    /// Tiny data-socket buffers make the receiver's socket refuse frames almost at once; a
    /// generous stall timeout keeps a slow test machine from counting the reader as stalled.
    private let arguments = ["--sndbuf", "4096", "--stall-timeout", "2"]

    @Test func slowReceiverLosesNothing() throws {
        let sw = try SwitchProcess(arguments: arguments)
        let (a, b) = try senderAndReader(sw.socketDirectory, sw.socketDirectory)

        let frames = (0..<3000).map { numbered(a.frame(to: b.mac, size: 1000), $0) }
        #expect(try deliver(frames, from: a, toSlowReader: b) == frames)
        let toB = try sw.command("port/print 2").data
        #expect(toB.contains { $0.hasPrefix(" DROP:") && $0.contains("queue-full 0 ") })
        #expect(pauses(try sw.command("port/print 1").data) > 0)
        #expect(try sw.command("limits/print").data.contains { $0.contains("senders paused") && !$0.contains("senders paused 0 ") })
        try sw.stop()
    }

    /// `--port-queue 0` is vde_switch's behaviour: nothing waits, nobody is paused, frames a
    /// busy receiver cannot take are dropped and counted.
    @Test func withoutAPortQueueFramesAreDroppedAndNobodyIsPaused() throws {
        let sw = try SwitchProcess(arguments: ["--sndbuf", "4096", "--port-queue", "0"])
        let (a, b) = try senderAndReader(sw.socketDirectory, sw.socketDirectory)
        let c = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0c")
        try learn(c, by: a)

        // B never reads; the switch still takes every frame A sends.
        for index in 0..<2000 {
            try a.sendWhenWritable(numbered(a.frame(to: b.mac, size: 1000), index), timeout: .seconds(5))
        }
        // A frame for C, sent last, arrives: everything before it was switched.
        let toC = a.frame(to: c.mac, size: 100, tag: 0xC0)
        try a.sendWhenWritable(toC, timeout: .seconds(5))
        #expect(try c.receive(timeout: .seconds(5)) == toC)
        let dropLine = try sw.command("port/print 2").data.first { $0.hasPrefix(" DROP:") } ?? ""
        #expect(!dropLine.contains("queue-full 0 ") && dropLine.contains("queue-full "), "\(dropLine)")
        #expect(pauses(try sw.command("port/print 1").data) == 0)
        try sw.stop()
    }

    @Test func stalledReceiverDoesNotHoldUpOthers() throws {
        let sw = try SwitchProcess(arguments: ["--sndbuf", "4096"])  // the default 0.1 s stall timeout
        let (a, b) = try senderAndReader(sw.socketDirectory, sw.socketDirectory)
        let c = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0c")
        try learn(c, by: a)

        // B never reads: A fills B's socket and the switch's queue for B, then gets paused.
        var index = 0
        while try a.trySend(numbered(a.frame(to: b.mac, size: 1000), index)) { index += 1 }
        #expect(index > 0)

        // Once B counts as stalled, A is read again and its frame for C gets through.
        let toC = a.frame(to: c.mac, size: 100, tag: 0xC0)
        try a.sendWhenWritable(toC, timeout: .seconds(5))
        var arrived = false
        while let frame = try c.receive(timeout: .seconds(5)) {
            if frame == toC { arrived = true; break }
        }
        #expect(arrived)
        #expect(pauses(try sw.command("port/print 1").data) > 0)
        try sw.stop()
    }

    @Test func slowReceiverBehindAPeerLinkMeetsAShortQueue() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        // Lossless back-pressure is the TCP link's: over UDP frames are dropped, not held (the
        // guests' TCP repairs the loss), so this link keeps frames on TCP.
        let near = try SwitchProcess(arguments: arguments + ["--listen", "127.0.0.1:\(port)", "--no-udp"] + friends.member(0))
        let far = try SwitchProcess(arguments: arguments + ["--peer", friends.pinned(0, port: port), "--no-udp"] + friends.member(1))
        try near.waitForPeers(1)
        try far.waitForPeers(1)
        let (a, b) = try senderAndReader(near.socketDirectory, far.socketDirectory)

        // The far switch cannot hand B the frames as fast as they come over the link: it stops
        // reading the link and TCP backs up. The near switch does not pause A for that (A's
        // frames would only wait in A's socket, in front of everything else A sends): they wait
        // in the link's queue, which drops rather than let them wait long.
        let frames = (0..<20_000).map { numbered(a.frame(to: b.mac, size: 1400), $0) }
        let received = try deliverWhatComes(frames, from: a, toSlowReader: b)
        #expect(!received.isEmpty && received.count < frames.count)
        #expect(isInOrder(received, of: frames))
        #expect(pauses(try far.command("port/print 1").data) > 0)
        #expect(pauses(try near.command("port/print 2").data) == 0)
        // A flood without congestion control fills the ring before CoDel's interval is over:
        // most of it is dropped at the tail, the rest at the head once it waited too long.
        let link = try near.command("port/print 1").data
        #expect(dropped("queue-full", link) + dropped("queue-delay", link) > 0)
        #expect(dropped("queue-full", link) >= 0 && dropped("queue-delay", link) >= 0)
        try far.stop()
        try near.stop()
    }

    @Test func slowReceiverBehindAPlugPortLosesNothing() throws {
        // The far switch takes the near one's cable on a client port: --client-root lets it lead
        // to the root, which it must whenever the near switch has the better bridge id.
        let far = try SwitchProcess(arguments: arguments + ["--client-root"])
        let near = try SwitchProcess(arguments: arguments + ["--plug", "vde://" + far.socketDirectory])
        // The console answers before the plug is cabled: a frame sent earlier would be lost.
        try waitUntil(timeout: .seconds(5), "the plug to be attached at both ends") {
            try near.command("port/print 1").status == "1000 Success" && far.command("port/print 1").status == "1000 Success"
        }
        let (a, b) = try senderAndReader(far.socketDirectory, near.socketDirectory)

        // The near switch stops reading its plug (port 1): the frames wait in the plug's
        // socket, the far switch's port for the plug (its port 1) backs up and A is paused.
        let frames = (0..<3000).map { numbered(a.frame(to: b.mac, size: 1000), $0) }
        #expect(try deliver(frames, from: a, toSlowReader: b) == frames)
        #expect(pauses(try near.command("port/print 1").data) > 0)
        #expect(pauses(try far.command("port/print 2").data) > 0)
        try near.stop()
        try far.stop()
    }

    /// A sends as fast as the switch takes its frames; B reads a few per round: slower than A
    /// sends, but never stopped. Returns what B got.
    private func deliver(_ frames: [[UInt8]], from a: TestClient, toSlowReader b: TestClient) throws -> [[UInt8]] {
        var sent = 0
        var received: [[UInt8]] = []
        while received.count < frames.count {
            while sent < frames.count, try a.trySend(frames[sent]) { sent += 1 }
            for _ in 0..<8 {
                guard let frame = try b.receive(timeout: .seconds(5)) else {
                    throw TestFailure("B got \(received.count) of \(frames.count) frames, then nothing")
                }
                received.append(frame)
                if received.count == frames.count { break }
            }
        }
        return received
    }

    /// A sends everything as fast as the switch takes it while B reads a few frames per round;
    /// then B reads until nothing comes for a second. Returns what B got.
    private func deliverWhatComes(_ frames: [[UInt8]], from a: TestClient, toSlowReader b: TestClient) throws -> [[UInt8]] {
        var sent = 0
        var received: [[UInt8]] = []
        while sent < frames.count {
            while sent < frames.count, try a.trySend(frames[sent]) { sent += 1 }
            for _ in 0..<8 {
                guard let frame = try b.receive(timeout: .seconds(1)) else { break }
                received.append(frame)
            }
        }
        while let frame = try b.receive(timeout: .seconds(1)) { received.append(frame) }
        return received
    }

    /// Every received frame is one of `frames` (by its sequence number), each after the one before.
    private func isInOrder(_ received: [[UInt8]], of frames: [[UInt8]]) -> Bool {
        var previous = -1
        for frame in received {
            let number = Int(frame[14]) << 8 | Int(frame[15])
            guard number > previous, number < frames.count, frames[number] == frame else { return false }
            previous = number
        }
        return true
    }

    private func dropped(_ reason: String, _ portLines: [String]) -> Int {
        guard let line = portLines.first(where: { $0.hasPrefix(" DROP:") }) else { return -1 }
        let words = line.split(separator: " ")
        guard let index = words.firstIndex(where: { $0 == reason }), index + 1 < words.count else { return -1 }
        return Int(words[index + 1]) ?? -1
    }

    /// A non-blocking sender A and a reader B whose address the switches have learned.
    private func senderAndReader(_ senderDirectory: String, _ readerDirectory: String) throws -> (TestClient, TestClient) {
        let a = try TestClient(senderDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(readerDirectory, mac: "02:00:00:00:00:0b")
        try learn(b, by: a)
        a.connection.setNonBlocking()
        return (a, b)
    }

    /// `learner` sends a frame to `peer`, so the switch knows its port; `peer` consumes it.
    private func learn(_ learner: TestClient, by peer: TestClient) throws {
        let hello = learner.frame(to: peer.mac, size: 60, tag: 0xEE)
        try learner.send(hello)
        guard try peer.receive() == hello else { throw TestFailure("learning frame lost") }
    }

    /// The frame with its sequence number in the first two payload bytes.
    private func numbered(_ frame: [UInt8], _ number: Int) -> [UInt8] {
        precondition(number < 1 << 16, "two bytes of sequence number")
        var frame = frame
        frame[14] = UInt8(truncatingIfNeeded: number >> 8)
        frame[15] = UInt8(truncatingIfNeeded: number)
        return frame
    }

    private func pauses(_ portLines: [String]) -> Int {
        guard let line = portLines.first(where: { $0.hasPrefix(" PAUSED:") }) else { return -1 }
        return Int(line.split(separator: " ")[1]) ?? -1
    }
}

extension TestClient {
    /// Sends on a non-blocking connection; false when the socket is full.
    func trySend(_ frame: [UInt8]) throws -> Bool {
        switch try connection.send(frame) {
        case .wouldBlock: return false
        case .processed(let count) where count == frame.count: return true
        case .processed: throw TestFailure("short send")
        }
    }

    func sendWhenWritable(_ frame: [UInt8], timeout: Duration) throws {
        var poller = pollfd(fd: connection.dataDescriptor, events: Int16(POLLOUT), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000)
        guard poll(&poller, 1, milliseconds) > 0, try trySend(frame) else {
            throw TestFailure("the switch did not read from this client again within \(timeout)")
        }
    }
}
