import F2FBase
import F2FCore
import F2FTesting
import Testing

@Suite struct PacketAssemblerTests {
    typealias Packet = PacketBytes.Packet

    /// Reads until end of stream, collecting packets; returns them with the number of
    /// `.needMore` stalls and how the stream ended.
    func drain(_ assembler: PacketAssembler, from connection: ScriptedConnection) throws -> (packets: [Packet], stalls: Int, midPacket: Bool) {
        var packets: [Packet] = []
        var stalls = 0
        while true {
            switch try assembler.read(from: connection) {
            case .needMore:
                stalls += 1
                // A stall with input still scripted is a pause: the provider would notify again.
                guard connection.pendingReadSteps > 0 else {
                    Issue.record("stalled with nothing left to read")
                    return (packets, stalls, false)
                }
            case .packet(let type):
                #expect(assembler.hasPacket)
                packets.append(Packet(type: type, payload: Array(assembler.payload)))
                assembler.release()
                #expect(!assembler.hasPacket)
            case .endOfStream(let midPacket):
                return (packets, stalls, midPacket)
            case .rejectedHeader(let type, let count):
                Issue.record("no admission check was set, yet \(type) of \(count) bytes was rejected")
                return (packets, stalls, false)
            }
        }
    }

    static let chunkSizes = [1, 2, 3, 7, 4096]

    @Test(arguments: chunkSizes, [0, 65_535])
    func packetsSurviveEverySplit(chunkSize: Int, payloadCount: Int) throws {
        var generator = SeededGenerator(seed: UInt64(chunkSize * 100_000 + payloadCount))
        let packets = [
            Packet(type: .ethernetFrame, payload: PacketBytes.random(count: payloadCount, using: &generator)),
            Packet(type: .bpdu, payload: PacketBytes.random(count: 35, using: &generator)),
            Packet(type: F2FPacketType(rawValue: 0x42), payload: []),
            Packet(type: .ethernetFrame, payload: PacketBytes.random(count: payloadCount, using: &generator)),
            Packet(type: .keepalive, payload: []),
        ]
        let stream = packets.flatMap { PacketBytes.packet($0.type, payload: $0.payload) }

        let connection = ScriptedConnection(chunkSize: chunkSize, pauseBetweenChunks: true)
        connection.feed(stream)
        connection.endStream()
        let assembler = PacketAssembler()
        let result = try drain(assembler, from: connection)

        #expect(result.packets.count == packets.count)
        for (got, sent) in zip(result.packets, packets) {
            #expect(got.type == sent.type)
            #expect(got.payload == sent.payload, "payload of \(sent) differs")
        }
        #expect(!result.midPacket)
        // Every chunk ended in a stall, and the assembler resumed after each one.
        let chunks = (stream.count + chunkSize - 1) / chunkSize
        #expect(result.stalls == chunks)
    }

    @Test(arguments: chunkSizes, [0, 65_535])
    func shortReadsWithoutStallsAreReassembled(chunkSize: Int, payloadCount: Int) throws {
        var generator = SeededGenerator(seed: 7)
        let payload = PacketBytes.random(count: payloadCount, using: &generator)
        let connection = ScriptedConnection(chunkSize: chunkSize)
        connection.feedPacket(.ethernetFrame, payload: payload)
        connection.feedPacket(.bpdu, payload: [1, 2, 3])
        connection.endStream()
        let result = try drain(PacketAssembler(), from: connection)
        #expect(result.packets == [Packet(type: .ethernetFrame, payload: payload), Packet(type: .bpdu, payload: [1, 2, 3])])
        #expect(result.stalls == 0)
        #expect(!result.midPacket)
    }

    @Test func readStoppingMidHeaderResumes() throws {
        let connection = ScriptedConnection()
        connection.feed([0x10])
        connection.pause()
        connection.feed([0x00])
        connection.pause()
        connection.feed([0x02, 0xAA, 0xBB])
        let assembler = PacketAssembler()
        #expect(try assembler.read(from: connection) == .needMore)
        #expect(!assembler.hasPacket)
        #expect(try assembler.read(from: connection) == .needMore)
        #expect(try assembler.read(from: connection) == .packet(.ethernetFrame))
        #expect(Array(assembler.payload) == [0xAA, 0xBB])
    }

    @Test func readStoppingMidPayloadResumes() throws {
        let connection = ScriptedConnection()
        connection.feed([0x0F, 0x00, 0x04, 0x01])
        connection.pause()
        connection.feed([0x02, 0x03])
        connection.pause()
        connection.feed([0x04])
        let assembler = PacketAssembler()
        #expect(try assembler.read(from: connection) == .needMore)
        #expect(try assembler.read(from: connection) == .needMore)
        #expect(try assembler.read(from: connection) == .packet(.bpdu))
        #expect(Array(assembler.payload) == [1, 2, 3, 4])
        let span = try assembler.withPayloadSpan { span in span.count }
        #expect(span == 4)
    }

