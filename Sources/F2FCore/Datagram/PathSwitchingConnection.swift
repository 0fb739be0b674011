/// The datagram half of a friend link, as `PathSwitchingConnection` sees it (the UDP provider's
/// `DatagramLink`).
public protocol DatagramPath: AnyObject {
    /// Whether frames go over datagrams now (`PathSelection` names UDP).
    var carriesFrames: Bool { get }
    /// Sends one whole F2F packet (header and payload), lent for the call. Never fails: a
    /// datagram that cannot go is dropped and counted, as the network would. It may wait
    /// for `flush()`, which the peer calls at the end of each burst.
    func send(packet: UnsafeRawBufferPointer)
    /// Sends what `send(packet:)` staged (one `sendmmsg` per burst).
    func flush()
    /// When an authenticated datagram last came, and the path's RTO: the link's liveness.
    var liveness: LinkLiveness.DatagramReport { get }
    /// Copies the payload of a frame packet about to go over the stream into `copy` with its
    /// TCP SYN's MSS lowered to what one datagram carries, if it needs that, and says whether
    /// it did. A connection opened while frames went over the stream (the first second of a
    /// link, a fallback) would otherwise send full-size segments for its whole life, each of
    /// them two datagrams once frames move back to datagrams.
    func clampedForStream(_ payload: UnsafeRawBufferPointer, of type: F2FPacketType, into copy: UnsafeMutableRawBufferPointer) -> Bool
    /// The peer has read every packet that came as a datagram, or asks to read again after a
    /// pause: a socket left unread for lack of room in this inbox may be read again.
    func inboxMayTakeMore()
}

extension DatagramPath {
    public var liveness: LinkLiveness.DatagramReport { LinkLiveness.DatagramReport(lastHeard: nil, retransmissionTimeout: nil) }
    public func clampedForStream(_ payload: UnsafeRawBufferPointer, of type: F2FPacketType, into copy: UnsafeMutableRawBufferPointer) -> Bool {
        false
    }
    public func inboxMayTakeMore() {}
}

/// A friend link with two paths: the authenticated stream (Noise over TCP) and, once set up,
/// a datagram path. `Peer` keeps writing and reading one stream of whole F2F packets: frame
/// packets go over datagrams while `datagrams.carriesFrames`, every other packet (hello,
/// keepalive, refusal, the UDP offer, the spanning tree) and all frames otherwise go over the
/// stream. Packets that arrived as datagrams are slipped into the read stream between the
/// stream's own packets, never inside one.
///
/// Relies on how `OutboundSlot` and `PacketAssembler` (this module) use a connection: a write
/// never spans two packets and a packet's header comes first, whole; a read never spans two
/// packets either. Order across the two paths is not kept, as Ethernet does not promise it.
public final class PathSwitchingConnection: Connection, ConnectionEvents {
    public struct Counters: Sendable {
        /// Frame packets handed to the datagram path.
        public var framesToDatagrams: UInt64 = 0
        /// Packets that arrived as datagrams and were read by the peer.
        public var packetsFromDatagrams: UInt64 = 0
        /// Packets that arrived as datagrams while the inbox was full. The transport reads a
        /// socket only while every inbox has room for what one read may bring, so this counts
        /// only packets a reassembly completed beyond that.
        public var inboxDropped: UInt64 = 0
    }

    public let stream: any Connection
    public weak var events: (any ConnectionEvents)?
    public var datagrams: (any DatagramPath)?
    public private(set) var counters = Counters()

    private enum Outbound {
        case atBoundary
        /// The rest of a packet going over the stream.
        case streaming(remaining: Int)
        /// A frame packet going over the stream while a datagram path exists: its header goes
        /// first, alone, so that its payload arrives whole at the next write to be looked at.
        case streamingFrameHeader(type: F2FPacketType, total: Int, sent: Int)
        /// A frame's payload going over the stream from our copy in `gather`, its SYN clamped:
        /// the caller's writes carry the same bytes from `sent` on, which are not used.
        case streamingCopy(count: Int, sent: Int)
        /// A frame gathered whole in `gather` before it goes as datagrams.
        case gathering(total: Int, filled: Int)
    }

