import F2FBase
import F2FCore
import F2FPosix
import F2FSecure
import Logging

/// Friend links over UDP (issue 15, slice 1): the node's UDP sockets (IPv4 and IPv6, on the
/// `--listen` port or an ephemeral one), one `DatagramLink` per friend link whose connection is
/// a `PathSwitchingConnection`, the `udp-offer` exchange over the authenticated stream, and the
/// routing of inbound datagrams by receiver index.
///
/// A stranger's datagram costs a length check and one dictionary lookup (unknown index), or in
/// addition the replay bitmap or one AEAD check; it is then counted in `counters`, never logged
/// and never allocated for.
public final class UDPTransport: CoreListener, OutboundProducer, DatagramLinkOwner, DrainableSocket {
    /// Datagrams dropped before reaching a link's packets (`limits/print`).
    public struct Counters: Sendable {
        public var malformed: UInt64 = 0
        public var unknownIndex: UInt64 = 0
        public var tooOld: UInt64 = 0
        public var duplicates: UInt64 = 0
        public var forged: UInt64 = 0
        public var expired: UInt64 = 0
        /// Longer than any packet (cut by the receive buffer).
        public var oversize: UInt64 = 0
        public var receiveErrors: UInt64 = 0
        /// Times a socket was left unread because an inbox had no room and its peer did not
        /// read (its datagrams then waited in the kernel, not dropped after opening).
        public var receiveHolds: UInt64 = 0

        public var dropped: UInt64 { malformed &+ unknownIndex &+ tooOld &+ duplicates &+ forged &+ expired &+ oversize }
    }

    /// What the kernel's UDP offloads did (`limits/print`): runs of datagrams sent as one
    /// segmented message (GSO) and received coalesced (GRO), and refusals that turned
    /// segmentation off on a socket.
    public struct Offload: Sendable {
        public var segmentation = false
        public var segmentationRefusals: UInt64 = 0
        public var segmentedMessages: UInt64 = 0
        public var segmentedDatagrams: UInt64 = 0
        public var coalescing = false
        public var coalescedSlots: UInt64 = 0
        public var coalescedDatagrams: UInt64 = 0
    }

    /// One bound socket, its loop registration and its send batch.
    final class Socket: IOHandler {
        let descriptor: Descriptor
        let isIPv6: Bool
        let port: UInt16
        unowned let transport: UDPTransport
        /// Datagrams staged during the current burst, sent with one `sendmmsg` at its end.
        let batch = InetSendBatch(capacity: UDPTransport.batchCapacity, slotSize: UDPTransport.maximumDatagram)
        /// Which link staged each slot, to count the datagrams the socket refuses.
        var stagedBy: [(any StagedDatagramSender)?]

        /// Whether the kernel hands this socket's datagrams coalesced (UDP_GRO).
        let coalesces: Bool

        init(descriptor: consuming Descriptor, isIPv6: Bool, transport: UDPTransport) {
            port = InetDatagramSocket.boundPort(descriptor.rawValue) ?? 0
            coalesces = InetDatagramSocket.enableCoalescing(descriptor.rawValue)
            self.descriptor = descriptor
            self.isIPv6 = isIPv6
            self.transport = transport
            stagedBy = Array(repeating: nil, count: UDPTransport.batchCapacity)
        }

        func flush() {
            let staged = batch.count
            guard staged > 0 else { return }
            batch.send(on: descriptor.rawValue) { index in stagedBy[index]?.sendRefused(byteCount: batch.byteCount(of: index)) }
            for index in 0..<staged { stagedBy[index] = nil }
        }

        /// Left unread (interest off) while an inbox has no room and its peer does not read.
        var isHeld = false

        func handle(_ readiness: IOReadiness) {
            transport.drain(self)
        }
    }

    public private(set) var counters = Counters()
    private var coalesced = (slots: UInt64(0), datagrams: UInt64(0))