    @Test(arguments: [
        ([UInt8](), false),  // nothing at all
        ([0x10], true),  // inside the header
        ([0x10, 0x00], true),
        ([0x10, 0x00, 0x03], true),  // header complete, no payload yet
        ([0x10, 0x00, 0x03, 0xAA, 0xBB], true),  // inside the payload
    ])
    func endOfStreamReportsWhetherAPacketWasCut(bytes: [UInt8], midPacket: Bool) throws {
        for chunkSize in Self.chunkSizes {
            let connection = ScriptedConnection(chunkSize: chunkSize, pauseBetweenChunks: true)
            connection.feed(bytes)
            connection.endStream()
            let result = try drain(PacketAssembler(), from: connection)
            #expect(result.packets.isEmpty)
            #expect(result.midPacket == midPacket, "chunks of \(chunkSize)")
        }
    }

    @Test func endOfStreamBetweenPacketsIsNotMidPacket() throws {
        let connection = ScriptedConnection(chunkSize: 2)
        connection.feedPacket(.keepalive)
        connection.feedPacket(.ethernetFrame, payload: [9, 8, 7])
        connection.endStream()
        let assembler = PacketAssembler()
        #expect(try assembler.read(from: connection) == .packet(.keepalive))
        #expect(assembler.payload.isEmpty)
        assembler.release()
        #expect(try assembler.read(from: connection) == .packet(.ethernetFrame))
        #expect(Array(assembler.payload) == [9, 8, 7])
        assembler.release()
        #expect(try assembler.read(from: connection) == .endOfStream(midPacket: false))
        // The end is sticky, as a closed socket's is.
        #expect(try assembler.read(from: connection) == .endOfStream(midPacket: false))
    }

    @Test(arguments: chunkSizes)
    func anAdmissionCheckRefusesAtTheHeaderWithoutReadingThePayload(chunkSize: Int) throws {
        let connection = ScriptedConnection(chunkSize: chunkSize, pauseBetweenChunks: true)
        connection.feedPacket(.hello, payload: Array(repeating: 1, count: 10))
        connection.feedPacket(.ethernetFrame, payload: Array(repeating: 2, count: 100))
        let assembler = PacketAssembler()
        var asked: [String] = []
        assembler.admits = { type, count in
            asked.append("\(type) \(count)")
            return type == .hello
        }
        func next() throws -> PacketAssembler.Progress {
            while true {
                let progress = try assembler.read(from: connection)
                if progress != .needMore { return progress }
            }
        }
        #expect(try next() == .packet(.hello))
        #expect(Array(assembler.payload) == Array(repeating: 1, count: 10))
        assembler.release()
        #expect(try next() == .rejectedHeader(.ethernetFrame, payloadCount: 100))
        #expect(!assembler.hasPacket)
        #expect(connection.bytesRead == 13 + 3)  // the refused payload stays unread
        #expect(asked == ["hello 10", "ethernet-frame 100"])
    }

    @Test func readErrorsPropagateWithTheirContext() {
        let failure = ConnectionError.system(errno: 104, operation: "recv from test")
        let connection = ScriptedConnection()
        connection.feed([0x10, 0x00])
        connection.failReads(with: failure)
        let assembler = PacketAssembler()
        #expect(throws: failure) {
            _ = try assembler.read(from: connection)
        }
    }

    @Test func aSmallPacketAfterABigOneCarriesOnlyItsOwnBytes() throws {
        var generator = SeededGenerator(seed: 3)
        let big = PacketBytes.random(count: 65_535, using: &generator)
        let connection = ScriptedConnection(chunkSize: 4096)
        connection.feedPacket(.ethernetFrame, payload: big)
        connection.feedPacket(.ethernetFrame, payload: [0x5A])
        let assembler = PacketAssembler()
        #expect(try assembler.read(from: connection) == .packet(.ethernetFrame))
        #expect(assembler.payload.count == 65_535)
        assembler.release()
        #expect(try assembler.read(from: connection) == .packet(.ethernetFrame))
        #expect(Array(assembler.payload) == [0x5A])
    }
}

@Suite struct ScriptedConnectionTests {
    @Test func readsNeverCrossAChunkAndPausesBlockOnce() throws {
        let connection = ScriptedConnection(chunkSize: 3, pauseBetweenChunks: true)
        connection.feed([1, 2, 3, 4, 5])
        connection.endStream()
        var buffer = [UInt8](repeating: 0, count: 10)
        var results: [CommReadResult] = []
        for _ in 0..<5 {
            results.append(try buffer.withUnsafeMutableBytes { (raw) throws(ConnectionError) in try connection.read(into: raw) })
        }
        #expect(results == [.bytes(3), .wouldBlock, .bytes(2), .wouldBlock, .endOfStream])
        #expect(Array(buffer.prefix(2)) == [4, 5])
    }

    @Test func writesFollowTheCapacityPatternAndAreRecorded() throws {
        let connection = ScriptedConnection()
        connection.writeCapacities = [0, 2]
        let bytes: [UInt8] = [1, 2, 3]
        var taken: [Int] = []
        for _ in 0..<4 {
            taken.append(try bytes.withUnsafeBytes { (raw) throws(ConnectionError) in try connection.write(raw) })
        }
        #expect(taken == [0, 2, 0, 2])
        #expect(connection.written == [1, 2, 1, 2])
        #expect(connection.writeCalls == [0, 2, 0, 2])
    }
}
