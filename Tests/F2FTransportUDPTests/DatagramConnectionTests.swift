import EthernetSwitch
import F2FBase
import F2FCore
import F2FPosix
import F2FSecure
import Testing

@testable import F2FTransportUDP

/// Two ends of a link that started over UDP, back to back on virtual time: what `Peer` writes
/// crosses as datagrams, large packets in fragments, and the hello (sent once by `Peer`) is
/// resent until the friend shows it arrived.
final class DirectPair: DatagramConnectionOwner, DatagramBatching {
    var now = Instant(nanoseconds: 1_000_000_000)
    var passes = true
    var sent: [(bytes: [UInt8], to: InetSocketAddress)] = []
    var confirmations = 0
    var closes = 0
    let addresses = [InetSocketAddress(ip: [10, 0, 1, 2], port: 1000)!, InetSocketAddress(ip: [10, 0, 2, 2], port: 2000)!]
    var ends: [DatagramConnection] = []
    let keys = (DatagramSessionKey.random(), DatagramSessionKey.random())

    init() {
        let first = NoiseDatagramCipher(sending: keys.0, receiving: keys.1, localIndex: 11, remoteIndex: 22)
        let second = NoiseDatagramCipher(sending: keys.1, receiving: keys.0, localIndex: 22, remoteIndex: 11)
        ends = [
            DatagramConnection(
                owner: self, batch: self, friend: IdentityKey().id, session: first, endpoint: addresses[1], isInitiator: true, introducedBy: "c", now: now),
            DatagramConnection(
                owner: self, batch: self, friend: IdentityKey().id, session: second, endpoint: addresses[0], isInitiator: false, introducedBy: nil, now: now),
        ]
    }

    /// One send slot, as a socket's batch hands them out; each commit is taken as sent.
    let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    var flushes = 0

    deinit {
        slot.deallocate()
    }

    func datagramSlot(for endpoint: InetSocketAddress) -> UnsafeMutableRawBufferPointer? { slot }

    func commitDatagram(byteCount: Int, to endpoint: InetSocketAddress, from sender: any StagedDatagramSender) {
        sent.append((Array(slot[..<byteCount]), endpoint))
    }

    func flushDatagrams() { flushes += 1 }

    var inboxReleases = 0
    func inboxMayTakeMore() { inboxReleases += 1 }

    func confirmed(_ connection: DatagramConnection) { confirmations += 1 }
    func closed(_ connection: DatagramConnection) { closes += 1 }

    /// Delivers what was sent (unless `passes` is false: lost), each to the end it names.
    @discardableResult
    func deliver() -> Int {
        let batch = sent
        sent.removeAll()
        guard passes else { return 0 }
        for (bytes, to) in batch {
            let receiver = to == addresses[1] ? 1 : 0
            let source = DatagramSource(address: addresses[1 - receiver])
            let index = NoiseDatagramCipher.receiverIndex(of: bytes.withUnsafeBytes { $0 })!
            let rejection = bytes.withUnsafeBytes { ends[receiver].receive($0, index: index, source: source, now: now) }
            #expect(rejection == nil)
        }
        return batch.count
    }

    /// Writes `packet` in pieces (header first, then the rest), as a connection that took
    /// part of a packet resumes, or whole, as `OutboundSlot` writes it.
    func write(_ packet: [UInt8], on end: Int, whole: Bool = false) throws {
        var offset = 0
        while offset < packet.count {
            let piece = offset == 0 && !whole ? 3 : packet.count - offset
            offset += try packet[offset..<(offset + piece)].withUnsafeBytes { try ends[end].write($0) }
        }
    }

    func read(on end: Int) throws -> [UInt8] {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 70_000)
        while case .bytes(let count) = try buffer.withUnsafeMutableBytes({ try ends[end].read(into: $0) }) {
            output += buffer[..<count]
        }
        return output
    }
}

