import F2FBase
import Logging

/// The F2F core: the set of peers, the listeners that observe them and the producers that
/// feed their outbound slots. Pure of I/O: connections come from providers, time from the
/// injected clock (the loop's, or a manual one in tests).
public final class F2FNode: ConnectionAcceptor {
    public struct Configuration: Sendable {
        /// The longest silence a link is given, however slow its path; also the limit for
        /// silence on the stream while datagrams still arrive (`LinkLiveness`).
        public var livenessInterval: Duration = .seconds(3)
        /// A link with a small RTT is dead after this much silence (`LinkLiveness`: it grows
        /// with the RTT, up to `livenessInterval`).
        public var minimumDeadAfter: Duration = .milliseconds(800)
        /// Keepalives go at least this often (more often on a fast path: `LinkLiveness`).
        public var keepaliveInterval: Duration = .milliseconds(500)
        /// Hellos must be exchanged within this time.
        public var handshakeTimeout: Duration = .seconds(5)

        public init() {}
    }

    private struct Listener {
        var token: ListenerToken
        var listener: any CoreListener
        var context: AnyObject?
    }

    public let localHello: Hello
    public var configuration: Configuration
    public let now: () -> Instant
    let logger: Logger
    /// Warnings a misbehaving peer can trigger at will, rate-limited.
    let warnings: ThrottledLogger
    public private(set) var peers: [Int: Peer] = [:]
    private var listeners: [Listener] = []
    /// The listeners that asked for `.writable`, in registration order.
    private var writableListeners: [Listener] = []
    /// In the order they are asked.
    private var producers: [ProducerEntry] = []
    private var nextPeerID = 1
    private var nextListenerToken = 1
    /// Called after a peer closes (e.g. so a dialer can schedule a redial).
    public var onPeerClosed: ((Peer, String) -> Void)?

    public init(nodeID: UInt64, name: String, configuration: Configuration = Configuration(), logger: Logger, now: @escaping () -> Instant) {
        localHello = Hello(nodeID: nodeID, name: name)
        self.configuration = configuration
        self.logger = logger
        warnings = ThrottledLogger(logger: logger, now: now)
        self.now = now
    }

    // MARK: Registration

    @discardableResult
    public func addListener(_ listener: any CoreListener, context: AnyObject? = nil) -> ListenerToken {
        let token = ListenerToken(value: nextListenerToken)
        nextListenerToken += 1
        let entry = Listener(token: token, listener: listener, context: context)
        listeners.append(entry)
        if listener.wantsWritable { writableListeners.append(entry) }
        return token
    }

    public func removeListener(_ token: ListenerToken) {
        listeners.removeAll { $0.token == token }
        writableListeners.removeAll { $0.token == token }
    }

    /// Forgets every listener, producer and the close callback: at shutdown, components that
    /// hold the node and are held by it are freed.
    public func removeAllComponents() {
        listeners.removeAll()
        writableListeners.removeAll()
        producers.removeAll()
        onPeerClosed = nil
    }

    public func addProducer(_ producer: any OutboundProducer, priority: ProducerPriority) {
        let index = producers.firstIndex { $0.priority > priority } ?? producers.endIndex
        producers.insert(ProducerEntry(priority: priority, producer: producer), at: index)
    }

    // MARK: Peers

    /// An outgoing connection under way: the peer handshakes once it connects.
    @discardableResult
    public func addOutbound(_ connection: any Connection) -> Peer {
        addPeer(connection, isOutbound: true)
    }

    /// `comm_incoming`: a provider accepted a connection.
    public func acceptIncoming(_ connection: any Connection) {
        addPeer(connection, isOutbound: false).start()
    }

    private func addPeer(_ connection: any Connection, isOutbound: Bool) -> Peer {
        let peer = Peer(id: nextPeerID, connection: connection, isOutbound: isOutbound, node: self)
        nextPeerID += 1
        peers[peer.id] = peer
        return peer
    }

    public var establishedPeers: [Peer] {
        peers.values.filter { $0.state == .established }.sorted { $0.id < $1.id }
    }

    // MARK: Time

    /// Liveness, keepalives and handshake deadlines. The loop calls it a few times a second.
    public func tick() {
        let now = now()
        warnings.reportSuppressed()
        for peer in peers.values.sorted(by: { $0.id < $1.id }) {
            switch peer.state {
            case .established:
                if let reason = peer.tickLiveness(now: now) { peer.close(reason: reason) }
            case .handshaking, .connecting:
                if now - peer.stateSince >= configuration.handshakeTimeout {
                    peer.close(reason: "no handshake within \(configuration.handshakeTimeout)")
                }
            case .closed:
                break
            }
        }
    }

    // MARK: Used by peers

    var livenessConfiguration: LinkLiveness.Configuration {
        LinkLiveness.Configuration(
            minimumDeadAfter: configuration.minimumDeadAfter, maximumDeadAfter: configuration.livenessInterval,
            maximumKeepaliveSpacing: configuration.keepaliveInterval)
    }

