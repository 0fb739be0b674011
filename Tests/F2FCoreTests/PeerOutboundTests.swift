import F2FBase
import F2FCore
import F2FTesting
import Testing

@Suite struct PeerOutboundTests {
    @Test func producersAreAskedInPriorityOrderNotRegistrationOrder() {
        let link = LinkedNodes(connect: false)
        let askLog = QueueProducer.AskLog()
        let bulk = QueueProducer(name: "bulk", askLog: askLog)
        let spanningTree = QueueProducer(name: "stp", askLog: askLog)
        let control = QueueProducer(name: "control", askLog: askLog)
        // Registered lowest priority first.
        link.alpha.addProducer(bulk, priority: .bulk)
        link.alpha.addProducer(spanningTree, priority: .spanningTree)
        link.alpha.addProducer(control, priority: .control)
        bulk.enqueue(.ethernetFrame, payload: [3])
        spanningTree.enqueue(.bpdu, payload: [2])
        control.enqueue(F2FPacketType(rawValue: 0x20), payload: [1])
        link.connect()

        #expect(link.betaListener.entries.packetPayloads == [[1], [2], [3]])
        #expect(link.betaListener.events.dropFirst() == [.packet(F2FPacketType(rawValue: 0x20)), .packet(.bpdu), .packet(.ethernetFrame)])
        // Each free slot asks from the top until someone has a packet. (alpha-bulk, registered
        // by LinkedNodes, has bulk priority too and was registered before `bulk`.)
        #expect(Array(askLog.names.prefix(6)) == ["control", "control", "stp", "control", "stp", "bulk"])
    }

    @Test func aHigherPriorityPacketGoesNextWhileBulkIsInFlight() {
        let link = LinkedNodes()
        let spanningTree = QueueProducer(name: "stp")
        link.alpha.addProducer(spanningTree, priority: .spanningTree)
        // The socket takes 10 bytes until the other side reads: the first frame stalls half-way.
        link.pair.a.bufferLimit = 10
        link.alphaBulk.enqueue(.ethernetFrame, payload: Array(repeating: 0xB1, count: 40))
        link.alphaBulk.enqueue(.ethernetFrame, payload: Array(repeating: 0xB2, count: 40))
        link.alphaPeer.pumpOutbound()
        #expect(link.alphaPeer.slot.isLoaded)
        #expect(link.pair.a.interest.contains(.writable))
        spanningTree.enqueue(.bpdu, payload: [0x57])
        link.pair.pump()

        // The frame in the slot finishes first (no preemption), then the BPDU jumps the queue.
        #expect(link.betaListener.entries.packetPayloads == [Array(repeating: 0xB1, count: 40), [0x57], Array(repeating: 0xB2, count: 40)])
        #expect(!link.pair.a.interest.contains(.writable))
    }

    @Test func packetsWrittenWithoutFlushAreFlushedByTheNextPump() {
        let link = LinkedNodes()
        let flushes = link.pair.a.flushCount
        // A switch batch: the frame goes into the slot and out without a flush ...
        [UInt8(7)].withUnsafeBytes { link.alphaPeer.slot.load(.ethernetFrame, payload: $0) }
        link.alphaPeer.pumpOutbound(flush: false)
        #expect(link.pair.a.flushCount == flushes)
        // ... and the batch's closing pump has nothing new to write, but must still flush.
        link.alphaPeer.pumpOutbound()
        #expect(link.pair.a.flushCount == flushes + 1)
        link.alphaPeer.pumpOutbound()
        #expect(link.pair.a.flushCount == flushes + 1, "nothing left to flush")
    }

    @Test func writableIsAnnouncedAfterEachPacket() {
        let link = LinkedNodes()
        link.alphaListener.recordsWritable = true
        link.alphaBulk.enqueue(.ethernetFrame, payload: [1])
        link.alphaBulk.enqueue(.ethernetFrame, payload: [2])
        link.alphaPeer.pumpOutbound()
        #expect(link.alphaListener.events == [.connected, .writable, .writable])
        #expect(link.pair.a.flushCount >= 1)
        #expect(link.alphaPeer.counters.packetsOut == 3)
        #expect(link.alphaPeer.counters.bytesOut == UInt64(3 + 13 + 5) + 4 + 4)
    }

    @Test func writableReachesOnlyTheListenersThatAskedForIt() {
        let link = LinkedNodes()
        let asking = EventCounter(wantsWritable: true)
        let silent = EventCounter(wantsWritable: false)
        link.alpha.addListener(silent)
        let token = link.alpha.addListener(asking)
        link.alphaBulk.enqueue(.ethernetFrame, payload: [1])
        link.alphaBulk.enqueue(.ethernetFrame, payload: [2])
        link.alphaPeer.pumpOutbound()
        #expect(asking.writables == 2)
        #expect(silent.writables == 0)
        link.alpha.removeListener(token)
        link.alphaBulk.enqueue(.ethernetFrame, payload: [3])
        link.alphaPeer.pumpOutbound()
        #expect(asking.writables == 2, "removed, it hears no more")
        link.alphaPeer.close(reason: "test over")
        #expect(silent.disconnects == 1, "every other event still reaches every listener")
    }
}

/// Counts what it is told, and asks for `.writable` or not.
private final class EventCounter: CoreListener {
    let wantsWritable: Bool
    var writables = 0
    var disconnects = 0

    init(wantsWritable: Bool) {
        self.wantsWritable = wantsWritable
    }

    func handle(_ event: CoreEvent, peer: Peer, payload: UnsafeRawBufferPointer, context: AnyObject?) -> ListenerVerdict {
        switch event {
        case .writable: writables += 1
        case .disconnected: disconnects += 1
        case .connected, .packet: break
        }
        return .ignored
    }
}

