import EthernetSwitch
import F2FBase
import F2FCore
import F2FPosix
import F2FSecure

/// The UDP path of one friend link: seals the frames `PathSwitchingConnection` hands it into
/// transport datagrams (fragmented above `payloadSize`), opens the datagrams `UDPTransport`
/// routes to it by receiver index, answers and sends path probes, and keeps `PathSelection`
/// (UDP or the stream) and `PathMonitor` (RTT, loss) fed.
///
/// Keys come from `udp-offer` packets on the authenticated stream (`UDPOffer`): ours for
/// receiving, drawn by `UDPTransport`, the friend's for sending. A new offer of ours leaves the
/// previous receive session open until it expires, so datagrams in flight across a rekey are
/// not lost.
/// What a `DatagramLink` needs from its owner (`UDPTransport`; a fake in unit tests, which run
/// links on virtual time without sockets).
protocol DatagramLinkOwner: DatagramBatching {
    func pathChanged(_ link: DatagramLink, to path: PathSelection.Path)
}

public final class DatagramLink: DatagramPath, StagedDatagramSender {
    public struct Counters: Sendable {
        public var datagramsIn: UInt64 = 0
        public var datagramsOut: UInt64 = 0
        public var fragmentsIn: UInt64 = 0
        public var fragmentsOut: UInt64 = 0
        /// Datagrams the socket did not take (full buffer, unreachable): dropped as the network would.
        public var sendFailures: UInt64 = 0
        /// Authenticated plaintext that was not a packet we accept over UDP.
        public var malformed: UInt64 = 0
        /// Authenticated datagrams from a new address that moved the endpoint there.
        public var roams: UInt64 = 0
    }

    /// Plaintext per datagram until a larger size is confirmed: passes any IPv6 path (1280 − 40
    /// − 8 − 32 of transport header and tag); larger packets are fragmented.
    public static let basePayloadSize = 1200
    /// Sizes probed above it, smallest first (RFC 8899 DPLPMTUD in its simplest form): a
    /// 1500-byte path (IPv4: 1500 − 20 − 8 − 32; IPv6: 1500 − 40 − 8 − 32), then a 9000-byte
    /// one (jumbo-frame LANs; loopback), where a 1514-byte frame goes whole.
    static let probedPayloads: (ipv4: [Int], ipv6: [Int]) = ([1440, 8940], [1420, 8920])
    /// Padded probes are this far apart, and a size is given up after this many unanswered.
    static let mtuProbeSpacing: Duration = .milliseconds(200)
    static let mtuProbeTries = 3
    /// The two high bits of a probe's sequence: a padded path-MTU probe; the low bits say
    /// which size, so a late echo still confirms the right one.
    static let mtuProbe: UInt32 = 0xC000_0000
    /// Our receive key is replaced this often (the cipher reports rekeys due at 120 s and
    /// refuses at 180 s; the previous session stays open meanwhile).
    static let rekeyInterval: Duration = .seconds(60)
    /// High bit of a probe's sequence: sent by `PathSelection` (trying UDP), not `PathMonitor`.
    static let selectionProbe: UInt32 = 0x8000_0000

    unowned let transport: any DatagramLinkOwner
    public private(set) weak var connection: PathSwitchingConnection?
    public private(set) var counters = Counters()
    /// Where datagrams go: the friend's stream address with its offered port, then wherever its
    /// latest authenticated datagram came from (roaming).
    public private(set) var endpoint: InetSocketAddress?
    private let streamHost: InetSocketAddress?
    public private(set) var selection: PathSelection?
    public private(set) var monitor: PathMonitor

    private var sender: NoiseDatagramCipher?
    private var senderSince: Instant
    private(set) var receiver: NoiseDatagramCipher
    private var receiverSince: Instant
    /// The highest counter authenticated under `receiver`: only a datagram above it moves the
    /// endpoint (WireGuard's rule), so a late or reordered datagram from the friend's old
    /// address does not move it back.
    private var receiverHighest: UInt64?
    private var previousReceiver: NoiseDatagramCipher?
    private var previousSince: Instant
    /// Our offer, due to go out on the stream.
    var pendingOffer: UDPOffer?

