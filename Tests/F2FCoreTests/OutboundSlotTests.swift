import F2FBase
import F2FCore
import F2FTesting
import Testing

@Suite struct OutboundSlotTests {
    func loaded(_ type: F2FPacketType, _ payload: [UInt8]) -> OutboundSlot {
        let slot = OutboundSlot()
        payload.withUnsafeBytes { slot.load(type, payload: $0) }
        return slot
    }

    /// Chunks a writer taking at most `capacity` bytes per call produces: header and payload
    /// are one buffer, offered whole (a datagram path takes a packet in one write).
    func expectedCalls(payloadCount: Int, capacity: Int) -> [Int] {
        let count = 3 + payloadCount
        return stride(from: 0, to: count, by: capacity).map { min(capacity, count - $0) }
    }

    @Test(arguments: [1, 2, 3, 4, 7, 4096, 70_000], [0, 65_535])
    func writesThePacketWholeOrInPiecesOfAnySize(capacity: Int, payloadCount: Int) throws {
        var generator = SeededGenerator(seed: UInt64(capacity))
        let payload = PacketBytes.random(count: payloadCount, using: &generator)
        let slot = loaded(.ethernetFrame, payload)
        #expect(slot.totalCount == 3 + payloadCount)
        let connection = ScriptedConnection()
        connection.writeCapacity = capacity
        #expect(try slot.write(to: connection))  // the connection keeps taking bytes: one call finishes
        #expect(slot.isFree)
        #expect(connection.written == PacketBytes.packet(.ethernetFrame, payload: payload))
        #expect(connection.writeCalls == expectedCalls(payloadCount: payloadCount, capacity: capacity))
    }

    @Test(arguments: [0, 65_535])
    func refusedWritesStopAndResume(payloadCount: Int) throws {
        var generator = SeededGenerator(seed: 11)
        let payload = PacketBytes.random(count: payloadCount, using: &generator)
        let slot = loaded(.bpdu, payload)
        let connection = ScriptedConnection()
        // 0 is EAGAIN; then 1, 2, 3 … bytes per call, each burst ended by a refusal.
        var pattern: [Int] = []
        for capacity in 0...40 { pattern += [capacity, 0] }
        connection.writeCapacities = pattern
        var attempts = 0
        var writtenBefore = 0
        while try !slot.write(to: connection) {
            attempts += 1
            #expect(slot.isLoaded)
            #expect(connection.written.count < slot.totalCount)
            #expect(connection.written.count >= writtenBefore)
            writtenBefore = connection.written.count
        }
        #expect(attempts > 1)
        #expect(slot.isFree)
        #expect(connection.written == PacketBytes.packet(.bpdu, payload: payload))
        #expect(connection.written.count == 3 + payloadCount)
    }

    @Test func zeroCapacityTakesNothingAndKeepsThePacket() throws {
        let slot = loaded(.ethernetFrame, [1, 2, 3])
        let connection = ScriptedConnection()
        connection.writeCapacity = 0
        for _ in 0..<3 {
            #expect(try !slot.write(to: connection))
            #expect(slot.isLoaded)
        }
        #expect(connection.written.isEmpty)
        connection.writeCapacity = nil
        #expect(try slot.write(to: connection))
        #expect(connection.written == [0x10, 0x00, 0x03, 1, 2, 3])
    }

    /// Stops after exactly `cut` bytes (one byte per call, then a refusal), then finishes.
    func writeCut(at cut: Int, payload: [UInt8]) throws -> [UInt8] {
        let slot = loaded(.ethernetFrame, payload)
        let connection = ScriptedConnection()
        connection.writeCapacities = Array(repeating: 1, count: cut) + [0]
        let finished = try slot.write(to: connection)
        #expect(finished == (cut == slot.totalCount))
        #expect(connection.written.count == cut)
        connection.writeCapacity = nil
        if !finished {
            #expect(try slot.write(to: connection))
        }
        #expect(slot.isFree)
        return connection.written
    }

    @Test func resumesAtEveryByteOfASmallPacket() throws {
        let payload: [UInt8] = Array(1...10)
        let expected = PacketBytes.packet(.ethernetFrame, payload: payload)
        for cut in 0...expected.count {
            #expect(try writeCut(at: cut, payload: payload) == expected, "cut at \(cut)")
        }
    }

    @Test(arguments: [0, 1, 2, 3, 4, 1_000, 65_537])
    func resumesInsideAFullSizePacket(cut: Int) throws {
        var generator = SeededGenerator(seed: 5)
        let payload = PacketBytes.random(count: 65_535, using: &generator)
        #expect(try writeCut(at: cut, payload: payload) == PacketBytes.packet(.ethernetFrame, payload: payload))
    }

    @Test func emptyPayloadIsTheHeaderAlone() throws {
        let slot = OutboundSlot()
        slot.load(.keepalive) { _ in 0 }
        #expect(slot.type == .keepalive)
        #expect(slot.totalCount == 3)
        let connection = ScriptedConnection()
        #expect(try slot.write(to: connection))
        #expect(connection.written == [0x02, 0x00, 0x00])
    }

    @Test func theSlotIsReusedWithoutLeftovers() throws {
        let slot = loaded(.ethernetFrame, Array(repeating: 0xEE, count: 300))
        let connection = ScriptedConnection()
        #expect(try slot.write(to: connection))
        [UInt8]([7]).withUnsafeBytes { slot.load(.bpdu, payload: $0) }
        #expect(slot.type == .bpdu)
        #expect(try slot.write(to: connection))
        #expect(connection.written.suffix(4) == [0x0F, 0x00, 0x01, 7])
        #expect(connection.written.count == 303 + 4)
    }

    @Test func writeErrorsPropagateAndKeepThePacket() {
        let slot = loaded(.ethernetFrame, [1])
        let connection = ScriptedConnection()
        let failure = ConnectionError.system(errno: 32, operation: "send to test")
        connection.writeFailure = failure
        #expect(throws: failure) {
            _ = try slot.write(to: connection)
        }
        #expect(slot.isLoaded)
    }
}