@Suite struct PeerTimerTests {
    @Test func keepalivesArePingsPacedByTheMeasuredRTT() {
        let link = LinkedNodes()
        let sent = link.pair.a.written.count
        link.advance(by: .zero)
        // The first tick sends a ping (keepalive, kind 1, sequence 0), which beta echoes at once.
        #expect(Array(link.pair.a.written[sent...].prefix(8)) == [0x02, 0x00, 0x05, 0x01, 0, 0, 0, 0])
        let echo: [UInt8] = [0x02, 0x00, 0x05, 0x02, 0, 0, 0, 0]
        #expect(link.pair.b.written.indices.contains { Array(link.pair.b.written[$0...].prefix(8)) == echo }, "beta echoed ping 0")
        #expect(link.alphaPeer.liveness?.rtt.smoothed == .zero)
        // A fast stream: dead after 800 ms of silence, so a keepalive every 200 ms.
        #expect(link.alphaPeer.liveness?.deadAfter == .milliseconds(800))
        let next = link.pair.a.written.count
        link.advance(by: .milliseconds(150))
        #expect(link.pair.a.written.count == next)
        link.advance(by: .milliseconds(50))
        #expect(Array(link.pair.a.written[next...].prefix(8)) == [0x02, 0x00, 0x05, 0x01, 0, 0, 0, 1])
        #expect(link.betaPeer.lastReceived == link.world.clock.now)
        // Keepalives are the core's own: listeners never see them.
        #expect(link.betaListener.events == [.connected])
    }

    @Test func keepalivesGoWhileFramesFlow() {
        // Frames may travel as datagrams the stream never sees, so the stream's keepalives do
        // not wait for a quiet moment.
        let link = LinkedNodes()
        link.advance(by: .zero)
        var keepalives = 0
        for step in 1...20 {
            link.sendFromAlpha(payload: [UInt8(step)])
            let before = link.pair.a.written.count
            link.advance(by: .milliseconds(50))
            if link.pair.a.written[before...].starts(with: [0x02, 0x00, 0x05, 0x01]) { keepalives += 1 }
        }
        #expect(keepalives >= 4 && keepalives <= 6, "a keepalive every 200 ms over 1 s: \(keepalives)")
    }

    @Test func keepalivesKeepATickingLinkAlive() {
        let link = LinkedNodes()
        for _ in 0..<40 {
            link.advance(by: .milliseconds(250))
        }
        #expect(link.alphaPeer.state == .established)
        #expect(link.betaPeer.state == .established)
        #expect(link.world.closures.isEmpty)
        #expect(link.alphaPeer.counters.packetsIn > 10)
    }

    @Test func aSilentPeerIsClosedWithinASecond() throws {
        let link = LinkedNodes()
        link.advance(by: .zero)  // a ping and its echo: the stream's RTT is measured
        // Beta goes silent (its socket takes nothing more).
        link.pair.b.writeCapacity = 0
        for _ in 0..<15 {
            link.advance(by: .milliseconds(50))
        }
        #expect(link.alphaPeer.state == .established)  // 750 ms of silence
        link.advance(by: .milliseconds(50))  // 800 ms
        #expect(link.alphaPeer.state == .closed)
        #expect(link.pair.a.closeCount == 1)
        let reason = try #require(link.world.reasons(of: "alpha").first)
        #expect(reason == "link dead: nothing received for \(Duration.milliseconds(800))")
        #expect(link.alphaListener.events.last == .disconnected(reason: reason))
        #expect(link.alpha.peers.isEmpty)
    }

    @Test func withoutAMeasuredRTTASilentPeerGetsTheLivenessInterval() throws {
        let link = LinkedNodes()
        // Beta never writes after its hello: no echo, so no RTT, so the longest allowance.
        link.pair.b.writeCapacity = 0
        for _ in 0..<59 {
            link.advance(by: .milliseconds(50))
        }
        #expect(link.alphaPeer.state == .established)  // 2.95 s of silence
        link.advance(by: .milliseconds(50))  // 3 s
        #expect(link.alphaPeer.state == .closed)
        let reason = try #require(link.world.reasons(of: "alpha").first)
        #expect(reason == "link dead: nothing received for \(Duration.seconds(3))")
    }

    @Test(arguments: [false, true])
    func aSilentPeerFailsTheHandshake(outbound: Bool) throws {
        let world = World()
        let node = world.makeNode("beta", id: 2)
        let listener = RecordingListener(name: "beta")
        node.addListener(listener)
        let connection = ScriptedConnection()
        if outbound {
            node.addOutbound(connection)  // the dial never completes
        } else {
            node.acceptIncoming(connection)  // the other side never says hello
        }
        world.clock.advance(by: .milliseconds(4_999))
        node.tick()
        #expect(connection.closeCount == 0)
        world.clock.advance(by: .milliseconds(1))
        node.tick()
        #expect(connection.closeCount == 1)
        #expect(node.peers.isEmpty)
        #expect(world.reasons(of: "beta") == ["no handshake within \(Duration.seconds(5))"])
        #expect(listener.events.isEmpty)  // never connected, so no disconnect either
        #expect(connection.events == nil)
    }

    @Test func ticksAfterACloseDoNothing() {
        let link = LinkedNodes()
        link.alphaPeer.close(reason: "bye")
        link.pair.pump()
        link.advance(by: .seconds(10))
        #expect(link.world.closures.map(\.reason) == ["bye", "closed by the other side"])
        #expect(link.pair.a.closeCount == 1)
        #expect(link.pair.b.closeCount == 1)
    }
}
