import EthernetSwitch
import F2FBase
import F2FCore
import F2FPosix
import F2FSecure
import F2FTesting
import Testing

@testable import F2FTransportUDP

/// Two `DatagramLink`s wired back to back on virtual time: what one sends the other receives
/// (from the sender's address) while `udpPasses`, nothing otherwise. No sockets, no sleeps.
final class LinkPair: DatagramLinkOwner {
    var now = Instant(nanoseconds: 0)
    var udpPasses = true
    /// Datagrams from side 1 to side 0 pass (a one-way block when false).
    var backwardPasses = true
    /// The largest datagram the path carries (its MTU less IP and UDP headers).
    var largestDatagram = Int.max
    var outbox: [(from: Int, bytes: [UInt8], to: InetSocketAddress)] = []
    private(set) var switches: [(side: Int, at: Instant, path: PathSelection.Path)] = []
    let addresses: [InetSocketAddress]
    let connections: [PathSwitchingConnection]
    var links: [DatagramLink] = []
    /// Which side is sending (set while a link's call runs).
    private var sending = 0

    init() throws {
        let a = try #require(try InetStreamSocket.resolve(host: "127.0.0.1", port: 1000, passive: false).first)
        addresses = [a, a.withPort(2000)]
        connections = [PathSwitchingConnection(stream: ScriptedConnection()), PathSwitchingConnection(stream: ScriptedConnection())]
        let offers = [
            UDPOffer(index: 11, portIPv4: 1000, portIPv6: 0, key: .random()), UDPOffer(index: 22, portIPv4: 2000, portIPv6: 0, key: .random()),
        ]
        // The friend's stream address: same host, another port (the offer's port replaces it).
        let streamHost = a.withPort(5555)
        links = (0..<2).map { DatagramLink(transport: self, connection: connections[$0], streamHost: streamHost, offer: offers[$0], now: now) }
        links[0].accept(offers[1], now: now)
        links[1].accept(offers[0], now: now)
        for side in 0..<2 { connections[side].datagrams = links[side] }
    }

    /// One slot, as a socket's send batch has many: what is committed is copied to the outbox.
    private let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 9216, alignment: 16)
    /// Datagrams staged and not yet flushed (they are in the outbox already).
    private(set) var unflushed = 0

    deinit {
        slot.deallocate()
    }

    func datagramSlot(for endpoint: InetSocketAddress) -> UnsafeMutableRawBufferPointer? {
        slot
    }

    func commitDatagram(byteCount: Int, to endpoint: InetSocketAddress, from sender: any StagedDatagramSender) {
        precondition(byteCount <= slot.count)
        outbox.append((sending, Array(slot.prefix(byteCount)), endpoint))
        unflushed += 1
    }

    func flushDatagrams() {
        unflushed = 0
    }

    func pathChanged(_ link: DatagramLink, to path: PathSelection.Path) {
        switches.append((link === links[0] ? 0 : 1, now, path))
    }

    func inboxMayTakeMore() {}

    func on(_ side: Int, _ body: (DatagramLink) -> Void) {
        sending = side
        body(links[side])
    }

    /// Delivers what was sent, and what that provoked, until nothing is in flight.
    func pump() {
        while !outbox.isEmpty {
            let (from, bytes, _) = outbox.removeFirst()
            guard udpPasses, from == 0 || backwardPasses, bytes.count <= largestDatagram else { continue }
            let to = 1 - from
            _ = deliver(bytes, to: to, source: addresses[from])
        }
    }

    func deliver(_ bytes: [UInt8], to side: Int, source: InetSocketAddress) -> NoiseDatagramCipher.Rejection? {
        var copy = bytes  // opened in place, as in a receive slot
        return copy.withUnsafeMutableBytes { raw in
            let index = NoiseDatagramCipher.receiverIndex(of: UnsafeRawBufferPointer(raw)) ?? 0
            sending = side
            let rejection = links[side].receive(raw, index: index, source: DatagramSource(address: source), now: now)
            // The copy is gone after this call, as a receive slot is reused.
            connections[side].settle()
            return rejection
        }
    }

    /// Ticks both links every 5 ms through `milliseconds`, delivering as it goes.
    func run(through milliseconds: Int64) {
        while now < Instant(nanoseconds: milliseconds * 1_000_000) {
            now = now + .milliseconds(5)
            for side in 0..<2 { on(side) { $0.tick(now: now) } }
            pump()
        }
    }

    /// Packets side `side` received over datagrams, as the peer would read them.
    func received(on side: Int) throws -> [[UInt8]] {
        let assembler = PacketAssembler()
        var packets: [[UInt8]] = []
        while case .packet(let type) = try assembler.read(from: connections[side]) {
            packets.append(PacketBytes.packet(type, payload: Array(assembler.payload)))
            assembler.release()
        }
        return packets
    }
}