    /// Why a hello was not admitted.
    enum AdmissionRefusal: CustomStringConvertible {
        case itself
        case duplicate(nodeID: UInt64)
        /// The hello claims another node's id than the key the link authenticated.
        case claimsAnotherNodeID(claimed: UInt64, authenticated: UInt64)

        /// Both ends of a mesh dial each other: a duplicate is routine, not misbehaviour.
        var isMisbehaviour: Bool {
            switch self {
            case .itself, .duplicate: false
            case .claimsAnotherNodeID: true
            }
        }

        var description: String {
            switch self {
            case .itself: "connected to itself"
            case .duplicate(let nodeID): "duplicate link to node \(String(nodeID, radix: 16))"
            case .claimsAnotherNodeID(let claimed, let authenticated):
                "hello claims node id \(String(claimed, radix: 16)), its key is node \(String(authenticated, radix: 16))"
            }
        }
    }

    public struct AdmissionCounters: Sendable {
        /// Second links to a node that already has one (a friend's key opening many links).
        public var duplicateLinks: UInt64 = 0
        /// Hellos whose node id was not their authenticated key's.
        public var forgedNodeIDs: UInt64 = 0
    }

    public private(set) var admissionCounters = AdmissionCounters()

    /// One link per node: per authenticated key when the provider proved one (a friend), else
    /// per claimed node id (plaintext links). When both ends dial each other, both keep the link
    /// that the node with the lower id dialled (a deterministic choice needs no negotiation);
    /// of two links the same node dialled, the one already up stays, so a friend redialling
    /// over and over, or many processes sharing one key, still hold one link.
    func admit(_ hello: Hello, on peer: Peer) -> AdmissionRefusal? {
        let identity = peer.connection.authenticatedIdentity
        if let identity, hello.nodeID != identity.nodeID {
            admissionCounters.forgedNodeIDs &+= 1
            return .claimsAnotherNodeID(claimed: hello.nodeID, authenticated: identity.nodeID)
        }
        if hello.nodeID == localHello.nodeID { return .itself }
        let existing = peers.values.first { other in
            guard other !== peer, other.state == .established else { return false }
            if let identity { return other.connection.authenticatedIdentity == identity }
            return other.connection.authenticatedIdentity == nil && other.remote?.nodeID == hello.nodeID
        }
        guard let existing else { return nil }
        let keepOutbound = localHello.nodeID < hello.nodeID
        if existing.isOutbound == peer.isOutbound || existing.isOutbound == keepOutbound {
            admissionCounters.duplicateLinks &+= 1
            return .duplicate(nodeID: hello.nodeID)
        }
        existing.close(reason: "replaced by a duplicate link")
        return nil
    }

    func offer(_ type: F2FPacketType, from peer: Peer) -> ListenerVerdict {
        let payload = peer.assembler.payload
        for entry in listeners {
            switch entry.listener.handle(.packet(type), peer: peer, payload: payload, context: entry.context) {
            case .ignored: continue
            case .claimed: return .claimed
            case .deferred: return .deferred
            }
        }
        return .ignored
    }

    func notify(_ event: CoreEvent, peer: Peer) {
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        for entry in event == .writable ? writableListeners : listeners {
            _ = entry.listener.handle(event, peer: peer, payload: empty, context: entry.context)
        }
    }

    /// After each packet sent: nothing to do unless a listener asked for it.
    @inline(__always)
    func notifyWritable(_ peer: Peer) {
        guard !writableListeners.isEmpty else { return }
        notify(.writable, peer: peer)
    }

    func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        for entry in producers where entry.call.produce(for: peer, into: slot) {
            return true
        }
        return false
    }

    func peerClosed(_ peer: Peer, reason: String, wasEstablished: Bool) {
        peers[peer.id] = nil
        logger.info("peer disconnected", metadata: ["peer": "\(peer.displayName)", "reason": "\(reason)"])
        if wasEstablished { notify(.disconnected(reason: reason), peer: peer) }
        onPeerClosed?(peer, reason)
    }
}

private struct ProducerEntry {
    let priority: ProducerPriority
    let call: ProducerCall

    init(priority: ProducerPriority, producer: some OutboundProducer) {
        self.priority = priority
        call = TypedProducerCall(producer)
    }
}

/// Calls one producer. The node asks every producer for every packet sent, and calling one
/// straight from the array counted a reference to it each time, through a side table since
/// producers are also held weakly: more than a thousand instructions per frame. Calling this
/// plain class instead counts nothing slow, and the producer it holds in a constant is lent
/// to the call without a count at all.
private class ProducerCall {
    func produce(for peer: Peer, into slot: OutboundSlot) -> Bool { false }
}

private final class TypedProducerCall<P: OutboundProducer>: ProducerCall {
    let producer: P

    init(_ producer: P) {
        self.producer = producer
    }

    override func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        producer.produce(for: peer, into: slot)
    }
}
