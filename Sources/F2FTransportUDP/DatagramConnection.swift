import F2FBase
import F2FCore
import F2FPosix
import F2FSecure

/// What a `DatagramConnection` needs from its owner (`DirectLinks`; a fake in unit tests)
/// besides the send batch its datagrams go through.
protocol DatagramConnectionOwner: AnyObject {
    /// The first authenticated datagram from the friend arrived (our message 3 got through).
    func confirmed(_ connection: DatagramConnection)
    func closed(_ connection: DatagramConnection)
}

/// A friend link that started over UDP (docs/nat-traversal.md): every F2F packet the `Peer`
/// writes (hello, keepalives, spanning-tree BPDUs, frames, the NAT-traversal packets) goes in
/// transport datagrams under the session the UDP handshake made, fragmented above
/// `payloadSize`; every datagram the friend sends is opened, reassembled and read by the peer
/// as the same packet stream a TCP link gives.
///
/// What in the peer protocol assumed a reliable stream, and what this does instead:
/// - the **hello** is sent once by `Peer`; a lost hello would leave the link half-open until
///   the handshake timeout, so ours is resent every `helloInterval` until the friend's first
///   packet other than a hello shows it arrived (a duplicate hello on an established peer is
///   offered to listeners, which ignore it);
/// - **keepalives**, BPDUs and the NAT-traversal packets are periodic, so a lost one is
///   replaced by the next; liveness (`Peer`'s 3 s) already tolerates losing several;
/// - a **refusal** (`reject`) may be lost: the refused side then ends on its liveness timer;
/// - **order** is not kept across lost and reordered datagrams, as Ethernet does not promise it.
///
/// It also measures its path, as `DatagramLink` does for links keyed over TCP, so the mesh
/// prices it from RTT and loss like any other link (docs/mesh-routing.md, "Costs"): a probe
/// (`udp-probe`, a 32-bit sequence) goes out whenever the `PathMonitor` asks, and the
/// friend's end echoes it (`udp-echo`) itself. Neither reaches the `Peer`.
public final class DatagramConnection: Connection, StagedDatagramSender {
    public struct Counters: Sendable {
        public var datagramsIn: UInt64 = 0
        public var datagramsOut: UInt64 = 0
        public var sendFailures: UInt64 = 0
        public var helloResends: UInt64 = 0
        public var roams: UInt64 = 0
        public var rekeys: UInt64 = 0
        public var inboxDropped: UInt64 = 0
        public var malformed: UInt64 = 0
    }

    static let payloadSize = DatagramLink.basePayloadSize
    static let inboxCapacity = 256 * 1024
    static let helloInterval: Duration = .milliseconds(250)
    static let maximumHelloResends = 20

    public weak var events: (any ConnectionEvents)?
    public let friend: PeerID
    /// Who introduced us (their display name), or nil when we were not introduced.
    public let introducedBy: String?
    public private(set) var endpoint: InetSocketAddress
    public private(set) var counters = Counters()
    /// RTT and probe loss of the path (`MeshRouter`'s link cost, `peer/print`).
    public private(set) var monitor: PathMonitor
    public let isInitiator: Bool
    unowned let owner: any DatagramConnectionOwner
    unowned let batch: any DatagramBatching

    private var session: NoiseDatagramCipher
    private var sessionSince: Instant
    /// The session before the last rekey: still opened until it expires, so datagrams in
    /// flight across a rekey are kept.
    private var previous: (session: NoiseDatagramCipher, since: Instant)?
    private var confirmed = false
    private var isClosed = false

    private var fragmenter = Fragmenter()
    private var reassembler = Reassembler()
    private var scratch: [UInt8] = []
    private var plaintext: [UInt8] = []
    private var probe: [UInt8] = []
    private var gathered: [UInt8] = []
    private var gatherTotal = 0
    private var inbox: [UInt8] = []
    private var inboxStart = 0
    private var interest: CommInterest = []
    private var unannounced = false
    /// Our hello, resent until the friend shows it has it.
    private var hello: (packet: [UInt8], lastSent: Instant, resends: Int)?
    private var helloAcknowledged = false
    public private(set) var lastReceived: Instant