    public var offload: Offload {
        var offload = Offload()
        offload.segmentation = sockets.contains { $0.batch.segmentation }
        offload.coalescing = sockets.contains { $0.coalesces }
        for socket in sockets {
            offload.segmentationRefusals &+= socket.batch.segmentationRefusals
            offload.segmentedMessages &+= socket.batch.segmentedMessages
            offload.segmentedDatagrams &+= socket.batch.segmentedDatagrams
        }
        offload.coalescedSlots = coalesced.slots
        offload.coalescedDatagrams = coalesced.datagrams
        return offload
    }
    /// Links that start over UDP and their handshakes (issue 18); without it, handshake
    /// datagrams count as malformed.
    public internal(set) weak var direct: DirectLinks?
    private let node: F2FNode
    private let loop: any EventLoop
    private let logger: Logger
    private(set) var sockets: [Socket] = []
    /// By peer id, and by each of our receiver indices.
    private var links: [Int: DatagramLink] = [:]
    private var byIndex: [UInt32: DatagramLink] = [:]
    private var peersByLink: [ObjectIdentifier: Peer] = [:]
    /// Replaced by one with room for coalesced runs when a socket coalesces (`start()`).
    private var receiveBatch = InetReceiveBatch(capacity: UDPTransport.batchCapacity, slotSize: UDPTransport.maximumDatagram)
    private let source = DatagramSource()
    private var timer: EventLoop.TimerID?
    /// How a wake-up reads a socket: bounded by the inboxes' room and per wake-up. Replaced
    /// with coalesced slots in `start()`.
    private var drainPolicy = DatagramDrain(
        slotSize: UDPTransport.maximumDatagram, slotCapacity: UDPTransport.batchCapacity, datagramBudget: UDPTransport.receiveBudget,
        roundBudget: UDPTransport.receiveRounds)
    /// The socket the running drain reads, and what the wake-up's datagrams came at.
    private var draining: Socket?
    private var drainNow = Instant(nanoseconds: 0)

    static let tickInterval: Duration = .milliseconds(25)
    /// Datagrams per wake-up, so that a flood cannot starve the rest of the loop (a
    /// `recvmmsg` begun under it may pass it by one batch).
    static let receiveBudget = 256
    /// `recvmmsg` calls per wake-up.
    static let receiveRounds = 8
    /// Datagrams per `recvmmsg`, and staged per socket before a `sendmmsg` (a full batch is
    /// sent at once, so a burst of any size goes out).
    static let batchCapacity = 64
    /// The largest datagram sent or received: a 9000-byte path's UDP payload (jumbo-frame
    /// LANs), rounded up. Longer ones are counted as oversize.
    static let maximumDatagram = 9216
    /// Slots per `recvmmsg` when they hold coalesced runs (64 KiB each, so fewer: one slot
    /// then often holds a whole burst of the friend's).
    static let coalescedBatchCapacity = 16

    public init(node: F2FNode, loop: any EventLoop, logger: Logger) {
        self.node = node
        self.loop = loop
        self.logger = logger
    }

    private static func makeDrainPolicy(for batch: InetReceiveBatch) -> DatagramDrain {
        DatagramDrain(slotSize: batch.slotSize, slotCapacity: batch.capacity, datagramBudget: receiveBudget, roundBudget: receiveRounds)
    }

    var now: Instant { loop.now }

    /// Binds on `host` (every address it resolves to; nil: all) and `port` (0: ephemeral, one
    /// per family).
    public func bind(host: String?, port: UInt16) throws(SystemError) {
        let addresses = try InetStreamSocket.resolve(host: host, port: port, passive: true)
        try InetDatagramSocket.bind(on: addresses, description: "\(host ?? "*"):\(port)") { descriptor, isIPv6 in
            sockets.append(Socket(descriptor: descriptor, isIPv6: isIPv6, transport: self))
        }
    }

    /// The bound ports, for logs and offers (0: no socket of that family).
    public var ports: (ipv4: UInt16, ipv6: UInt16) {
        (sockets.first { !$0.isIPv6 }?.port ?? 0, sockets.first { $0.isIPv6 }?.port ?? 0)
    }

    public func start() throws(SystemError) {
        if sockets.contains(where: \.coalesces) {
            receiveBatch = InetReceiveBatch(capacity: Self.coalescedBatchCapacity, slotSize: InetReceiveBatch.coalescedSlotSize)
        }
        drainPolicy = Self.makeDrainPolicy(for: receiveBatch)
        for socket in sockets {
            do {
                try loop.register(socket.descriptor.rawValue, interest: .readable, handler: socket)
            } catch {
                throw SystemError(error)
            }
        }
        node.addListener(self)
        node.addProducer(self, priority: .control)
        timer = loop.scheduleRepeating(every: Self.tickInterval) { [weak self] in self?.tick() }
    }

    public func stop() {
        if let timer { loop.cancelTimer(timer) }
        timer = nil
        for socket in sockets { loop.deregister(socket.descriptor.rawValue) }
        sockets.removeAll()
        links.removeAll()
        byIndex.removeAll()
        peersByLink.removeAll()
    }

    /// The UDP path of `peer`'s link, if it has one.
    public func link(for peer: Peer) -> DatagramLink? {
        links[peer.id]
    }

    // MARK: Sockets

    func datagramSlot(for endpoint: InetSocketAddress) -> UnsafeMutableRawBufferPointer? {
        guard let socket = socket(for: endpoint) else { return nil }
        if socket.batch.isFull { socket.flush() }
        return socket.batch.nextSlot
    }