@Suite struct DatagramConnectionTests {
    static func packet(_ type: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [type, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
    }

    @Test func packetsCrossAsDatagramsAndLargeOnesInFragments() throws {
        let pair = DirectPair()
        let frame = Self.packet(0x10, (0..<1514).map { UInt8(truncatingIfNeeded: $0) })
        let bpdu = Self.packet(0x0F, [1, 2, 3])
        try pair.write(frame, on: 0)
        try pair.write(bpdu, on: 0)
        #expect(pair.sent.count == 3, "two fragments and the BPDU")
        pair.deliver()
        #expect(try pair.read(on: 1) == frame + bpdu)
        #expect(pair.confirmations == 0, "the initiator's end is confirmed by the friend's datagrams, not its own")
        try pair.write(Self.packet(0x02, []), on: 1)
        pair.deliver()
        #expect(pair.confirmations == 1)
    }

    /// A link that started over UDP tells the guests' TCP to send segments that fit one
    /// datagram, as a link keyed over TCP does: a full-size frame would be two fragments.
    @Test(arguments: [false, true])
    func aSynCrossingIsClampedSoFullSegmentsFitOneDatagram(writtenWhole: Bool) throws {
        let pair = DirectPair()
        let syn = TCPMSSClampTestFrame.ipv4Syn
        var expected = syn
        expected.withUnsafeMutableBytes { _ = TCPMSSClamp.clamp($0, maximumFrameCount: 1188) }
        #expect(Array(expected[56..<58]) == [0x04, 0x6E], "MSS 1134: 1200 - 3 - 9 - 14 - 40")
        try pair.write(Self.packet(0x10, syn), on: 0, whole: writtenWhole)
        let routedHeader = [UInt8](repeating: 7, count: MeshFrameHeader.encodedCount)
        try pair.write(Self.packet(F2FPacketType.meshFrame.rawValue, routedHeader + syn), on: 0, whole: writtenWhole)
        #expect(pair.sent.count == 2)
        pair.deliver()
        #expect(try pair.read(on: 1) == Self.packet(0x10, expected) + Self.packet(F2FPacketType.meshFrame.rawValue, routedHeader + expected))

        // A segment of the clamped size then crosses in one datagram.
        let fullSegment = Self.packet(0x10, [UInt8](repeating: 0xAB, count: DatagramConnection.mssClamp.maximumFrameCount))
        try pair.write(fullSegment, on: 0, whole: writtenWhole)
        #expect(pair.sent.count == 1)
        pair.deliver()
        #expect(try pair.read(on: 1) == fullSegment)
    }

    /// Packets are staged in the socket's batch and leave when the peer flushes; a datagram
    /// the socket refuses then is counted as a send failure, not as sent.
    @Test func packetsAreStagedForTheFlushAndRefusalsCounted() throws {
        let pair = DirectPair()
        let frame = Self.packet(0x10, (0..<600).map { UInt8(truncatingIfNeeded: $0) })
        try pair.write(frame, on: 0, whole: true)
        try pair.write(frame, on: 0)
        #expect(pair.sent.count == 2 && pair.flushes == 0, "staged, not sent yet")
        pair.ends[0].flush()
        #expect(pair.flushes == 1)
        #expect(pair.ends[0].counters.datagramsOut == 2)
        pair.ends[0].sendRefused(byteCount: 600 + 3 + NoiseDatagramCipher.overhead)
        #expect(pair.ends[0].counters.datagramsOut == 1 && pair.ends[0].counters.sendFailures == 1)
        pair.deliver()
        #expect(try pair.read(on: 1) == frame + frame, "whole or in pieces, the same datagram")
    }

    /// The inbox tells the transport how much more it can take (the socket is read no further),
    /// and its peer reading it empty lets a held socket be read again.
    @Test func theInboxReportsItsRoomAndBeingEmptied() throws {
        let pair = DirectPair()
        let capacity = DatagramConnection.inboxCapacity
        #expect(pair.ends[1].inboxRoom == capacity)
        let frame = Self.packet(0x10, [UInt8](repeating: 1, count: 1000))
        try pair.write(frame, on: 0, whole: true)
        try pair.write(frame, on: 0, whole: true)
        pair.deliver()
        #expect(pair.ends[1].inboxRoom == capacity - 2 * frame.count)
        #expect(pair.inboxReleases == 0)
        #expect(try pair.read(on: 1) == frame + frame)
        #expect(pair.ends[1].inboxRoom == capacity)
        #expect(pair.inboxReleases == 1, "emptied once")
    }

    /// What an older switch sends unclamped is clamped on arrival.
    @Test func aSynArrivingUnclampedIsClampedOnReceipt() throws {
        let pair = DirectPair()
        let syn = TCPMSSClampTestFrame.ipv4Syn
        // Sealed as an older sender would, straight past the connection's own clamp.
        var sender = NoiseDatagramCipher(sending: pair.keys.0, receiving: pair.keys.1, localIndex: 11, remoteIndex: 22)
        var datagram: [UInt8] = []
        _ = try sender.seal(Self.packet(0x10, syn), into: &datagram, sessionAge: .zero)
        let rejection = datagram.withUnsafeBytes {
            pair.ends[1].receive($0, index: 22, source: DatagramSource(address: pair.addresses[0]), now: pair.now)
        }
        #expect(rejection == nil)
        let received = try pair.read(on: 1)
        #expect(Array(received[(3 + 56)..<(3 + 58)]) == [0x04, 0x6E], "MSS 1134")
        var expected = syn
        expected.withUnsafeMutableBytes { _ = TCPMSSClamp.clamp($0, maximumFrameCount: 1188) }
        #expect(received == Self.packet(0x10, expected), "its checksum mended")
    }

    @Test func aLostHelloIsResentUntilTheFriendsFirstOtherPacket() throws {
        let pair = DirectPair()
        let hello = Self.packet(0x01, [9, 9, 9])
        try pair.write(hello, on: 0)
        pair.passes = false
        pair.deliver()  // lost
        pair.now = pair.now + .milliseconds(100)
        pair.ends[0].tick(now: pair.now)
        #expect(pair.sent.isEmpty, "not yet")
        pair.now = pair.now + .milliseconds(150)
        pair.ends[0].tick(now: pair.now)
        #expect(pair.ends[0].counters.helloResends == 1)
        pair.passes = true
        pair.deliver()
        #expect(try pair.read(on: 1) == hello)
        // The friend's hello and then its keepalive: only the keepalive shows ours arrived.
        try pair.write(Self.packet(0x01, [7]), on: 1)
        pair.deliver()
        pair.now = pair.now + .milliseconds(250)
        pair.ends[0].tick(now: pair.now)
        #expect(pair.ends[0].counters.helloResends == 2, "a hello from the friend proves nothing of ours")
        pair.deliver()
        try pair.write(Self.packet(0x02, []), on: 1)
        pair.deliver()
        #expect(try pair.read(on: 1) == hello, "the resend")
        pair.now = pair.now + .seconds(1)
        pair.ends[0].tick(now: pair.now)
        #expect(pair.ends[0].counters.helloResends == 2, "acknowledged: no more resends")
        // What did go out (a second later) is the path probe, which the friend's end answers itself.
        #expect(pair.sent.count == 1)
        pair.deliver()
        #expect(try pair.read(on: 1).isEmpty)
    }

    @Test func anAuthenticatedDatagramFromANewAddressMovesTheEndpoint() throws {
        let pair = DirectPair()
        try pair.write(Self.packet(0x02, []), on: 1)
        let moved = InetSocketAddress(ip: [10, 0, 1, 2], port: 1001)!
        let (bytes, _) = pair.sent.removeFirst()
        let index = NoiseDatagramCipher.receiverIndex(of: bytes.withUnsafeBytes { $0 })!
        _ = bytes.withUnsafeBytes { pair.ends[0].receive($0, index: index, source: DatagramSource(address: moved), now: pair.now) }
        #expect(pair.ends[0].endpoint == moved)
        #expect(pair.ends[0].counters.roams == 1)
        // A replay of it from elsewhere is refused and moves nothing.
        let replay = bytes.withUnsafeBytes { pair.ends[0].receive($0, index: index, source: DatagramSource(address: pair.addresses[1]), now: pair.now) }
        #expect(replay == .duplicate)
        #expect(pair.ends[0].endpoint == moved)
    }

    @Test func aRekeyKeepsOpeningTheOldSessionsDatagrams() throws {
        let pair = DirectPair()
        try pair.write(Self.packet(0x02, [1]), on: 1)
        let inFlight = pair.sent
        pair.sent.removeAll()
        let keys = (DatagramSessionKey.random(), DatagramSessionKey.random())
        pair.ends[0].install(NoiseDatagramCipher(sending: keys.0, receiving: keys.1, localIndex: 33, remoteIndex: 44), now: pair.now)
        pair.ends[1].install(NoiseDatagramCipher(sending: keys.1, receiving: keys.0, localIndex: 44, remoteIndex: 33), now: pair.now)
        #expect(pair.ends[0].localIndices.current == 33 && pair.ends[0].localIndices.previous == 11)
        pair.sent = inFlight
        pair.deliver()
        try pair.write(Self.packet(0x02, [2]), on: 1)
        pair.deliver()
        #expect(try pair.read(on: 0) == Self.packet(0x02, [1]) + Self.packet(0x02, [2]))
    }

    /// One round of the path: both ends tick, and whatever they send crosses `oneWay` later
    /// (unless `lost`), then the answers cross back.
    static func round(_ pair: DirectPair, oneWay: Duration, lost: Bool) {
        for end in pair.ends { end.tick(now: pair.now) }
        pair.passes = !lost
        for _ in 0..<2 {
            pair.now = pair.now + oneWay
            pair.deliver()
        }
        pair.passes = true
        pair.now = pair.now + .milliseconds(50) - oneWay * 2
    }

    /// A link that started over UDP has no `DatagramLink` to measure it, so it measures
    /// itself: probes and echoes give the mesh (`MeshRouter.linkMeasurement`) an RTT and a
    /// loss rate, as a `DatagramLink` does for links keyed over TCP.
    @Test func probesGiveTheLinkAnRTTAndALossRateAndNeverReachThePeer() throws {
        let pair = DirectPair()
        // Our hello is lost; the friend's end will probe us before its peer sends anything.
        try pair.write(Self.packet(0x01, [9]), on: 0)
        pair.passes = false
        pair.deliver()
        pair.passes = true
        for _ in 0..<80 {  // 4 s of 50 ms rounds, 6 ms round trips
            Self.round(pair, oneWay: .milliseconds(3), lost: false)
        }
        for end in pair.ends {
            let smoothed = try #require(end.monitor.rtt.smoothed)
            #expect(smoothed >= .milliseconds(5) && smoothed <= .milliseconds(7), "\(smoothed)")
            #expect(end.monitor.lossRate(now: pair.now) == 0)
        }
        #expect(try pair.read(on: 0).isEmpty, "probes and echoes stay in the connections")
        let atFriend = try pair.read(on: 1)
        #expect(atFriend == Array(Array(repeating: Self.packet(0x01, [9]), count: atFriend.count / 4).joined()), "only our hello's resends")
        #expect(pair.ends[0].counters.helloResends > 0, "a probe from the friend does not acknowledge our hello")

        // Half the rounds (at random, a fixed seed) lost both ways: about half the probes go
        // unanswered.
        let probesBefore = pair.ends[0].counters.datagramsOut
        var random: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200 {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            Self.round(pair, oneWay: .milliseconds(3), lost: random & 1 == 0)
        }
        #expect(pair.ends[0].counters.datagramsOut - probesBefore >= 20, "probing went on through the losses")
        let loss = try #require(pair.ends[0].monitor.lossRate(now: pair.now))
        #expect(loss > 0.2 && loss < 0.8, "\(loss)")
        #expect(pair.ends[0].monitor.rtt.smoothed.map { $0 <= .milliseconds(7) } == true, "lost probes give no samples")
    }
}
