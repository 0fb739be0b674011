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
protocol DatagramLinkOwner: AnyObject {
    var now: Instant { get }
    /// Sends one datagram; false when the socket did not take it.
    func send(_ datagram: [UInt8], to endpoint: InetSocketAddress) -> Bool
    func pathChanged(_ link: DatagramLink, to path: PathSelection.Path)
}

public final class DatagramLink: DatagramPath {
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

    /// Plaintext per datagram: passes any IPv6 path (1280 − 40 − 8 − 32 of transport header
    /// and tag); larger packets are fragmented. Probing it up (DPLPMTUD) is a later step.
    public static let payloadSize = 1200
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
    private var datagram: [UInt8] = []
    private var plaintext: [UInt8] = []
    private var actions: [PathSelection.Action] = []
    private var nextSelectionProbe: UInt32 = 0
    /// The last selection probes, so that their echoes also give the monitor RTT samples: until
    /// it has one, the monitor's RTO (1 s) would space its probes as far apart as the silence
    /// that makes `PathSelection` fall back. The last few, so that a path whose RTT exceeds the 250 ms probe spacing still gives
    /// samples (a busy link sends the monitor's own probes never, so these are its only ones).
    private var selectionProbes = [(sequence: UInt32, sentAt: Instant)?](repeating: nil, count: 8)
    private var lastProbeSent = Instant(nanoseconds: 0)

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
        scratch.reserveCapacity(Self.payloadSize)
        datagram.reserveCapacity(Self.payloadSize + NoiseDatagramCipher.overhead)
        plaintext.reserveCapacity(64 * 1024 + 16)
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
        let now = transport.now
        do {
            try fragmenter.fragment(packet, maximumPayload: Self.payloadSize, scratch: &scratch) { piece in
                if piece.first == FragmentHeader.marker { counters.fragmentsOut &+= 1 }
                seal(piece, to: endpoint, now: now)
            }
        } catch {
            counters.sendFailures &+= 1  // larger than 64 fragments: never from a frame
        }
    }

    private func seal(_ piece: UnsafeRawBufferPointer, to endpoint: InetSocketAddress, now: Instant) {
        do {
            _ = try sender?.seal(piece, into: &datagram, sessionAge: now - senderSince)
        } catch {
            counters.sendFailures &+= 1  // expired: the friend's next offer brings a new key
            return
        }
        if transport.send(datagram, to: endpoint) {
            counters.datagramsOut &+= 1
        } else {
            counters.sendFailures &+= 1
        }
    }

    private func sendProbe(type: F2FPacketType, sequence: UInt32) {
        guard sender != nil, let endpoint else { return }
        if type == .udpProbe { lastProbeSent = transport.now }
        scratch.removeAll(keepingCapacity: true)
        F2FPacketHeader(type: type, payloadCount: 4).encode(into: &scratch)
        scratch.appendBigEndian(sequence)
        let now = transport.now
        scratch.withUnsafeBytes { seal($0, to: endpoint, now: now) }
    }

    // MARK: Receiving

    /// A transport datagram whose receiver index is one of ours. Returns the rejection, if any,
    /// for the transport's counters.
    func receive(_ bytes: UnsafeRawBufferPointer, index: UInt32, source: DatagramSource, now: Instant) -> NoiseDatagramCipher.Rejection? {
        let result: Result<UInt64, NoiseDatagramCipher.Rejection>
        if index == receiver.localIndex {
            result = receiver.open(bytes, plaintext: &plaintext, sessionAge: now - receiverSince)
        } else if previousReceiver?.localIndex == index {
            result = previousReceiver!.open(bytes, plaintext: &plaintext, sessionAge: now - previousSince)
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
            if selection == nil, sender != nil { selection = PathSelection(now: now) }
        }
        // Life for the monitor; but only an echo of our own probe keeps frames on UDP: a
        // datagram from the friend says nothing of whether ours reach it, and a one-way block
        // must not keep our frames in a black hole while the friend's TCP link stays silent.
        monitor.received(now: now)
        if plaintext.first == FragmentHeader.marker {
            counters.fragmentsIn &+= 1
            let pieces = plaintext
            pieces.withUnsafeBytes { raw in
                guard let header = try? FragmentHeader(parsing: raw) else {
                    counters.malformed &+= 1
                    return
                }
                _ = reassembler.receive(header, datagram: raw, now: now) { packet in
                    packet.withUnsafeBytes { handle($0, now: now) }
                }
            }
        } else {
            let whole = plaintext
            whole.withUnsafeBytes { handle($0, now: now) }
        }
        return nil
    }

    private func handle(_ packet: UnsafeRawBufferPointer, now: Instant) {
        guard packet.count >= F2FPacketHeader.encodedCount,
            Int(packet[1]) << 8 | Int(packet[2]) == packet.count - F2FPacketHeader.encodedCount
        else {
            counters.malformed &+= 1
            return
        }
        let type = F2FPacketType(rawValue: packet[0])
        switch type {
        case .ethernetFrame, .meshFrame:
            connection?.deliver(packet: packet)
        case .udpProbe where packet.count >= 7:
            sendProbe(type: .udpEcho, sequence: sequence(in: packet))
        case .udpEcho where packet.count >= 7:
            let sequence = sequence(in: packet)
            if sequence & Self.selectionProbe != 0 {
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
        if case .sendProbe(let sequence)? = monitor.tick(now: now) {
            sendProbe(type: .udpProbe, sequence: sequence & ~Self.selectionProbe)
        } else if now - lastProbeSent >= selection.configuration.probeInterval {
            // Echoes are what keeps frames on UDP, so a busy link probes too, a few small
            // datagrams a second.
            sendSelectionProbe(now: now)
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