    private var fragmenter = Fragmenter()
    private var reassembler = Reassembler()
    /// Packets given up in reassembly (a fragment lost or late), for `peer/print`.
    public var reassemblyCounters: Reassembler.Counters { reassembler.counters }
    private var scratch: [UInt8] = []
    private var actions: [PathSelection.Action] = []
    private var nextSelectionProbe: UInt32 = 0
    /// The last selection probes, so that their echoes also give the monitor RTT samples: until
    /// it has one, the monitor's RTO (1 s) would space its probes as far apart as the silence
    /// that makes `PathSelection` fall back. The last few, so that a path whose RTT exceeds the 250 ms probe spacing still gives
    /// samples (a busy link sends the monitor's own probes never, so these are its only ones).
    private var selectionProbes = [(sequence: UInt32, sentAt: Instant)?](repeating: nil, count: 8)
    private var lastProbeSent = Instant(nanoseconds: 0)
    /// Plaintext per datagram on this path (`basePayloadSize`, or the largest probed size an
    /// echo confirmed). Frames up to it minus the F2F header cross in one datagram, and the
    /// guests' TCP is clamped to fit it.
    public private(set) var payloadSize = DatagramLink.basePayloadSize
    /// The path-MTU search: the next size to try, the tries it had, when the last went out.
    private var mtuCandidate = 0
    private var mtuTries = 0
    private var mtuProbeSent = Instant(nanoseconds: 0)

    init(transport: any DatagramLinkOwner, connection: PathSwitchingConnection, streamHost: InetSocketAddress?, offer: UDPOffer, now: Instant) {
        self.transport = transport
        self.connection = connection
        self.streamHost = streamHost
        monitor = PathMonitor(now: now)
        receiver = Self.receiveSession(offer)
        receiverSince = now
        senderSince = now
        previousSince = now
        pendingOffer = offer
        scratch.reserveCapacity(9000)  // the largest probe: built once, never grown
        actions.reserveCapacity(4)
    }

    private static func receiveSession(_ offer: UDPOffer) -> NoiseDatagramCipher {
        // The sending half of this session is never used: our sends go through `sender`.
        NoiseDatagramCipher(sending: offer.key, receiving: offer.key, localIndex: offer.index, remoteIndex: 0)
    }

    public var carriesFrames: Bool { selection?.path == .udp }

    public var liveness: LinkLiveness.DatagramReport {
        LinkLiveness.DatagramReport(
            lastHeard: monitor.lastDatagram, retransmissionTimeout: monitor.rtt.smoothed == nil ? nil : monitor.rtt.retransmissionTimeout)
    }

    var localIndices: (current: UInt32, previous: UInt32?) { (receiver.localIndex, previousReceiver?.localIndex) }

    // MARK: Offers

    /// The friend's offer: its key and index for our datagrams, and its port.
    func accept(_ offer: UDPOffer, now: Instant) {
        sender = NoiseDatagramCipher(sending: offer.key, receiving: offer.key, localIndex: 0, remoteIndex: offer.index)
        senderSince = now
        if endpoint == nil, let host = streamHost {
            let port = host.isIPv6 ? offer.portIPv6 : offer.portIPv4
            if port != 0 { endpoint = host.withPort(port) }
        }
        if selection == nil, endpoint != nil { selection = PathSelection(now: now) }
    }

    /// A new receive key of ours (rekey); the previous one stays open until it expires.
    func renew(with offer: UDPOffer, now: Instant) {
        previousReceiver = receiver
        previousSince = receiverSince
        receiver = Self.receiveSession(offer)
        receiverSince = now
        receiverHighest = nil
        pendingOffer = offer
    }

    var rekeyDue: Instant { receiverSince + Self.rekeyInterval }

    // MARK: Sending