@Suite struct DatagramLinkTests {
    @Test func bothEndsTakeUDPOnceAProbeIsAnsweredAndAFullSizeFrameCrossesInTwoFragments() throws {
        let pair = try LinkPair()
        #expect(!pair.links[0].carriesFrames && !pair.links[1].carriesFrames, "TCP until a probe is answered")
        pair.run(through: 10)
        #expect(pair.links[0].carriesFrames && pair.links[1].carriesFrames)
        let frame = PacketBytes.packet(.ethernetFrame, payload: (0..<1511).map { UInt8(truncatingIfNeeded: $0) })
        pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
        pair.pump()
        #expect(try pair.received(on: 1) == [frame])
        #expect(pair.links[0].counters.fragmentsOut == 2 && pair.links[1].counters.fragmentsIn == 2)
        #expect(pair.links[0].monitor.rtt.smoothed != nil, "the answered probe gave an RTT sample")
    }

    @Test func blockedUDPFallsBackWithinASecondAndReturnsWhenARetryPasses() throws {
        let pair = try LinkPair()
        pair.run(through: 500)
        #expect(pair.links[0].carriesFrames && pair.links[1].carriesFrames)
        pair.udpPasses = false
        pair.run(through: 3000)
        let fallbacks = pair.switches.filter { $0.path == .tcp }
        #expect(Set(fallbacks.map(\.side)) == [0, 1], "both ends fall back")
        for fallback in fallbacks {
            #expect(fallback.at <= Instant(nanoseconds: 1_550_000_000), "within about a second of the block at 500 ms: \(fallback.at)")
        }
        #expect(!pair.links[0].carriesFrames && !pair.links[1].carriesFrames)
        pair.udpPasses = true
        pair.run(through: 8000)
        #expect(pair.links[0].carriesFrames && pair.links[1].carriesFrames, "a retry after the backoff was answered")
        #expect(pair.switches.filter { $0.path == .udp }.count == 4)
    }

    @Test func aLinkKeptIdleStaysOnUDPOnItsProbes() throws {
        let pair = try LinkPair()
        pair.run(through: 10_000)
        #expect(pair.switches.allSatisfy { $0.path == .udp }, "\(pair.switches)")
        #expect(pair.links[0].counters.datagramsOut > 20, "probes kept the path alive")
    }