    init(
        owner: any DatagramConnectionOwner, batch: any DatagramBatching, friend: PeerID, session: NoiseDatagramCipher, endpoint: InetSocketAddress, isInitiator: Bool,
        introducedBy: String?, now: Instant
    ) {
        self.owner = owner
        self.batch = batch
        self.friend = friend
        self.session = session
        self.endpoint = endpoint
        self.isInitiator = isInitiator
        self.introducedBy = introducedBy
        sessionSince = now
        lastReceived = now
        monitor = PathMonitor(now: now)
        // The responder has seen message 3: its session is confirmed from the start.
        confirmed = !isInitiator
        scratch.reserveCapacity(Self.payloadSize)
        plaintext.reserveCapacity(64 * 1024 + 16)
        gathered.reserveCapacity(F2FPacketHeader.encodedCount + F2FPacketHeader.maximumPayloadCount)
        inbox.reserveCapacity(64 * 1024)
        probe.reserveCapacity(F2FPacketHeader.encodedCount + 4)
    }

    public var remoteDescription: String { "udp:\(endpoint)" }
    public var authenticatedIdentity: AuthenticatedIdentity? { AuthenticatedIdentity(publicKey: friend.bytes) }

    /// Our receiver indices: the current session's and the previous one's.
    var localIndices: (current: UInt32, previous: UInt32?) { (session.localIndex, previous?.session.localIndex) }

    /// How old the current session is (the owner rekeys before the cipher's limits).
    func sessionAge(now: Instant) -> Duration { now - sessionSince }

    /// A new session from a new handshake with the same friend (rekey).
    func install(_ newSession: NoiseDatagramCipher, now: Instant) {
        previous = (session, sessionSince)
        session = newSession
        sessionSince = now
        counters.rekeys &+= 1
        // Our message 3 of the new handshake is confirmed by the friend's first datagram under it.
        if isInitiator { confirmed = false }
    }