    public func send(packet: UnsafeRawBufferPointer) {
        guard sender != nil, let endpoint else { return }
        // Taken once per packet: every use of an unowned reference checks and counts it.
        let transport = transport
        let now = transport.now
        do {
            try fragmenter.fragment(packet, maximumPayload: payloadSize, scratch: &scratch) { piece in
                if piece.first == FragmentHeader.marker { counters.fragmentsOut &+= 1 }
                seal(piece, to: endpoint, now: now, through: transport)
            }
        } catch {
            counters.sendFailures &+= 1  // larger than 64 fragments: never from a frame
        }
    }

    /// Builds the datagram in the socket's send slot, staged for the batch's `sendmmsg`: the
    /// piece encrypted from where it lies into the slot (the encryption is the copy), or, for
    /// a frame whose SYN needs its MSS clamped, copied in, clamped, and sealed there in place.
    private func seal(_ piece: UnsafeRawBufferPointer, to endpoint: InetSocketAddress, now: Instant, through transport: any DatagramLinkOwner) {
        guard let slot = transport.datagramSlot(for: endpoint), slot.count >= piece.count + NoiseDatagramCipher.overhead else {
            counters.sendFailures &+= 1
            return
        }
        do {
            // Fragments start with their marker, not a frame type: only whole packets are clamped.
            if mssClamp.needsClamp(piece) {
                let text = UnsafeMutableRawBufferPointer(rebasing: slot[NoiseDatagramCipher.headerCount..<NoiseDatagramCipher.headerCount + piece.count])
                text.copyMemory(from: piece)
                mssClamp.clamp(text)
                _ = try sender?.seal(inPlace: slot, plaintextCount: piece.count, sessionAge: now - senderSince)
            } else {
                _ = try sender?.seal(copying: piece, into: slot, sessionAge: now - senderSince)
            }
        } catch {
            counters.sendFailures &+= 1  // expired: the friend's next offer brings a new key
            return
        }
        transport.commitDatagram(byteCount: piece.count + NoiseDatagramCipher.overhead, to: endpoint, from: self)
        counters.datagramsOut &+= 1
    }

    public func inboxMayTakeMore() {
        transport.inboxMayTakeMore()
    }

    /// Sends what this burst staged.
    public func flush() {
        transport.flushDatagrams()
    }

    /// A staged datagram of `byteCount` bytes the socket did not take (full buffer,
    /// unreachable): dropped, as the network would. A padded path-MTU probe larger than the
    /// local interface carries is refused too (DF): that is the probe's answer, not a failure.
    func sendRefused(byteCount: Int) {
        counters.datagramsOut &-= 1
        if byteCount > payloadSize + NoiseDatagramCipher.overhead { return }
        counters.sendFailures &+= 1
    }

    private func sendProbe(type: F2FPacketType, sequence: UInt32) {
        guard sender != nil, let endpoint else { return }
        if type == .udpProbe { lastProbeSent = transport.now }
        scratch.removeAll(keepingCapacity: true)
        F2FPacketHeader(type: type, payloadCount: 4).encode(into: &scratch)
        scratch.appendBigEndian(sequence)
        let now = transport.now
        scratch.withUnsafeBytes { seal($0, to: endpoint, now: now, through: transport) }
    }

    // MARK: Receiving