    private var outbound = Outbound.atBoundary
    /// One packet, allocated once: the frame is contiguous when sealed.
    private let gather: UnsafeMutableRawBufferPointer
    /// Where the stream's inbound packets end: bytes left of the current one, and the header
    /// bytes of the next seen so far.
    private var streamRemaining = 0
    private var streamHeader: (UInt8, UInt8, UInt8) = (0, 0, 0)
    private var streamHeaderFilled = 0
    /// Packets opened in the transport's receive slots, read from there (no copy) until
    /// `settle()`: each packet's bytes, oldest first, and how much of the
    /// first the peer has read. Read after the inbox, whose packets are always older.
    private let lent: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    private var lentHead = 0
    private var lentTail = 0
    private var lentOffset = 0
    /// The bytes of lent packets not read yet.
    private var lentBytes = 0
    /// Whole packets that arrived as datagrams, waiting for the peer to read them: a fixed
    /// buffer, so a peer that stops reading (back-pressure) makes the transport stop reading
    /// the socket (`inboxRoom`), and datagrams wait in, or are dropped by, the kernel.
    private let inbox: UnsafeMutableRawBufferPointer
    private var inboxStart = 0
    private var inboxEnd = 0
    private var interest: CommInterest = []
    /// Bytes the peer has read from the inbox, so the transport sees whether an offer was taken.
    private var bytesReadFromDatagrams = 0

