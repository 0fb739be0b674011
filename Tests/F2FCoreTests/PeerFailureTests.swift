import F2FBase
import F2FCore
import F2FTesting
import Testing

/// A first packet a node must refuse, and the reason it must give.
struct BadStart: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var reason: String
    /// Refused from its header alone (wrong type or implausible size): the payload is never read.
    var refusedAtHeader: Bool

    var testDescription: String { name }

    static let all = [
        BadStart(name: "ethernet frame before hello", bytes: PacketBytes.packet(.ethernetFrame, payload: [1, 2, 3]), reason: "expected hello, got ethernet-frame", refusedAtHeader: true),
        BadStart(name: "keepalive before hello", bytes: PacketBytes.packet(.keepalive), reason: "expected hello, got keepalive", refusedAtHeader: true),
        BadStart(name: "reject before hello", bytes: PacketBytes.packet(.reject, payload: Array("no".utf8)), reason: "expected hello, got reject", refusedAtHeader: true),
        BadStart(name: "unknown type", bytes: PacketBytes.packet(F2FPacketType(rawValue: 0x42)), reason: "expected hello, got type-0x42", refusedAtHeader: true),
        BadStart(name: "bad magic", bytes: PacketBytes.packet(.hello, payload: helloPayload(magic: Array("HTTP".utf8))), reason: "not an F2F peer (bad magic)", refusedAtHeader: false),
        BadStart(name: "version 2", bytes: PacketBytes.packet(.hello, payload: helloPayload(version: 2)), reason: "protocol version mismatch: theirs 2, ours 1", refusedAtHeader: false),
        BadStart(name: "short hello", bytes: PacketBytes.packet(.hello, payload: Hello.magic + [1]), reason: "malformed hello: hello of 5 bytes", refusedAtHeader: false),
        BadStart(name: "hello one byte too long", bytes: PacketBytes.packet(.hello, payload: helloPayload(name: Array(repeating: 0x41, count: 65))), reason: "malformed hello: hello of 78 bytes", refusedAtHeader: true),
        BadStart(name: "oversized hello", bytes: PacketBytes.packet(.hello, payload: helloPayload(name: Array(repeating: 0x41, count: 1_000))), reason: "malformed hello: hello of 1013 bytes", refusedAtHeader: true),
    ]
}

/// A stream that is not F2F at all, and how the node must end the link.
struct GarbageStream: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var ends: Bool
    var reason: String

    var testDescription: String { name }

    static let all = [
        GarbageStream(
            name: "oversized hello",
            bytes: PacketBytes.packet(.hello, payload: helloPayload(name: Array(repeating: 0x41, count: 60_000))),
            ends: false,
            reason: "refused: malformed hello: hello of 60013 bytes"
        ),
        // 'G' reads as type 0x47 (announcing 0x4554 bytes): refused at its header.
        GarbageStream(name: "HTTP request", bytes: Array("GET / HTTP/1.1\r\nHost: example\r\n\r\n".utf8), ends: true, reason: "refused: expected hello, got type-0x47"),
        // A TLS ClientHello record: type 0x16, "length" 0x0301.
        GarbageStream(name: "TLS client hello", bytes: [0x16, 0x03, 0x01] + Array(repeating: 0xCC, count: 0x0301 + 50), ends: false, reason: "refused: expected hello, got type-0x16"),
        // A plausible hello header, then the stranger hangs up.
        GarbageStream(name: "hello cut short", bytes: [0x01, 0x00, 0x20] + Hello.magic, ends: true, reason: "connection closed in the middle of a packet"),
    ]
}