    /// A transport datagram whose receiver index is one of ours, opened in place (its bytes
    /// are the receive slot's, and are changed). Returns the rejection, if any, for the
    /// transport's counters.
    func receive(_ bytes: UnsafeMutableRawBufferPointer, index: UInt32, source: DatagramSource, now: Instant) -> NoiseDatagramCipher.Rejection? {
        let result: Result<UInt64, NoiseDatagramCipher.Rejection>
        if index == receiver.localIndex {
            result = receiver.open(inPlace: bytes, sessionAge: now - receiverSince)
        } else if previousReceiver?.localIndex == index {
            result = previousReceiver!.open(inPlace: bytes, sessionAge: now - previousSince)
        } else {
            return .wrongReceiver
        }
        let counter: UInt64
        switch result {
        case .success(let value): counter = value
        case .failure(let rejection): return rejection
        }
        counters.datagramsIn &+= 1
        var newest = false
        if index == receiver.localIndex, receiverHighest.map({ counter > $0 }) ?? true {
            receiverHighest = counter
            newest = true
        }
        if newest || endpoint == nil, endpoint.map({ !source.matches($0) }) ?? true {
            // Authenticated, so it is the friend: follow it (NAT rebinding, a new network).
            endpoint = source.address
            counters.roams &+= 1
            // Another path: its MTU is found again from the size every path carries.
            payloadSize = Self.basePayloadSize
            mtuCandidate = 0
            mtuTries = 0
            if selection == nil, sender != nil { selection = PathSelection(now: now) }
        }
        // Life for the monitor; but only an echo of our own probe keeps frames on UDP: a
        // datagram from the friend says nothing of whether ours reach it, and a one-way block
        // must not keep our frames in a black hole while the friend's TCP link stays silent.
        monitor.received(now: now)
        let plaintext = NoiseDatagramCipher.plaintext(of: bytes)
        if plaintext.first == FragmentHeader.marker {
            counters.fragmentsIn &+= 1
            guard let header = try? FragmentHeader(parsing: plaintext) else {
                counters.malformed &+= 1
                return nil
            }
            _ = reassembler.receive(header, datagram: plaintext, now: now) { packet in
                packet.withUnsafeBytes { handle($0, inReceiveSlot: false, now: now) }
            }
        } else {
            // Also on receiving: a friend with an older switch does not clamp what it sends.
            mssClamp.clamp(UnsafeMutableRawBufferPointer(rebasing: bytes[NoiseDatagramCipher.headerCount..<bytes.count - NoiseDatagramCipher.tagCount]))
            handle(plaintext, inReceiveSlot: true, now: now)
        }
        return nil
    }

    public func clampedForStream(_ payload: UnsafeRawBufferPointer, of type: F2FPacketType, into copy: UnsafeMutableRawBufferPointer) -> Bool {
        let clamp = mssClamp
        guard let offset = PacketMSSClamp.frameOffset(inPacketOf: type.rawValue).map({ $0 - F2FPacketHeader.encodedCount }),
            offset < payload.count, copy.count >= payload.count,
            TCPMSSClamp.needsClamp(UnsafeRawBufferPointer(rebasing: payload[offset...]), maximumFrameCount: clamp.maximumFrameCount)
        else { return false }
        copy.baseAddress!.copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        TCPMSSClamp.clamp(UnsafeMutableRawBufferPointer(rebasing: copy[offset..<payload.count]), maximumFrameCount: clamp.maximumFrameCount)
        return true
    }

    /// Clamps for this path's payload, which path-MTU probing may raise.
    var mssClamp: PacketMSSClamp { PacketMSSClamp(payload: payloadSize) }

    /// A packet `inReceiveSlot` is lent to the connection (read from the slot until the
    /// transport reuses it); a reassembled one is copied.
    private func handle(_ packet: UnsafeRawBufferPointer, inReceiveSlot: Bool, now: Instant) {
        guard packet.count >= F2FPacketHeader.encodedCount,
            Int(packet[1]) << 8 | Int(packet[2]) == packet.count - F2FPacketHeader.encodedCount
        else {
            counters.malformed &+= 1
            return
        }
        let type = F2FPacketType(rawValue: packet[0])
        switch type {
        case .ethernetFrame, .meshFrame:
            if inReceiveSlot {
                connection?.lend(packet: packet)
            } else {
                connection?.deliver(packet: packet)
            }
        case .udpProbe where packet.count >= 7:
            sendProbe(type: .udpEcho, sequence: sequence(in: packet))
        case .udpEcho where packet.count >= 7:
            let sequence = sequence(in: packet)
            if sequence & Self.mtuProbe == Self.mtuProbe {
                mtuProbeAnswered(candidate: Int(sequence & 0xFF))
            } else if sequence & Self.selectionProbe != 0 {
                let slot = Int(sequence % UInt32(selectionProbes.count))
                if let probe = selectionProbes[slot], probe.sequence == sequence {
                    monitor.addRTTSample(now - probe.sentAt)
                    selectionProbes[slot] = nil
                }
            } else {
                monitor.probeAnswered(sequence: sequence, now: now)
            }
            // Any echo shows datagrams pass both ways.
            actions.removeAll(keepingCapacity: true)
            selection?.probeAnswered(now: now, actions: &actions)
            perform(now: now)
        default:
            counters.malformed &+= 1
        }
    }