    public init(stream: any Connection, inboxCapacity: Int = 256 * 1024, lendCapacity: Int = 1024) {
        self.stream = stream
        lent = .allocate(capacity: max(lendCapacity, 1))
        lent.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0))
        gather = .allocate(byteCount: F2FPacketHeader.encodedCount + F2FPacketHeader.maximumPayloadCount, alignment: 16)
        inbox = .allocate(byteCount: max(inboxCapacity, F2FPacketHeader.encodedCount + F2FPacketHeader.maximumPayloadCount), alignment: 16)
        stream.events = self
    }

    deinit {
        gather.deallocate()
        inbox.deallocate()
        lent.deallocate()
    }

    public var remoteDescription: String { stream.remoteDescription }
    public var authenticatedIdentity: AuthenticatedIdentity? { stream.authenticatedIdentity }
    public var datagramLiveness: LinkLiveness.DatagramReport? { datagrams?.liveness }

    // MARK: Writing

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) -> Int {
        if case .atBoundary = outbound {
            precondition(bytes.count >= F2FPacketHeader.encodedCount, "a packet's header is written whole")
            let type = F2FPacketType(rawValue: bytes[0])
            let total = F2FPacketHeader.encodedCount + (Int(bytes[1]) << 8 | Int(bytes[2]))
            outbound = .streaming(remaining: total)
            if type == .ethernetFrame || type == .meshFrame, let datagrams {
                outbound = datagrams.carriesFrames
                    ? .gathering(total: total, filled: 0) : .streamingFrameHeader(type: type, total: total, sent: 0)
            }
        }
        switch outbound {
        case .atBoundary:
            preconditionFailure("decided above")
        case .streaming(let remaining):
            let taken = try stream.write(UnsafeRawBufferPointer(rebasing: bytes.prefix(remaining)))
            outbound = taken == remaining ? .atBoundary : .streaming(remaining: remaining - taken)
            return taken
        case .streamingFrameHeader(let type, let total, let sent):
            let headerLeft = F2FPacketHeader.encodedCount - sent
            guard headerLeft == 0 else {
                let taken = try stream.write(UnsafeRawBufferPointer(rebasing: bytes.prefix(headerLeft)))
                outbound = .streamingFrameHeader(type: type, total: total, sent: sent + taken)
                return taken
            }
            let payloadCount = total - F2FPacketHeader.encodedCount
            let payload = UnsafeRawBufferPointer(rebasing: bytes.prefix(payloadCount))
            outbound = payload.count == payloadCount && datagrams?.clampedForStream(payload, of: type, into: gather) == true
                ? .streamingCopy(count: payloadCount, sent: 0) : .streaming(remaining: payloadCount)
            return try write(bytes)
        case .streamingCopy(let count, let sent):
            let offered = min(bytes.count, count - sent)
            let taken = try stream.write(UnsafeRawBufferPointer(rebasing: gather[sent..<sent + offered]))
            outbound = sent + taken == count ? .atBoundary : .streamingCopy(count: count, sent: sent + taken)
            return taken
        case .gathering(let total, let filled):
            if filled == 0, bytes.count >= total {
                // The whole packet in one write (what `OutboundSlot` does): sealed from the
                // caller's bytes, without the copy into `gather`.
                outbound = .atBoundary
                counters.framesToDatagrams &+= 1
                datagrams?.send(packet: UnsafeRawBufferPointer(rebasing: bytes[..<total]))
                return total
            }
            let count = min(bytes.count, total - filled)
            if count > 0 { (gather.baseAddress! + filled).copyMemory(from: bytes.baseAddress!, byteCount: count) }
            guard filled + count == total else {
                outbound = .gathering(total: total, filled: filled + count)
                return count
            }
            outbound = .atBoundary
            counters.framesToDatagrams &+= 1
            datagrams?.send(packet: UnsafeRawBufferPointer(rebasing: gather[..<total]))
            return count
        }
    }

    public func flush() {
        datagrams?.flush()
        stream.flush()
    }

    public func reconfigure(_ interest: CommInterest) {
        let resumes = interest.contains(.readable) && !self.interest.contains(.readable)
        self.interest = interest
        stream.reconfigure(interest)
        // At once, not on the transport's next tick: the socket's buffer fills meanwhile.
        if resumes, holdsPackets { datagrams?.inboxMayTakeMore() }
    }

    // MARK: Reading

    /// The bytes the inbox can still take without dropping, once the lent packets are
    /// settled into it: what the transport bounds its next read by.
    public var inboxRoom: Int { inbox.count - (inboxEnd - inboxStart) - lentBytes }

    /// Whether packets that came as datagrams wait for the peer.
    public var holdsPackets: Bool { inboxStart < inboxEnd || lentHead < lentTail }

    /// A packet that arrived as a datagram and was opened where it lies (the transport's
    /// receive slot), lent until `settle()`: the peer reads it from there, so a frame is
    /// copied once on receiving (into the peer's packet buffer), not twice. Without room to
    /// note it, it is copied as `deliver(packet:)` does.
    public func lend(packet: UnsafeRawBufferPointer) {
        guard lentTail < lent.count else {
            deliver(packet: packet)
            return
        }
        lent[lentTail] = packet
        lentTail += 1
        lentBytes += packet.count
        counters.packetsFromDatagrams &+= 1
    }

    /// The receive slots are about to be reused: what the peer has not read of the lent
    /// packets is copied into the inbox (behind what it holds, which is older).
    public func settle() {
        guard lentHead < lentTail else { return }
        for index in lentHead..<lentTail {
            let unread = UnsafeRawBufferPointer(rebasing: lent[index][(index == lentHead ? lentOffset : 0)...])
            if !append(unread) { counters.packetsFromDatagrams &-= 1 }
        }
        lentHead = 0
        lentTail = 0
        lentOffset = 0
        lentBytes = 0
    }

    /// A packet that arrived as a datagram (header and payload), copied into the inbox. The
    /// peer reads it when the transport calls `offerPackets()`, once per batch of datagrams,
    /// so that it reads them in one go (and the engine forwards them as a batch).
    public func deliver(packet: UnsafeRawBufferPointer) {
        // Lent packets are older and read after the inbox: they go in first.
        if lentHead < lentTail { settle() }
        if append(packet) { counters.packetsFromDatagrams &+= 1 }
    }

    /// Copies `packet` behind the inbox's packets; false (dropped, counted) without room.
    private func append(_ packet: UnsafeRawBufferPointer) -> Bool {
        if inboxStart == inboxEnd {
            inboxStart = 0
            inboxEnd = 0
        }
        if inboxEnd + packet.count > inbox.count, inboxStart > 0 {
            let held = inboxEnd - inboxStart
            inbox.baseAddress!.copyMemory(from: inbox.baseAddress! + inboxStart, byteCount: held)
            inboxStart = 0
            inboxEnd = held
        }
        guard inboxEnd + packet.count <= inbox.count else {
            counters.inboxDropped &+= 1
            return false
        }
        (inbox.baseAddress! + inboxEnd).copyMemory(from: packet.baseAddress!, byteCount: packet.count)
        inboxEnd += packet.count
        return true
    }

    /// Tells the peer that packets from datagrams wait, if any do and it reads now (a peer
    /// paused behind a backed-up port does not). Returns whether it read any: it reads a
    /// bounded number per call, so the transport offers again while it takes them.
    @discardableResult
    public func offerPackets() -> Bool {
        guard holdsPackets, interest.contains(.readable) else { return false }
        let before = bytesReadFromDatagrams
        events?.connectionIsReady(self, readable: true, writable: false)
        return bytesReadFromDatagrams != before
    }

    private var streamAtBoundary: Bool { streamRemaining == 0 && streamHeaderFilled == 0 }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> CommReadResult {
        if streamAtBoundary, inboxStart < inboxEnd {
            let count = min(buffer.count, inboxEnd - inboxStart)
            buffer.baseAddress!.copyMemory(from: inbox.baseAddress! + inboxStart, byteCount: count)
            inboxStart += count
            bytesReadFromDatagrams &+= count
            if !holdsPackets { datagrams?.inboxMayTakeMore() }
            return .bytes(count)
        }
        if streamAtBoundary, lentHead < lentTail {
            let packet = lent[lentHead]
            let count = min(buffer.count, packet.count - lentOffset)
            buffer.baseAddress!.copyMemory(from: packet.baseAddress! + lentOffset, byteCount: count)
            lentOffset += count
            lentBytes -= count
            bytesReadFromDatagrams &+= count
            if lentOffset == packet.count {
                lentHead += 1
                lentOffset = 0
                if lentHead == lentTail {
                    lentHead = 0
                    lentTail = 0
                    if inboxStart == inboxEnd { datagrams?.inboxMayTakeMore() }
                }
            }
            return .bytes(count)
        }
        let result = try stream.read(into: buffer)
        if case .bytes(let count) = result { track(UnsafeRawBufferPointer(rebasing: buffer[..<count])) }
        return result
    }

    /// Follows the stream's packet boundaries through the bytes just read: a header costs a
    /// few steps, a payload one subtraction.
    private func track(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        while index < bytes.count {
            if streamRemaining > 0 {
                let skipped = min(streamRemaining, bytes.count - index)
                streamRemaining -= skipped
                index += skipped
                continue
            }
            switch streamHeaderFilled {
            case 0: streamHeader.0 = bytes[index]
            case 1: streamHeader.1 = bytes[index]
            default: streamHeader.2 = bytes[index]
            }
            streamHeaderFilled += 1
            index += 1
            if streamHeaderFilled == F2FPacketHeader.encodedCount {
                streamHeaderFilled = 0
                streamRemaining = Int(streamHeader.1) << 8 | Int(streamHeader.2)
            }
        }
    }

    public func close() {
        events = nil
        datagrams = nil
        stream.close()
    }

    // MARK: ConnectionEvents (from the stream)

    public func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {
        events?.connectionIsReady(self, readable: readable, writable: writable)
    }

    public func connectionEstablished(_ connection: any Connection) {
        events?.connectionEstablished(self)
    }

    public func connectionClosed(_ connection: any Connection, error: ConnectionError?) {
        events?.connectionClosed(self, error: error)
    }
}
