import F2FBase
import F2FCore
import F2FTesting
import Testing

@Suite struct PathSwitchingConnectionTests {
    final class RecordingPath: DatagramPath {
        var carriesFrames = false
        var sent: [[UInt8]] = []
        func send(packet: UnsafeRawBufferPointer) { sent.append(Array(packet)) }
        func flush() {}
    }

    /// Writes `packet` as `OutboundSlot` does: whole, resuming after partial writes.
    static func write(_ packet: [UInt8], to connection: PathSwitchingConnection) throws -> Bool {
        let slot = OutboundSlot()
        slot.load(F2FPacketType(rawValue: packet[0]), payload: UnsafeRawBufferPointer(rebasing: packet.withUnsafeBytes { $0 }[3...]))
        return try slot.write(to: connection)
    }

    @Test func framesTakeTheDatagramPathOnlyWhileItCarriesFramesOtherPacketsNever() throws {
        let stream = ScriptedConnection()
        let connection = PathSwitchingConnection(stream: stream)
        let path = RecordingPath()
        connection.datagrams = path
        let frame = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 0xAB, count: 1514))
        let keepalive = PacketBytes.packet(.keepalive)
        #expect(try Self.write(frame, to: connection))
        #expect(stream.written == frame && path.sent.isEmpty, "TCP until the path selection says UDP")
        path.carriesFrames = true
        #expect(try Self.write(frame, to: connection))
        #expect(try Self.write(keepalive, to: connection))
        #expect(path.sent == [frame], "one whole frame packet per send")
        #expect(stream.written == frame + keepalive, "control packets stay on the stream")
        #expect(connection.counters.framesToDatagrams == 1)
    }

    /// Rewrites the byte after the header in frames it is shown, as `DatagramLink` lowers a
    /// SYN's MSS.
    final class MarkingPath: DatagramPath {
        var carriesFrames = false
        var shown = 0
        func send(packet: UnsafeRawBufferPointer) {}
        func flush() {}
        func clampedForStream(_ payload: UnsafeRawBufferPointer, of type: F2FPacketType, into copy: UnsafeMutableRawBufferPointer) -> Bool {
            shown += 1
            guard type == .ethernetFrame, payload[0] == 0x5A else { return false }
            copy.copyMemory(from: payload)
            copy[0] = 0xA5
            return true
        }
    }

    @Test func aFrameTheDatagramPathRewritesCrossesTheStreamRewrittenEvenInPieces() throws {
        let stream = ScriptedConnection()
        stream.writeCapacities = [2, 0, 1, 4, 0]
        let connection = PathSwitchingConnection(stream: stream)
        let path = MarkingPath()
        connection.datagrams = path
        let syn = PacketBytes.packet(.ethernetFrame, payload: [0x5A] + Array(repeating: 1, count: 99))
        let other = PacketBytes.packet(.ethernetFrame, payload: [0x11] + Array(repeating: 2, count: 99))
        let slot = OutboundSlot()
        slot.load(.ethernetFrame, payload: UnsafeRawBufferPointer(rebasing: syn.withUnsafeBytes { $0 }[3...]))
        #expect(try !slot.write(to: connection), "the stream took 2 bytes of the header")
        #expect(try !slot.write(to: connection), "then its last byte and 4 of the payload")
        stream.writeCapacities = []
        #expect(try slot.write(to: connection), "then the rest")
        #expect(try Self.write(other, to: connection))
        var rewritten = syn
        rewritten[3] = 0xA5
        #expect(stream.written == rewritten + other, "the copy went out whole, then the next frame as it was")
        #expect(path.shown == 2, "asked once per frame, not per piece")
    }

    @Test func aPacketStartedOnTheStreamFinishesThereWhenThePathChangesMidway() throws {
        let stream = ScriptedConnection()
        stream.writeCapacities = [3, 100, 0]
        let connection = PathSwitchingConnection(stream: stream)
        let path = RecordingPath()
        connection.datagrams = path
        let frame = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 7, count: 300))
        let slot = OutboundSlot()
        slot.load(.ethernetFrame, payload: UnsafeRawBufferPointer(rebasing: frame.withUnsafeBytes { $0 }[3...]))
        #expect(try !slot.write(to: connection), "the stream took part of it")
        path.carriesFrames = true
        stream.writeCapacities = []
        #expect(try slot.write(to: connection))
        #expect(stream.written == frame && path.sent.isEmpty)
    }

    @Test func datagramPacketsAreReadBetweenStreamPacketsNeverInsideOne() throws {
        let stream = ScriptedConnection(chunkSize: 50, pauseBetweenChunks: true)
        let connection = PathSwitchingConnection(stream: stream)
        let big = PacketBytes.packet(.bpdu, payload: Array(repeating: 1, count: 120))
        stream.feed(big)
        let datagram = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 2, count: 60))
        let assembler = PacketAssembler()
        // The stream's packet is half read when the datagram arrives.
        #expect(try assembler.read(from: connection) == .needMore)
        datagram.withUnsafeBytes { connection.deliver(packet: $0) }
        var types: [F2FPacketType] = []
        var payloads: [[UInt8]] = []
        for _ in 0..<10 {
            if case .packet(let type) = try assembler.read(from: connection) {
                types.append(type)
                payloads.append(Array(assembler.payload))
                assembler.release()
            }
        }
        #expect(types == [.bpdu, .ethernetFrame])
        #expect(payloads == [Array(big[3...]), Array(datagram[3...])])
        #expect(connection.counters.packetsFromDatagrams == 1)
    }

    final class ReadinessRecorder: ConnectionEvents {
        var readable = 0
        func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) { if readable { self.readable += 1 } }
        func connectionEstablished(_ connection: any Connection) {}
        func connectionClosed(_ connection: any Connection, error: ConnectionError?) {}
    }

    @Test func thePeerIsToldWhenOfferedNotPerDatagramAndOnlyWhenItReads() {
        let connection = PathSwitchingConnection(stream: ScriptedConnection())
        let recorder = ReadinessRecorder()
        connection.events = recorder
        let packet = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 3, count: 100))
        connection.reconfigure([])
        packet.withUnsafeBytes { connection.deliver(packet: $0) }
        #expect(!connection.offerPackets())
        #expect(recorder.readable == 0, "a peer that does not read (back-pressure) is not woken")
        connection.reconfigure(.readable)
        for _ in 0..<5 { packet.withUnsafeBytes { connection.deliver(packet: $0) } }
        #expect(recorder.readable == 0, "not per datagram")
        #expect(!connection.offerPackets(), "told, but it read nothing")
        #expect(recorder.readable == 1)
    }

    final class EmptiedRecorder: DatagramPath {
        var carriesFrames = false
        var emptied = 0
        func send(packet: UnsafeRawBufferPointer) {}
        func flush() {}
        func inboxMayTakeMore() { emptied += 1 }
    }

    /// What the transport bounds its socket reads by, and learns when a peer has read.
    @Test func theInboxShowsItsRoomAndTellsThePathWhenThePeerReadItAllOrReadsAgain() throws {
        let connection = PathSwitchingConnection(stream: ScriptedConnection(), inboxCapacity: 100_000)
        let path = EmptiedRecorder()
        connection.datagrams = path
        connection.reconfigure(.readable)
        let packet = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 3, count: 997))
        #expect(connection.inboxRoom == 100_000 && !connection.holdsPackets)
        for _ in 0..<3 { packet.withUnsafeBytes { connection.deliver(packet: $0) } }
        #expect(connection.inboxRoom == 97_000 && connection.holdsPackets)
        let assembler = PacketAssembler()
        #expect(try assembler.read(from: connection) == .packet(.ethernetFrame))
        assembler.release()
        #expect(connection.inboxRoom == 98_000 && path.emptied == 0)
        for _ in 0..<2 {
            #expect(try assembler.read(from: connection) == .packet(.ethernetFrame))
            assembler.release()
        }
        #expect(connection.inboxRoom == 100_000 && !connection.holdsPackets)
        #expect(path.emptied == 1, "once, when the last packet was read")
        // A paused peer that reads again tells at once (a held socket is read again).
        connection.reconfigure([])
        packet.withUnsafeBytes { connection.deliver(packet: $0) }
        #expect(path.emptied == 1)
        connection.reconfigure(.readable)
        #expect(path.emptied == 2, "on resuming with packets waiting")
        connection.reconfigure(.readable)
        #expect(path.emptied == 2, "not while it reads on")
    }

    /// Packets opened in a receive slot are read from there; what the peer has not read when
    /// the slot is reused is copied into the inbox first, and the order holds throughout.
    @Test func lentPacketsAreReadInPlaceAndSettledInOrderBeforeTheSlotIsReused() throws {
        let connection = PathSwitchingConnection(stream: ScriptedConnection(), inboxCapacity: 100_000, lendCapacity: 3)
        connection.reconfigure(.readable)
        let packets = (0..<9).map { PacketBytes.packet(.ethernetFrame, payload: Array(repeating: UInt8($0), count: 50 + $0)) }
        let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { slot.deallocate() }
        var offset = 0
        func lend(_ packet: [UInt8]) {
            let place = UnsafeMutableRawBufferPointer(rebasing: slot[offset..<offset + packet.count])
            place.copyBytes(from: packet)
            offset += packet.count
            connection.lend(packet: UnsafeRawBufferPointer(place))
        }
        let assembler = PacketAssembler()
        func readOne() throws -> [UInt8]? {
            guard case .packet(let type) = try assembler.read(from: connection) else { return nil }
            defer { assembler.release() }
            return PacketBytes.packet(type, payload: Array(assembler.payload))
        }
        lend(packets[0])
        lend(packets[1])
        #expect(connection.inboxRoom == 100_000 - packets[0].count - packets[1].count, "lent packets count against the room they would take")
        #expect(try readOne() == packets[0])
        // Changed in the slot before it is read: read from where it lies, so not copied.
        slot[packets[0].count + 3] = 0xEE
        var changed = packets[1]
        changed[3] = 0xEE
        #expect(try readOne() == changed)
        // Three lent, one read; the slot is reused: the other two are copied out first.
        offset = 0
        lend(packets[2])
        lend(packets[3])
        lend(packets[4])
        #expect(try readOne() == packets[2])
        connection.settle()
        slot.initializeMemory(as: UInt8.self, repeating: 0)
        offset = 0
        // Lent after the settled ones; a fourth beyond the three it notes is copied, behind them.
        lend(packets[5])
        lend(packets[6])
        lend(packets[7])
        lend(packets[8])
        var read: [[UInt8]] = []
        while let packet = try readOne() { read.append(packet) }
        #expect(read == Array(packets[3...]))
        #expect(!connection.holdsPackets && connection.inboxRoom == 100_000)
        #expect(connection.counters.packetsFromDatagrams == 9 && connection.counters.inboxDropped == 0)
    }

    @Test func aFullInboxDropsAndCounts() throws {
        let connection = PathSwitchingConnection(stream: ScriptedConnection(), inboxCapacity: 0)
        let packet = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 3, count: 40_000))
        for _ in 0..<3 { packet.withUnsafeBytes { connection.deliver(packet: $0) } }
        #expect(connection.counters.packetsFromDatagrams == 1, "the inbox holds one largest packet")
        #expect(connection.counters.inboxDropped == 2)
    }
}