    private func sequence(in packet: UnsafeRawBufferPointer) -> UInt32 {
        (3..<7).reduce(0) { $0 << 8 | UInt32(packet[$1]) }
    }

    // MARK: Time

    func tick(now: Instant) {
        reassembler.expire(now: now)
        guard selection != nil else { return }
        actions.removeAll(keepingCapacity: true)
        selection?.tick(now: now, actions: &actions)
        perform(now: now)
        guard let selection, selection.path == .udp else { return }
        if now - mtuProbeSent >= Self.mtuProbeSpacing { sendMTUProbe(now: now) }
        if case .sendProbe(let sequence)? = monitor.tick(now: now) {
            sendProbe(type: .udpProbe, sequence: sequence & ~Self.selectionProbe)
        } else if now - lastProbeSent >= selection.configuration.probeInterval {
            // Echoes are what keeps frames on UDP, so a busy link probes too, a few small
            // datagrams a second.
            sendSelectionProbe(now: now)
        }
    }

    // MARK: Path MTU

    private var mtuCandidates: [Int] {
        endpoint?.isIPv6 == true ? Self.probedPayloads.ipv6 : Self.probedPayloads.ipv4
    }

    /// The next padded probe of the search, if it is not over: a probe packet padded to the
    /// candidate size, sent with DF (the socket's IP_PMTUDISC_PROBE), so it arrives whole or
    /// not at all; a size the local interface cannot send is refused by the socket.
    private func sendMTUProbe(now: Instant) {
        let candidates = mtuCandidates
        if mtuTries == Self.mtuProbeTries {
            mtuCandidate += 1  // three unanswered: too big for this path
            mtuTries = 0
        }
        guard mtuCandidate < candidates.count, sender != nil, let endpoint else { return }
        let size = candidates[mtuCandidate]
        mtuTries += 1
        mtuProbeSent = now
        scratch.removeAll(keepingCapacity: true)
        F2FPacketHeader(type: .udpProbe, payloadCount: size - F2FPacketHeader.encodedCount).encode(into: &scratch)
        scratch.appendBigEndian(Self.mtuProbe | UInt32(mtuCandidate))
        scratch.append(contentsOf: repeatElement(0, count: size - scratch.count))
        scratch.withUnsafeBytes { seal($0, to: endpoint, now: now, through: transport) }
    }

    /// An echo of a padded probe: datagrams of that size pass both ways; the search goes on
    /// with the next size.
    private func mtuProbeAnswered(candidate: Int) {
        let candidates = mtuCandidates
        guard candidate < candidates.count else { return }
        payloadSize = max(payloadSize, candidates[candidate])
        if candidate >= mtuCandidate {
            mtuCandidate = candidate + 1
            mtuTries = 0
        }
    }

    private func sendSelectionProbe(now: Instant) {
        let sequence = Self.selectionProbe | nextSelectionProbe
        selectionProbes[Int(sequence % UInt32(selectionProbes.count))] = (sequence, now)
        sendProbe(type: .udpProbe, sequence: sequence)
        nextSelectionProbe = (nextSelectionProbe &+ 1) & ~Self.selectionProbe
    }

    private func perform(now: Instant) {
        for action in actions {
            switch action {
            case .sendProbe:
                sendSelectionProbe(now: now)
            case .switchTo(let path):
                if path == .udp { monitor.received(now: now) }
                transport.pathChanged(self, to: path)
            }
        }
        actions.removeAll(keepingCapacity: true)
    }
}