@Suite struct PeerRefusalTests {
    @Test(arguments: BadStart.all)
    func aBadFirstPacketIsRefusedWithAReadableReason(start: BadStart) throws {
        for chunkSize in [1, 2, 3, 7, 4096] {
            let world = World()
            let node = world.makeNode("beta", id: 2)
            let listener = RecordingListener(name: "beta")
            node.addListener(listener)
            let connection = ScriptedConnection(chunkSize: chunkSize, pauseBetweenChunks: true)
            connection.feed(start.bytes)
            // A proper hello after the bad packet must not rescue the link.
            connection.feedPacket(.hello, payload: helloPayload())
            node.acceptIncoming(connection)
            connection.deliver()

            let (packets, rest) = PacketBytes.split(connection.written)
            #expect(packets.map(\.type) == [.hello, .reject], "chunks of \(chunkSize)")
            #expect(packets.last?.text == start.reason)
            #expect(rest.isEmpty)
            // Refused at the header: nothing after it was read.
            #expect(connection.bytesRead == (start.refusedAtHeader ? 3 : start.bytes.count))
            #expect(connection.flushCount >= 1)
            #expect(connection.closeCount == 1)
            #expect(connection.events == nil)
            #expect(node.peers.isEmpty)
            #expect(world.reasons(of: "beta") == ["refused: \(start.reason)"])
            #expect(listener.events.isEmpty)  // never connected
            let warning = try #require(world.log.records("refusing peer").first)
            #expect(warning.level == .warning)
            #expect(warning.metadata["reason"] == start.reason)
        }
    }

    /// A peer we dialled guards its handshake the same way once the connection is up (the
    /// guard is set on entering the handshake, not when the peer is made), and reads
    /// everything once established.
    @Test func aPeerWeDialledRefusesAFrameBeforeTheHelloAtItsHeader() throws {
        let world = World()
        let node = world.makeNode("alpha", id: 1)
        let connection = ScriptedConnection()
        connection.feed(BadStart.all[0].bytes)
        let peer = node.addOutbound(connection)
        connection.signalEstablished()
        connection.deliver()
        #expect(connection.bytesRead == 3, "refused at the header")
        #expect(PacketBytes.split(connection.written).packets.map(\.type) == [.hello, .reject])
        #expect(peer.state == .closed)

        let link = LinkedNodes()
        link.sendFromAlpha(payload: [UInt8](repeating: 7, count: 2_000))
        #expect(link.betaListener.entries.packetPayloads.map(\.count) == [2_000], "an established peer reads a packet larger than any hello")
    }

    @Test(arguments: [
        (7, UInt8(2), "protocol version mismatch: theirs 2, ours 1"),  // the version byte
        (3, UInt8(0x58), "not an F2F peer (bad magic)"),  // the first magic byte
    ])
    func theRefusedNodeLogsAndReportsTheReasonItWasGiven(streamOffset: Int, value: UInt8, reason: String) throws {
        let link = LinkedNodes(connect: false)
        // Alpha's hello is damaged on the way to beta.
        link.pair.a.transform = { offset, byte in offset == streamOffset ? value : byte }
        link.connect()

        // Beta refused: reject sent after its hello, closed, no listener event.
        let fromBeta = PacketBytes.split(link.pair.b.written).packets
        #expect(fromBeta.map(\.type) == [.hello, .reject])
        #expect(fromBeta.last?.text == reason)
        #expect(link.world.reasons(of: "beta") == ["refused: \(reason)"])
        #expect(link.betaListener.events.isEmpty)

        // Alpha had the link up, then was told why it was refused.
        let expected = "refused by the other side: \(reason)"
        #expect(link.alphaListener.events == [.connected, .disconnected(reason: expected)])
        #expect(link.world.reasons(of: "alpha") == [expected])
        #expect(link.pair.a.closeCount == 1)
        #expect(link.pair.b.closeCount == 1)
        #expect(link.alpha.peers.isEmpty)
        #expect(link.beta.peers.isEmpty)
        let logged = link.world.log.records("peer disconnected").compactMap { $0.metadata["reason"] }
        #expect(logged.contains(expected))
    }

    @Test(arguments: GarbageStream.all)
    func aGarbageStreamClosesOnlyItsOwnPeer(stream: GarbageStream) throws {
        let link = LinkedNodes()
        let connection = ScriptedConnection(remoteDescription: "stranger", chunkSize: 7)
        link.beta.acceptIncoming(connection)
        connection.feed(stream.bytes)
        if stream.ends { connection.endStream() }
        connection.deliver()

        #expect(connection.closeCount == 1)
        #expect(link.world.reasons(of: "beta") == [stream.reason])
        #expect(link.beta.peers.count == 1)
        #expect(link.betaPeer.state == .established)

        // The friend's link still carries traffic and keepalives.
        link.sendFromAlpha(payload: [0xAB, 0xCD])
        #expect(link.betaListener.entries.last?.event == .packet(.ethernetFrame))
        #expect(link.betaListener.entries.last?.payload == [0xAB, 0xCD])
        #expect(link.betaListener.entries.last?.peerID == link.betaPeer.id)
        for _ in 0..<40 { link.advance(by: .milliseconds(50)) }  // the node ticks every 50 ms
        #expect(link.betaPeer.state == .established)
        #expect(link.alphaPeer.state == .established)
        #expect(link.betaListener.events.filter { if case .disconnected = $0 { true } else { false } }.isEmpty)
    }

