import F2FBase
import F2FCore
import Testing

@Suite struct FragmentationTests {
    static func at(_ milliseconds: Int64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    /// A packet of `count` bytes with a recognisable pattern.
    static func packet(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }
    }

    static func fragments(of packet: [UInt8], payload: Int, fragmenter: inout Fragmenter) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var scratch: [UInt8] = []
        try packet.withUnsafeBytes { bytes in
            try fragmenter.fragment(bytes, maximumPayload: payload, scratch: &scratch) { out.append(Array($0)) }
        }
        return out
    }

    /// Feeds one datagram; the packets delivered, if any.
    static func feed(_ datagram: [UInt8], to reassembler: inout Reassembler, now: Instant) throws -> (Reassembler.Outcome, [UInt8]?) {
        var delivered: [UInt8]?
        let outcome = try datagram.withUnsafeBytes { bytes in
            let header = try FragmentHeader(parsing: bytes)
            return reassembler.receive(header, datagram: bytes, now: now) { delivered = $0 }
        }
        return (outcome, delivered)
    }

    @Test(arguments: [(1514, 1400), (1514, 1280), (9000, 1400), (9000, 1280), (65538, 1280), (1401, 1400)])
    func largeFramesCrossAndComeBackWhole(size: Int, payload: Int) throws {
        var fragmenter = Fragmenter()
        var reassembler = Reassembler()
        let packet = Self.packet(size)
        let pieces = try Self.fragments(of: packet, payload: payload, fragmenter: &fragmenter)
        #expect(pieces.count == Fragmenter.fragmentCount(packetCount: size, maximumPayload: payload))
        #expect(pieces.allSatisfy { $0.count <= payload && $0.count > FragmentHeader.encodedCount })
        // Evenly sized: all but the last carry the same, the last no more.
        let sizes = pieces.map(\.count)
        #expect(Set(sizes.dropLast()).count <= 1 && sizes.last! <= sizes.first!)
        var result: [UInt8]?
        for (index, piece) in pieces.enumerated() {
            let (outcome, delivered) = try Self.feed(piece, to: &reassembler, now: Self.at(0))
            #expect(outcome == (index == pieces.count - 1 ? .completed : .stored))
            if let delivered { result = delivered }
        }
        #expect(result == packet)
        #expect(reassembler.pendingCount == 0 && reassembler.pendingByteCount == 0)
    }

    @Test func twoFragmentsOfAnEthernetFrame() throws {
        var fragmenter = Fragmenter()
        let pieces = try Self.fragments(of: Self.packet(1517), payload: 1400, fragmenter: &fragmenter)
        #expect(pieces.map(\.count) == [759 + 10, 758 + 10])
    }

    @Test func aPacketThatFitsGoesWholeWithoutHeader() throws {
        var fragmenter = Fragmenter()
        let packet = [UInt8(0x10)] + Self.packet(1399)
        let pieces = try Self.fragments(of: packet, payload: 1400, fragmenter: &fragmenter)
        #expect(pieces == [packet])
        #expect(fragmenter.nextPacketID == 0)
        #expect(throws: FragmentHeader.ParseError.notAFragment) {
            try packet.withUnsafeBytes { bytes in _ = try FragmentHeader(parsing: bytes) }
        }
    }

    @Test func fragmenterRefusesWhatCannotBeSent() {
        var fragmenter = Fragmenter()
        #expect(throws: Fragmenter.Refusal.payloadTooSmall) { _ = try Self.fragments(of: Self.packet(100), payload: 10, fragmenter: &fragmenter) }
        #expect(throws: Fragmenter.Refusal.tooManyFragments(needed: 65538 / 90 + 1)) {
            _ = try Self.fragments(of: Self.packet(65538), payload: 100, fragmenter: &fragmenter)
        }
    }

    @Test func reorderedFragmentsReassemble() throws {
        var fragmenter = Fragmenter()
        var reassembler = Reassembler()
        let packet = Self.packet(9000)
        let pieces = try Self.fragments(of: packet, payload: 1280, fragmenter: &fragmenter)
        var result: [UInt8]?
        for index in [3, 0, 7, 1, 6, 2, 5, 4] {
            if let delivered = try Self.feed(pieces[index], to: &reassembler, now: Self.at(1)).1 { result = delivered }
        }
        #expect(result == packet)
    }

    @Test func interleavedPacketsReassembleIndependently() throws {
        var fragmenter = Fragmenter()
        var reassembler = Reassembler()
        let first = Self.packet(3000, seed: 1)
        let second = Self.packet(3000, seed: 2)
        let a = try Self.fragments(of: first, payload: 1400, fragmenter: &fragmenter)
        let b = try Self.fragments(of: second, payload: 1400, fragmenter: &fragmenter)
        var delivered: [[UInt8]] = []
        for piece in [a[0], b[2], b[0], a[1], b[1], a[2]] {
            if let packet = try Self.feed(piece, to: &reassembler, now: Self.at(0)).1 { delivered.append(packet) }
        }
        #expect(delivered == [second, first])
    }

    @Test func aLostFragmentLosesThePacketAndItTimesOut() throws {
        var fragmenter = Fragmenter()
        var reassembler = Reassembler(configuration: .init(timeout: .milliseconds(500)))
        let pieces = try Self.fragments(of: Self.packet(9000), payload: 1400, fragmenter: &fragmenter)
        for piece in pieces.dropLast() { #expect(try Self.feed(piece, to: &reassembler, now: Self.at(10)).0 == .stored) }
        #expect(reassembler.pendingCount == 1)
        #expect(reassembler.pendingByteCount == 9000)
        #expect(reassembler.nextDeadline == Self.at(510))
        reassembler.expire(now: Self.at(509))
        #expect(reassembler.pendingCount == 1)
        reassembler.expire(now: Self.at(510))
        #expect(reassembler.pendingCount == 0 && reassembler.pendingByteCount == 0)
        #expect(reassembler.counters.timedOut == 1)
        #expect(reassembler.nextDeadline == nil)
        // The late last fragment starts a new, hopeless packet rather than completing the old one.
        #expect(try Self.feed(pieces.last!, to: &reassembler, now: Self.at(600)).0 == .stored)
        #expect(reassembler.counters.completed == 0)
    }

    @Test func duplicateFragmentsAreCountedAndIgnored() throws {
        var fragmenter = Fragmenter()
        var reassembler = Reassembler()
        let packet = Self.packet(4000)
        let pieces = try Self.fragments(of: packet, payload: 1400, fragmenter: &fragmenter)
        #expect(try Self.feed(pieces[0], to: &reassembler, now: Self.at(0)).0 == .stored)
        #expect(try Self.feed(pieces[0], to: &reassembler, now: Self.at(0)).0 == .duplicate)
        #expect(try Self.feed(pieces[1], to: &reassembler, now: Self.at(0)).0 == .stored)
        #expect(try Self.feed(pieces[1], to: &reassembler, now: Self.at(0)).0 == .duplicate)
        #expect(try Self.feed(pieces[2], to: &reassembler, now: Self.at(0)).1 == packet)
        #expect(reassembler.counters.duplicates == 2)
        #expect(reassembler.counters.completed == 1)
    }

    @Test func aFragmentDisagreeingWithItsPacketIsRefused() throws {
        var reassembler = Reassembler()
        var fragmenter = Fragmenter(firstPacketID: 77)
        let pieces = try Self.fragments(of: Self.packet(3000), payload: 1400, fragmenter: &fragmenter)
        _ = try Self.feed(pieces[0], to: &reassembler, now: Self.at(0))
        // Same id 77, another length: overlapping ids from a confused or hostile sender.
        var other = Fragmenter(firstPacketID: 77)
        let impostor = try Self.fragments(of: Self.packet(2500), payload: 1400, fragmenter: &other)
        #expect(try Self.feed(impostor[1], to: &reassembler, now: Self.at(0)).0 == .inconsistent)
        #expect(reassembler.counters.inconsistent == 1)
        #expect(try Self.feed(pieces[1], to: &reassembler, now: Self.at(0)).0 == .stored)
        #expect(try Self.feed(pieces[2], to: &reassembler, now: Self.at(0)).0 == .completed)
    }

    @Test func fullSlotsGiveUpTheOldestPacket() throws {
        var fragmenter = Fragmenter()
        var reassembler = Reassembler(configuration: .init(slotCount: 3))
        var firsts: [[UInt8]] = []
        var rests: [[UInt8]] = []
        let packets = (0..<4).map { Self.packet(2000, seed: UInt8($0)) }
        for packet in packets {
            let pieces = try Self.fragments(of: packet, payload: 1400, fragmenter: &fragmenter)
            firsts.append(pieces[0])
            rests.append(pieces[1])
        }
        for (index, first) in firsts.enumerated() { _ = try Self.feed(first, to: &reassembler, now: Self.at(Int64(index))) }
        #expect(reassembler.counters.evicted == 1)
        #expect(reassembler.pendingCount == 3)
        // Packet 0 was given up: its second fragment starts over; packets 1–3 complete.
        #expect(try Self.feed(rests[3], to: &reassembler, now: Self.at(10)).1 == packets[3])
        #expect(try Self.feed(rests[1], to: &reassembler, now: Self.at(10)).1 == packets[1])
        #expect(try Self.feed(rests[0], to: &reassembler, now: Self.at(10)).0 == .stored)
    }

    @Test func theByteBoundGivesUpPacketsAndRefusesGiants() throws {
        var fragmenter = Fragmenter()
        var reassembler = Reassembler(configuration: .init(slotCount: 8, maximumBufferedCount: 20_000))
        let big = try Self.fragments(of: Self.packet(9000), payload: 1400, fragmenter: &fragmenter)
        let big2 = try Self.fragments(of: Self.packet(9000, seed: 9), payload: 1400, fragmenter: &fragmenter)
        let big3 = try Self.fragments(of: Self.packet(9000, seed: 3), payload: 1400, fragmenter: &fragmenter)
        _ = try Self.feed(big[0], to: &reassembler, now: Self.at(0))
        _ = try Self.feed(big2[0], to: &reassembler, now: Self.at(1))
        #expect(reassembler.pendingByteCount == 18_000)
        _ = try Self.feed(big3[0], to: &reassembler, now: Self.at(2))
        #expect(reassembler.counters.evicted == 1)
        #expect(reassembler.pendingByteCount == 18_000)
        let giant = try Self.fragments(of: Self.packet(30_000), payload: 1400, fragmenter: &fragmenter)
        #expect(try Self.feed(giant[0], to: &reassembler, now: Self.at(3)).0 == .tooLarge)
        #expect(reassembler.counters.tooLarge == 1)
        #expect(reassembler.pendingByteCount == 18_000)
    }

    @Test func headersThatDisagreeWithTheirBytesAreRefused() throws {
        var fragmenter = Fragmenter()
        let pieces = try Self.fragments(of: Self.packet(3000), payload: 1400, fragmenter: &fragmenter)
        func parse(_ bytes: [UInt8]) throws -> FragmentHeader {
            try bytes.withUnsafeBytes { try FragmentHeader(parsing: $0) }
        }
        #expect(try parse(pieces[1]) == FragmentHeader(index: 1, count: 3, totalCount: 3000, packetID: 0))
        #expect(throws: FragmentHeader.ParseError.inconsistent) { try parse(Array(pieces[0].dropLast())) }
        #expect(throws: FragmentHeader.ParseError.truncated) { try parse(Array(pieces[0].prefix(5))) }
        var badIndex = pieces[0]
        badIndex[1] = 3
        #expect(throws: FragmentHeader.ParseError.inconsistent) { try parse(badIndex) }
        var single = pieces[0]
        single[2] = 1
        #expect(throws: FragmentHeader.ParseError.inconsistent) { try parse(single) }
        // 5 fragments of 12 bytes: chunks of 3 leave the last fragment empty.
        let empty: [UInt8] = [FragmentHeader.marker, 0, 5, 0, 0, 12, 0, 0, 0, 0, 0xAA, 0xBB, 0xCC]
        #expect(throws: FragmentHeader.ParseError.inconsistent) { try parse(empty) }
    }
}