    // MARK: Writing

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) -> Int {
        guard !isClosed else { throw .alreadyClosed(operation: "datagram link") }
        if gatherTotal == 0 {
            precondition(bytes.count >= F2FPacketHeader.encodedCount, "a packet's header is written whole")
            let total = F2FPacketHeader.encodedCount + (Int(bytes[1]) << 8 | Int(bytes[2]))
            if bytes.count >= total, !needsCopy(UnsafeRawBufferPointer(rebasing: bytes[..<total])) {
                // The whole packet in one write (what `OutboundSlot` does), nothing to keep or
                // clamp: sealed from the caller's bytes.
                send(packet: UnsafeRawBufferPointer(rebasing: bytes[..<total]))
                return total
            }
            gatherTotal = total
            gathered.removeAll(keepingCapacity: true)
        }
        let count = min(bytes.count, gatherTotal - gathered.count)
        gathered.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[..<count]).bindMemory(to: UInt8.self))
        if gathered.count == gatherTotal {
            gatherTotal = 0
            if gathered[0] == F2FPacketType.hello.rawValue, !helloAcknowledged {
                hello = (gathered, batch.now, 0)
            }
            gathered.withUnsafeMutableBytes { Self.mssClamp.clamp($0) }
            gathered.withUnsafeBytes { send(packet: $0) }
        }
        return count
    }

    /// The guests' SYNs are clamped both ways, as on `DatagramLink`: a friend with an older
    /// switch does not clamp what it sends.
    static let mssClamp = PacketMSSClamp(payload: payloadSize)

    /// Whether a packet must be copied before it is sent: a hello to keep for resending, or a
    /// SYN to clamp.
    private func needsCopy(_ packet: UnsafeRawBufferPointer) -> Bool {
        packet[0] == F2FPacketType.hello.rawValue ? !helloAcknowledged : Self.mssClamp.needsClamp(packet)
    }

    private func send(packet: UnsafeRawBufferPointer) {
        let now = batch.now
        do {
            try fragmenter.fragment(packet, maximumPayload: Self.payloadSize, scratch: &scratch) { piece in seal(piece, now: now) }
        } catch {
            counters.sendFailures &+= 1
        }
    }

    /// Seals the piece from where it lies into the socket's send slot (the encryption is the
    /// copy), staged for the batch's `sendmmsg`.
    private func seal(_ piece: UnsafeRawBufferPointer, now: Instant) {
        guard let slot = batch.datagramSlot(for: endpoint), slot.count >= piece.count + NoiseDatagramCipher.overhead else {
            counters.sendFailures &+= 1
            return
        }
        do {
            _ = try session.seal(copying: piece, into: slot, sessionAge: now - sessionSince)
        } catch {
            counters.sendFailures &+= 1  // expired: the owner's rekey is late
            return
        }
        batch.commitDatagram(byteCount: piece.count + NoiseDatagramCipher.overhead, to: endpoint, from: self)
        counters.datagramsOut &+= 1
    }

    /// A staged datagram the socket did not take at the flush (full buffer, unreachable):
    /// dropped, as the network would.
    func sendRefused(byteCount: Int) {
        counters.datagramsOut &-= 1
        counters.sendFailures &+= 1
    }

    /// Sends what the peer's pump staged.
    public func flush() {
        batch.flushDatagrams()
    }

    public func reconfigure(_ interest: CommInterest) {
        // Writes never wait (a datagram the socket refuses is dropped), so the peer asks for
        // writability only in a corner; the next tick answers it, as it announces packets
        // that arrived while the peer was not reading.
        self.interest = interest
        if interest.contains(.readable), inboxStart < inbox.count { unannounced = true }
    }

    // MARK: Reading

    /// A transport datagram naming one of our indices. Returns the rejection, if any.
    func receive(_ bytes: UnsafeRawBufferPointer, index: UInt32, source: DatagramSource, now: Instant) -> NoiseDatagramCipher.Rejection? {
        let result: Result<UInt64, NoiseDatagramCipher.Rejection>
        if index == session.localIndex {
            result = session.open(bytes, plaintext: &plaintext, sessionAge: now - sessionSince)
        } else if var old = previous, old.session.localIndex == index {
            result = old.session.open(bytes, plaintext: &plaintext, sessionAge: now - old.since)
            previous = old
        } else {
            return .wrongReceiver
        }
        if case .failure(let rejection) = result { return rejection }
        counters.datagramsIn &+= 1
        lastReceived = now
        if !confirmed, index == session.localIndex {
            confirmed = true
            owner.confirmed(self)
        }
        if !source.matches(endpoint) {
            // Authenticated, so it is the friend: follow it (NAT rebinding, a new network).
            endpoint = source.address
            counters.roams &+= 1
        }
        if plaintext.first == FragmentHeader.marker {
            let pieces = plaintext
            pieces.withUnsafeBytes { raw in
                guard let header = try? FragmentHeader(parsing: raw) else {
                    counters.malformed &+= 1
                    return
                }
                // A SYN is never large enough to come in fragments: nothing to clamp here.
                _ = reassembler.receive(header, datagram: raw, now: now) { packet in
                    packet.withUnsafeBytes { deliver($0, now: now) }
                }
            }
        } else {
            plaintext.withUnsafeMutableBytes { Self.mssClamp.clamp($0) }
            let whole = plaintext
            whole.withUnsafeBytes { deliver($0, now: now) }
        }
        return nil
    }

    private func deliver(_ packet: UnsafeRawBufferPointer, now: Instant) {
        guard packet.count >= F2FPacketHeader.encodedCount,
            Int(packet[1]) << 8 | Int(packet[2]) == packet.count - F2FPacketHeader.encodedCount
        else {
            counters.malformed &+= 1
            return
        }
        // Path probes are this connection's own business, answered and counted here; taken
        // before the hello check, as the friend's end probes before its peer has our hello.
        if packet.count == F2FPacketHeader.encodedCount + 4, packet[0] == F2FPacketType.udpProbe.rawValue || packet[0] == F2FPacketType.udpEcho.rawValue {
            let sequence = (3..<7).reduce(0) { $0 << 8 | UInt32(packet[$1]) }
            if packet[0] == F2FPacketType.udpProbe.rawValue {
                sendProbe(type: .udpEcho, sequence: sequence)
            } else {
                monitor.probeAnswered(sequence: sequence, now: now)
            }
            return
        }
        if packet[0] != F2FPacketType.hello.rawValue, !helloAcknowledged {
            // The friend sends other packets only once established, i.e. with our hello.
            helloAcknowledged = true
            hello = nil
        }
        if inboxStart == inbox.count {
            inbox.removeAll(keepingCapacity: true)
            inboxStart = 0
        }
        guard packet.count <= inboxRoom else {
            counters.inboxDropped &+= 1
            return
        }
        inbox.append(contentsOf: packet.bindMemory(to: UInt8.self))
        unannounced = true
    }

    /// Tells the peer that packets wait, once per batch of datagrams.
    func announce() {
        guard unannounced, interest.contains(.readable) else { return }
        unannounced = false
        events?.connectionIsReady(self, readable: true, writable: false)
    }

    /// Bytes the inbox can still take: the transport reads its socket only as far as every
    /// inbox has room, so that what the peer cannot take yet waits in the kernel rather than
    /// being opened and then dropped here.
    var inboxRoom: Int { Self.inboxCapacity - (inbox.count - inboxStart) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> CommReadResult {
        guard !isClosed else { throw .alreadyClosed(operation: "datagram link") }
        guard inboxStart < inbox.count else { return .wouldBlock }
        let count = min(buffer.count, inbox.count - inboxStart)
        inbox.withUnsafeBytes { raw in
            buffer.baseAddress!.copyMemory(from: raw.baseAddress! + inboxStart, byteCount: count)
        }
        inboxStart += count
        if inboxStart == inbox.count { batch.inboxMayTakeMore() }
        return .bytes(count)
    }

    // MARK: Time

    func tick(now: Instant) {
        reassembler.expire(now: now)
        switch monitor.tick(now: now) {
        case .sendProbe(let sequence)?:
            sendProbe(type: .udpProbe, sequence: sequence)
        case .declareDead?:
            // Whether the link lives is the peer's call (its keepalives); the monitor only
            // measures, so it goes on probing (and counting the losses).
            monitor.received(now: now)
        case nil:
            break
        }
        if interest.contains(.writable) { events?.connectionIsReady(self, readable: false, writable: true) }
        announce()
        if var pending = hello, now - pending.lastSent >= Self.helloInterval {
            guard pending.resends < Self.maximumHelloResends else {
                hello = nil
                return
            }
            pending.lastSent = now
            pending.resends += 1
            hello = pending
            counters.helloResends &+= 1
            pending.packet.withUnsafeBytes { send(packet: $0) }
        }
    }

    /// Only echoes count as hearing from the friend in `monitor`, so probes go out every
    /// `probeSpacing` however busy the link is (a busy link still gets RTT samples).
    private func sendProbe(type: F2FPacketType, sequence: UInt32) {
        probe.removeAll(keepingCapacity: true)
        F2FPacketHeader(type: type, payloadCount: 4).encode(into: &probe)
        probe.appendBigEndian(sequence)
        let packet = probe
        packet.withUnsafeBytes { send(packet: $0) }
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        events = nil
        owner.closed(self)
    }
}