    func commitDatagram(byteCount: Int, to endpoint: InetSocketAddress, from sender: any StagedDatagramSender) {
        guard let socket = socket(for: endpoint) else { return }
        socket.stagedBy[socket.batch.count] = sender
        socket.batch.commit(byteCount: byteCount, to: endpoint)
    }

    func flushDatagrams() {
        for socket in sockets { socket.flush() }
    }

    /// One datagram sent at once, outside the batches: handshakes and punches. False when no
    /// socket can reach `endpoint` or it refused the datagram.
    func send(_ datagram: [UInt8], to endpoint: InetSocketAddress) -> Bool {
        guard let socket = socket(for: endpoint) else { return false }
        let sent = datagram.withUnsafeBytes { bytes in try? InetDatagramSocket.send(socket.descriptor.rawValue, bytes, to: endpoint) }
        if case .processed? = sent { return true }
        return false
    }

    private func socket(for endpoint: InetSocketAddress) -> Socket? {
        let isIPv6 = endpoint.isIPv6
        for socket in sockets where socket.isIPv6 == isIPv6 { return socket }
        return nil
    }

    fileprivate func drain(_ socket: Socket) {
        drainNow = loop.now
        draining = socket
        // Echoes (and whatever the peers forwarded) leave in one batch after.
        defer {
            draining = nil
            direct?.announce()
            flushDatagrams()
        }
        if drainPolicy.run(self) == .held { hold(socket) }
    }

    /// Stops reading `socket` until a peer reads again (`inboxMayTakeMore`) or the next tick
    /// finds room: level-triggered, a socket left unread would wake the loop at once again.
    private func hold(_ socket: Socket) {
        guard !socket.isHeld else { return }
        socket.isHeld = true
        counters.receiveHolds &+= 1
        loop.setInterest([], for: socket.descriptor.rawValue)
    }

    private func releaseHeldSockets() {
        for socket in sockets where socket.isHeld {
            socket.isHeld = false
            loop.setInterest(.readable, for: socket.descriptor.rawValue)
        }
    }

    /// The next drain offers the waiting packets first, and holds the socket again if their
    /// peer stops before there is room.
    func inboxMayTakeMore() {
        releaseHeldSockets()
    }

    // MARK: DrainableSocket

    public var inboxRoom: Int {
        var room = direct?.inboxRoom ?? Int.max
        for link in links.values {
            if let connection = link.connection { room = min(room, connection.inboxRoom) }
        }
        return room
    }

    public func receive(slots: Int) -> (slots: Int, datagrams: Int)? {
        guard let socket = draining else { return nil }
        // The slots are reused: packets the peers have not read are copied out of them.
        for link in links.values { link.connection?.settle() }
        let received: IOResult<Int>
        do {
            received = try receiveBatch.receive(from: socket.descriptor.rawValue, limit: slots)
        } catch {
            // ICMP errors surface here (port unreachable): the path's probes tell.
            counters.receiveErrors &+= 1
            return (slots, 1)
        }
        guard case .processed(let count) = received, count > 0 else { return nil }
        var datagrams = 0
        for slot in 0..<count { datagrams += receive(slot, now: drainNow) }
        return (count, datagrams)
    }

    public func offerWaitingPackets() -> Bool {
        var read = false
        for link in links.values {
            if link.connection?.offerPackets() == true { read = true }
        }
        return read
    }

    /// The datagrams of receive slot `slot` (several when the kernel coalesced a run, each
    /// `segmentSize` bytes but the last); returns how many.
    private func receive(_ slot: Int, now: Instant) -> Int {
        guard !receiveBatch.isTruncated(slot) else {
            counters.oversize &+= 1
            return 1
        }
        let slotBytes = receiveBatch.datagram(slot)
        receiveBatch.source(slot, into: source)
        let segment = receiveBatch.segmentSize(slot)
        guard segment > 0, segment < slotBytes.count else {
            receive(slotBytes, now: now)
            return 1
        }
        var start = 0
        var datagrams = 0
        while start < slotBytes.count {
            let end = min(start + segment, slotBytes.count)
            receive(UnsafeMutableRawBufferPointer(rebasing: slotBytes[start..<end]), now: now)
            datagrams += 1
            start = end
        }
        coalesced.slots &+= 1
        coalesced.datagrams &+= UInt64(datagrams)
        return datagrams
    }

    /// One datagram from `source`, opened in place.
    private func receive(_ datagram: UnsafeMutableRawBufferPointer, now: Instant) {
        // Handshakes and links that started over UDP (NAT traversal) are `direct`'s.
        guard let index = NoiseDatagramCipher.receiverIndex(of: UnsafeRawBufferPointer(datagram)) else {
            if direct?.receiveHandshake(UnsafeRawBufferPointer(datagram), source: source, now: now) != true { counters.malformed &+= 1 }
            return
        }
        guard let link = byIndex[index] else {
            if let rejection = direct?.receiveTransport(UnsafeRawBufferPointer(datagram), index: index, source: source, now: now) {
                if let rejection { tally(rejection) }
            } else {
                counters.unknownIndex &+= 1
            }
            return
        }
        if let rejection = link.receive(datagram, index: index, source: source, now: now) { tally(rejection) }
    }