    @Test func replayedAndForgedDatagramsAreDroppedAndMoveNothing() throws {
        let pair = try LinkPair()
        pair.run(through: 10)
        let frame = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 9, count: 200))
        pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
        let captured = try #require(pair.outbox.last?.bytes)
        pair.pump()
        #expect(try pair.received(on: 1) == [frame])
        let stranger = pair.addresses[0].withPort(4444)
        #expect(pair.deliver(captured, to: 1, source: stranger) == .duplicate)
        var forged = captured
        forged[8] = 0x70  // a counter never used, so only the AEAD check can refuse it
        forged[forged.count - 1] ^= 1
        #expect(pair.deliver(forged, to: 1, source: stranger) == .forged)
        var unknown = captured
        unknown[4] ^= 0xFF
        #expect(pair.deliver(unknown, to: 1, source: stranger) == .wrongReceiver)
        #expect(try pair.received(on: 1).isEmpty, "nothing delivered twice")
        #expect(pair.links[1].endpoint == pair.addresses[0] && pair.links[1].counters.roams == 0)
    }

    @Test func anAuthenticatedDatagramFromANewAddressMovesTheEndpoint() throws {
        let pair = try LinkPair()
        pair.run(through: 10)
        let frame = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 5, count: 100))
        pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
        let datagram = try #require(pair.outbox.popLast()?.bytes)
        let roamed = pair.addresses[0].withPort(3333)
        #expect(pair.deliver(datagram, to: 1, source: roamed) == nil)
        #expect(pair.links[1].endpoint == roamed && pair.links[1].counters.roams == 1)
        #expect(try pair.received(on: 1) == [frame])
    }

    @Test func echoesOfEarlierProbesMeasureAnRTTLongerThanTheProbeSpacing() throws {
        let pair = try LinkPair()
        pair.run(through: 500)
        let before = try #require(pair.links[0].monitor.rtt.smoothed)
        // The path from side 0 gets slow: its datagrams arrive 600 ms late, several selection
        // probes (250 ms apart) in flight at once; side 1's datagrams still pass at once, and
        // side 1 sends frames all the time, so side 0's monitor never probes on its own.
        var held: [[UInt8]] = []
        let start = pair.now
        let frame = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 7, count: 60))
        while pair.now < start + .milliseconds(600) {
            pair.now = pair.now + .milliseconds(5)
            for side in 0..<2 { pair.on(side) { $0.tick(now: pair.now) } }
            pair.on(1) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
            while !pair.outbox.isEmpty {
                let (from, bytes, _) = pair.outbox.removeFirst()
                if from == 0 { held.append(bytes) } else { _ = pair.deliver(bytes, to: 0, source: pair.addresses[1]) }
            }
        }
        #expect(held.count >= 2)
        for bytes in held { _ = pair.deliver(bytes, to: 1, source: pair.addresses[0]) }
        pair.pump()  // side 1's echoes of every held probe
        let after = try #require(pair.links[0].monitor.rtt.smoothed)
        // Each held probe's echo is a sample (up to 600 ms; here about +70 ms on the estimate);
        // the last one's alone, as before, moved it by about 25 ms.
        #expect(after - before >= .milliseconds(50), "\(before) → \(after)")
    }

    @Test func onlyTheNewestDatagramMovesTheEndpoint() throws {
        let pair = try LinkPair()
        pair.run(through: 10)
        let frames = (1...2).map { PacketBytes.packet(.ethernetFrame, payload: Array(repeating: UInt8($0), count: 100)) }
        var datagrams: [[UInt8]] = []
        for frame in frames {
            pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
            datagrams.append(try #require(pair.outbox.popLast()?.bytes))
        }
        let roamed = pair.addresses[0].withPort(3333)
        #expect(pair.deliver(datagrams[1], to: 1, source: roamed) == nil)
        #expect(pair.links[1].endpoint == roamed)
        // The earlier datagram, late, from the old address (reordered across the NAT's
        // rebinding): delivered, but it does not move the endpoint back.
        #expect(pair.deliver(datagrams[0], to: 1, source: pair.addresses[0]) == nil)
        #expect(pair.links[1].endpoint == roamed && pair.links[1].counters.roams == 1)
        #expect(try pair.received(on: 1) == [frames[1], frames[0]])
    }

    @Test func aRekeyKeepsDatagramsSealedUnderThePreviousKey() throws {
        let pair = try LinkPair()
        pair.run(through: 10)
        let frame = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 1, count: 64))
        pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
        let inFlight = try #require(pair.outbox.popLast()?.bytes)
        // B draws a new key and offers it; A takes it. The datagram sealed before still opens.
        let renewed = UDPOffer(index: 33, portIPv4: 2000, portIPv6: 0, key: .random())
        pair.links[1].renew(with: renewed, now: pair.now)
        #expect(pair.links[1].pendingOffer?.index == 33, "the new offer is due on the stream")
        pair.links[0].accept(renewed, now: pair.now)
        pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
        let underNewKey = try #require(pair.outbox.popLast()?.bytes)
        #expect(underNewKey[4] == 33, "sealed for the new index")
        #expect(pair.deliver(underNewKey, to: 1, source: pair.addresses[0]) == nil)
        #expect(pair.deliver(inFlight, to: 1, source: pair.addresses[0]) == nil)
        #expect(try pair.received(on: 1) == [frame, frame])
    }

    @Test func aOneWayBlockMovesBothEndsToTCPWithinASecond() throws {
        let pair = try LinkPair()
        pair.run(through: 500)
        let frame = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 4, count: 500))
        pair.backwardPasses = false  // side 1's datagrams are lost, side 0's still arrive
        // Side 0 keeps sending frames: they reach side 1, but its own echoes do not come back.
        for _ in 0..<300 {
            pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
            pair.run(through: (pair.now.nanoseconds / 1_000_000) + 5)
        }
        let fallbacks = pair.switches.filter { $0.path == .tcp }
        #expect(Set(fallbacks.map(\.side)) == [0, 1], "\(pair.switches)")
        for fallback in fallbacks {
            #expect(fallback.at <= Instant(nanoseconds: 1_550_000_000), "within about a second of the block at 500 ms: \(fallback.at)")
        }
    }

    /// A frame as `PacketBytes` builds it, and the counters it moved on the sending side.
    static func send(_ frame: [UInt8], on pair: LinkPair) -> (datagrams: UInt64, fragments: UInt64) {
        let before = pair.links[0].counters
        pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
        pair.pump()
        let after = pair.links[0].counters
        return (after.datagramsOut - before.datagramsOut, after.fragmentsOut - before.fragmentsOut)
    }

    @Test func aPathThatCarriesJumboDatagramsTakesFullSizeFramesWhole() throws {
        let pair = try LinkPair()
        pair.run(through: 10)
        #expect(pair.links[0].payloadSize == DatagramLink.basePayloadSize, "1200 until a probe confirms more")
        pair.run(through: 2_000)
        #expect(pair.links[0].payloadSize == 8940 && pair.links[1].payloadSize == 8940)
        let frame = PacketBytes.packet(.ethernetFrame, payload: (0..<1514).map { UInt8(truncatingIfNeeded: $0) })
        #expect(Self.send(frame, on: pair) == (1, 0), "one datagram, no fragments")
        let jumbo = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 3, count: 9000))
        #expect(Self.send(jumbo, on: pair) == (2, 2))
        #expect(try pair.received(on: 1) == [frame, jumbo])
    }

    @Test func aStandardPathSettlesOn1440AndARefusedProbeIsNoSendFailure() throws {
        let pair = try LinkPair()
        pair.largestDatagram = 1472  // a 1500-byte IPv4 path
        pair.run(through: 3_000)
        #expect(pair.links[0].payloadSize == 1440 && pair.links[1].payloadSize == 1440)
        #expect(pair.links[0].carriesFrames, "the lost padded probes did not cost the path")
        let frame = PacketBytes.packet(.ethernetFrame, payload: (0..<1514).map { UInt8(truncatingIfNeeded: $0) })
        #expect(Self.send(frame, on: pair) == (2, 2), "1517 bytes over a 1440-byte payload: two fragments")
        let fits = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 8, count: 1437))
        #expect(Self.send(fits, on: pair) == (1, 0))
        #expect(try pair.received(on: 1) == [frame, fits])
        // A socket refuses a padded probe larger than its interface (DF): the search's answer.
        pair.links[0].sendRefused(byteCount: 8940 + NoiseDatagramCipher.overhead)
        #expect(pair.links[0].counters.sendFailures == 0)
        pair.links[0].sendRefused(byteCount: 200)
        #expect(pair.links[0].counters.sendFailures == 1)
    }

    @Test func aNarrowPathKeepsTheBasePayloadAndARoamStartsTheSearchAgain() throws {
        let pair = try LinkPair()
        pair.largestDatagram = 1232  // 1200 + 32: only what every IPv6 path carries
        pair.run(through: 3_000)
        #expect(pair.links[0].payloadSize == 1200)
        let frame = PacketBytes.packet(.ethernetFrame, payload: Array(repeating: 2, count: 1514))
        #expect(Self.send(frame, on: pair) == (2, 2))
        #expect(try pair.received(on: 1) == [frame])
        pair.largestDatagram = .max
        pair.run(through: 5_000)
        #expect(pair.links[1].payloadSize == 1200, "the search ended; the path is not probed again yet")
        pair.on(0) { link in frame.withUnsafeBytes { link.send(packet: $0) } }
        let datagram = try #require(pair.outbox.popLast()?.bytes)
        #expect(pair.deliver(datagram, to: 1, source: pair.addresses[0].withPort(3333)) == nil)
        pair.run(through: 7_000)
        #expect(pair.links[1].payloadSize == 8940, "after the roam the new path was probed")
    }

    /// A TCP SYN crossing the link has its MSS clamped to what one datagram carries on the
    /// path, routed or not: 1440 − 3 (F2F header) − 9 (mesh header) − 14 (Ethernet) − 40 (IPv4
    /// and TCP) = 1374.
    @Test func aSynCrossingTheLinkIsClampedToThePathsPayload() throws {
        let pair = try LinkPair()
        pair.largestDatagram = 1472
        pair.run(through: 3_000)
        let syn = TCPMSSClampTestFrame.ipv4Syn
        _ = Self.send(PacketBytes.packet(.ethernetFrame, payload: syn), on: pair)
        let received = try #require(try pair.received(on: 1).first)
        let frame = Array(received.dropFirst(3))
        #expect(frame.count == syn.count)
        #expect(Array(frame[56..<58]) == [0x05, 0x5E], "MSS 1374")
        #expect(Array(syn[56..<58]) == [0x05, 0xB4], "was 1460")
    }

    /// A SYN that crosses the stream (before UDP is chosen, or during a fallback) is clamped
    /// too, to the payload the link has: else its connection's full-size segments would each be
    /// two datagrams once frames move to UDP. Other frames are not copied.
    @Test func aSynLeavingOverTheStreamIsClampedInACopyOtherFramesAreNotCopied() throws {
        let pair = try LinkPair()
        let syn = TCPMSSClampTestFrame.ipv4Syn
        var copy = [UInt8](repeating: 0, count: 2048)
        let clamped = copy.withUnsafeMutableBytes { copy in
            syn.withUnsafeBytes { pair.links[0].clampedForStream($0, of: .ethernetFrame, into: copy) }
        }
        #expect(clamped)
        #expect(pair.links[0].payloadSize == 1200, "not probed yet: the base payload")
        #expect(Array(copy[56..<58]) == [0x04, 0x6E], "MSS 1134: 1200 - 3 - 9 - 14 - 40")
        var expected = syn
        expected.withUnsafeMutableBytes { _ = TCPMSSClamp.clamp($0, maximumFrameCount: 1188) }
        #expect(Array(copy[..<syn.count]) == expected, "the whole frame copied, its checksum mended")
        #expect(Array(syn[56..<58]) == [0x05, 0xB4], "the original untouched")
        var ack = TCPMSSClampTestFrame.ipv4Syn
        ack[47] = 0x10  // ACK, not SYN
        let copied = copy.withUnsafeMutableBytes { copy in
            ack.withUnsafeBytes { pair.links[0].clampedForStream($0, of: .ethernetFrame, into: copy) }
        }
        #expect(!copied)
        let routed = [UInt8](repeating: 9, count: MeshFrameHeader.encodedCount) + syn
        let routedCopied = copy.withUnsafeMutableBytes { copy in
            routed.withUnsafeBytes { pair.links[0].clampedForStream($0, of: .meshFrame, into: copy) }
        }
        #expect(routedCopied)
        #expect(Array(copy[..<routed.count]) == Array(routed[..<MeshFrameHeader.encodedCount]) + expected, "a routed frame past its mesh header")
    }

    /// Since mesh routing, most unicast frames cross as routed frames: their SYNs are clamped too.
    @Test func aRoutedSynCrossingTheLinkIsClampedPastItsMeshHeader() throws {
        let pair = try LinkPair()
        pair.largestDatagram = 1472
        pair.run(through: 3_000)
        let header = [UInt8](repeating: 7, count: MeshFrameHeader.encodedCount)
        _ = Self.send(PacketBytes.packet(.meshFrame, payload: header + TCPMSSClampTestFrame.ipv4Syn), on: pair)
        let received = try #require(try pair.received(on: 1).first)
        let frame = Array(received.dropFirst(3 + MeshFrameHeader.encodedCount))
        #expect(Array(received[3..<(3 + MeshFrameHeader.encodedCount)]) == header)
        #expect(Array(frame[56..<58]) == [0x05, 0x5E], "MSS 1374")
    }
}

/// An IPv4 TCP SYN announcing MSS 1460 (Linux's options), as in `TCPMSSClampTests`.
enum TCPMSSClampTestFrame {
    static let ipv4Syn = Fixture.bytes("ethernet/tcp-syn-ipv4-mss1460.hex")
}