    /// Regression: while the refusal waits behind a half-written hello, the peer kept reading,
    /// so a good hello right after a bad packet established the link it had just refused.
    @Test(arguments: [
        PacketBytes.packet(.ethernetFrame, payload: [1]),  // refused at its header
        PacketBytes.packet(.hello, payload: helloPayload(magic: Array("XXXX".utf8))),  // refused once parsed
    ])
    func aRefusedPeerStopsReadingEvenWhenTheRefusalMustWait(badPacket: [UInt8]) throws {
        let world = World()
        let node = world.makeNode("beta", id: 2)
        let listener = RecordingListener(name: "beta")
        node.addListener(listener)
        let connection = ScriptedConnection()
        connection.writeCapacity = 0  // our hello cannot leave yet
        node.acceptIncoming(connection)
        connection.feed(badPacket)
        connection.feedPacket(.hello, payload: helloPayload())
        connection.signalReady(readable: true)

        let peer = try #require(node.peer(on: connection))
        #expect(peer.state == .handshaking)
        #expect(listener.events.isEmpty)
        #expect(!connection.interest.contains(.readable))
        let readSoFar = connection.bytesRead
        #expect(readSoFar <= badPacket.count)
        // A provider may still report readability (e.g. with writability): nothing more is read.
        connection.signalReady(readable: true)
        #expect(connection.bytesRead == readSoFar)
        #expect(peer.state == .handshaking)

        connection.writeCapacity = nil
        connection.signalReady(readable: false, writable: true)
        #expect(PacketBytes.split(connection.written).packets.map(\.type) == [.hello, .reject])
        #expect(world.reasons(of: "beta").count == 1)
        #expect(world.reasons(of: "beta").first?.hasPrefix("refused: ") == true)
        #expect(listener.events.isEmpty)
        #expect(peer.state == .closed)
    }

    @Test func theRefusalWaitsForAHalfWrittenHello() throws {
        let world = World()
        let node = world.makeNode("beta", id: 2)
        let connection = ScriptedConnection()
        connection.writeCapacities = [3, 2, 0]  // the header and two bytes of the hello
        node.acceptIncoming(connection)
        connection.writeCapacity = 0  // then EAGAIN
        connection.feedPacket(.ethernetFrame, payload: [1])
        connection.signalReady(readable: true)
        #expect(connection.written.count == 5)
        #expect(connection.closeCount == 0)
        #expect(connection.interest.contains(.writable))

        connection.writeCapacity = nil
        connection.signalReady(readable: false, writable: true)
        let (packets, rest) = PacketBytes.split(connection.written)
        #expect(packets.map(\.type) == [.hello, .reject])
        #expect(packets.first?.payload == PacketBytes.hello(node.localHello).dropFirst(3).map { $0 })
        #expect(rest.isEmpty)
        #expect(connection.closeCount == 1)
        #expect(world.reasons(of: "beta") == ["refused: expected hello, got ethernet-frame"])
    }
}

@Suite struct PeerDisconnectTests {
    /// A node with one accepted peer on a scripted connection that completed the handshake.
    final class Established {
        let world = World()
        let node: F2FNode
        let listener = RecordingListener(name: "node")
        let producer = QueueProducer(name: "bulk")
        let connection: ScriptedConnection
        let peer: Peer

        init(chunkSize: Int = 4096) throws {
            node = world.makeNode("node", id: 9)
            node.addListener(listener)
            node.addProducer(producer, priority: .bulk)
            connection = ScriptedConnection(remoteDescription: "remote", chunkSize: chunkSize, pauseBetweenChunks: true)
            node.acceptIncoming(connection)
            connection.feedPacket(.hello, payload: helloPayload(nodeID: 77, name: Array("remote".utf8)))
            connection.deliver()
            peer = try #require(node.peer(on: connection))
            #expect(peer.state == .established)
            #expect(peer.remote == Hello(nodeID: 77, name: "remote"))
        }