    private func tally(_ rejection: NoiseDatagramCipher.Rejection) {
        switch rejection {
        case .malformed: counters.malformed &+= 1
        case .wrongReceiver: counters.unknownIndex &+= 1
        case .tooOld: counters.tooOld &+= 1
        case .duplicate: counters.duplicates &+= 1
        case .forged: counters.forged &+= 1
        case .sessionExpired: counters.expired &+= 1
        }
    }

    /// Whether one of the links keyed over TCP uses `index` (links that start over UDP draw
    /// theirs from the same space).
    func isIndexInUse(_ index: UInt32) -> Bool { byIndex[index] != nil }

    // MARK: Links

    private func makeOffer() -> UDPOffer {
        var index = UInt32.random(in: 1...UInt32.max)
        while byIndex[index] != nil { index = UInt32.random(in: 1...UInt32.max) }
        return UDPOffer(index: index, portIPv4: ports.ipv4, portIPv6: ports.ipv6, key: .random())
    }

    private func open(for peer: Peer) {
        guard links[peer.id] == nil, let connection = peer.connection as? PathSwitchingConnection, !sockets.isEmpty else { return }
        let link = DatagramLink(
            transport: self, connection: connection, streamHost: Self.host(of: connection.remoteDescription), offer: makeOffer(), now: loop.now)
        links[peer.id] = link
        byIndex[link.localIndices.current] = link
        peersByLink[ObjectIdentifier(link)] = peer
        connection.datagrams = link
        peer.pumpOutbound()
    }

    private func close(for peer: Peer) {
        guard let link = links.removeValue(forKey: peer.id) else { return }
        byIndex[link.localIndices.current] = nil
        if let previous = link.localIndices.previous { byIndex[previous] = nil }
        peersByLink[ObjectIdentifier(link)] = nil
    }

    /// The numeric host of a stream's `HOST:PORT` / `[V6]:PORT` description (port kept; the
    /// offer's port replaces it).
    static func host(of description: String) -> InetSocketAddress? {
        guard let colon = description.lastIndex(of: ":"), let port = UInt16(description[description.index(after: colon)...]) else { return nil }
        var host = description[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return (try? InetStreamSocket.resolve(host: String(host), port: port, passive: false))?.first
    }

    func pathChanged(_ link: DatagramLink, to path: PathSelection.Path) {
        let name = peersByLink[ObjectIdentifier(link)]?.displayName ?? "?"
        switch path {
        case .udp:
            logger.info("friend link on UDP", metadata: ["peer": "\(name)", "endpoint": "\(link.endpoint.map(String.init(describing:)) ?? "-")"])
        case .tcp:
            logger.info("friend link falls back to TCP: UDP silent", metadata: ["peer": "\(name)"])
        }
    }

    private func tick() {
        let now = loop.now
        defer { flushDatagrams() }  // the probes
        // A peer that stopped at its own read budget is offered the rest; a held socket is
        // read again once there is room.
        while offerWaitingPackets() {}
        if sockets.contains(where: \.isHeld), drainPolicy.slots(forRoom: inboxRoom) > 0 { releaseHeldSockets() }
        for (_, link) in links {
            link.tick(now: now)
            if now >= link.rekeyDue, let peer = peersByLink[ObjectIdentifier(link)] {
                if let previous = link.localIndices.previous { byIndex[previous] = nil }
                let offer = makeOffer()
                link.renew(with: offer, now: now)
                byIndex[offer.index] = link
                peer.pumpOutbound()
            }
        }
    }

    // MARK: CoreListener, OutboundProducer

    public func handle(_ event: CoreEvent, peer: Peer, payload: UnsafeRawBufferPointer, context: AnyObject?) -> ListenerVerdict {
        switch event {
        case .connected:
            open(for: peer)
            return .ignored
        case .disconnected:
            close(for: peer)
            return .ignored
        case .packet(.udpOffer):
            if let offer = UDPOffer(parsing: payload), let link = links[peer.id] {
                link.accept(offer, now: loop.now)
            }
            return .claimed
        case .packet, .writable:
            return .ignored
        }
    }

    public func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        guard let link = links[peer.id], let offer = link.pendingOffer else { return false }
        link.pendingOffer = nil
        slot.load(.udpOffer) { buffer in offer.encode(into: buffer) }
        return true
    }
}