        func expectClosed(_ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(listener.events.last == .disconnected(reason: reason), sourceLocation: sourceLocation)
            #expect(world.reasons(of: "node") == [reason], sourceLocation: sourceLocation)
            #expect(connection.closeCount == 1, sourceLocation: sourceLocation)
            #expect(connection.events == nil, sourceLocation: sourceLocation)
            #expect(peer.state == .closed, sourceLocation: sourceLocation)
            #expect(node.peers.isEmpty, sourceLocation: sourceLocation)
            let logged = world.log.records("peer disconnected").compactMap { $0.metadata["reason"] }
            #expect(logged == [reason], sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [1, 2, 3, 7, 4096], [
        [UInt8(0x10)],  // inside the header
        [0x10, 0x00, 0x05],  // header only
        [0x10, 0x00, 0x05, 1, 2],  // inside the payload
    ])
    func aStreamEndingMidPacketIsReported(chunkSize: Int, bytes: [UInt8]) throws {
        let setup = try Established(chunkSize: chunkSize)
        setup.connection.feed(bytes)
        setup.connection.endStream()
        setup.connection.deliver()
        setup.expectClosed("connection closed in the middle of a packet")
        #expect(setup.listener.entries.packetPayloads.isEmpty)
    }

    @Test(arguments: [1, 7, 4096])
    func aStreamEndingBetweenPacketsIsAnOrderlyClose(chunkSize: Int) throws {
        let setup = try Established(chunkSize: chunkSize)
        setup.connection.feedPacket(.ethernetFrame, payload: [1, 2, 3, 4, 5])
        setup.connection.endStream()
        setup.connection.deliver()
        #expect(setup.listener.entries.packetPayloads == [[1, 2, 3, 4, 5]])
        setup.expectClosed("closed by the other side")
    }

    @Test func aPairClosedMidPacketIsReportedOnTheOtherSide() {
        let link = LinkedNodes()
        link.pair.a.bufferLimit = 10
        link.alphaBulk.enqueue(.ethernetFrame, payload: Array(repeating: 7, count: 40))
        link.alphaPeer.pumpOutbound()
        #expect(link.pair.b.unreadCount == 10)
        link.alphaPeer.close(reason: "shutting down")
        link.pair.pump()
        #expect(link.alphaListener.events.last == .disconnected(reason: "shutting down"))
        #expect(link.betaListener.events.last == .disconnected(reason: "connection closed in the middle of a packet"))
        #expect(link.betaListener.entries.packetPayloads.isEmpty)
    }

    @Test func aReadErrorClosesWithItsContext() throws {
        let setup = try Established()
        setup.connection.feed([0x10, 0x00])
        setup.connection.failReads(with: ConnectionError.system(errno: 104, operation: "recv from remote"))
        setup.connection.deliver()
        setup.expectClosed("read failed: recv from remote failed (errno 104)")
    }

    @Test func aWriteErrorClosesWithItsContext() throws {
        let setup = try Established()
        setup.connection.writeFailure = ConnectionError.system(errno: 32, operation: "send to remote")
        setup.producer.enqueue(.ethernetFrame, payload: [1])
        setup.peer.pumpOutbound()
        setup.expectClosed("write failed: send to remote failed (errno 32)")
    }

    @Test func aProviderReportedFailureCloses() throws {
        let setup = try Established()
        setup.connection.signalClosed(error: ConnectionError.system(errno: 110, operation: "connection to remote"))
        setup.expectClosed("connection failed: connection to remote failed (errno 110)")
    }

    @Test func aProviderReportedHangUpCloses() throws {
        let setup = try Established()
        setup.connection.signalClosed()
        setup.expectClosed("closed by the other side")
    }

    @Test func aRejectAfterTheHandshakeClosesWithTheirReason() throws {
        let setup = try Established()
        setup.connection.feedPacket(.reject, payload: Array("switch full".utf8))
        setup.connection.deliver()
        setup.expectClosed("refused by the other side: switch full")
        #expect(setup.listener.entries.packetPayloads.isEmpty)  // the core's own packet
    }

    @Test func closingTwiceReportsOnce() throws {
        let setup = try Established()
        setup.peer.close(reason: "first")
        setup.peer.close(reason: "second")
        setup.connection.signalClosed()
        setup.expectClosed("first")
    }
}
