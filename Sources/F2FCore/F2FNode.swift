import F2FBase
import Logging

/// The F2F core: the set of peers, the listeners that observe them and the producers that
/// feed their outbound slots. Pure of I/O: connections come from providers, time from the
/// injected clock (the loop's, or a manual one in tests).
public final class F2FNode: ConnectionAcceptor {
    public struct Configuration: Sendable {
        /// A link on which nothing arrives for this long is declared dead.
        public var livenessInterval: Duration = .seconds(3)
        /// Send a keepalive when nothing else went out for this long.
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
    private var producers: [(priority: ProducerPriority, producer: any OutboundProducer)] = []
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
        listeners.append(Listener(token: token, listener: listener, context: context))
        return token
    }

    public func removeListener(_ token: ListenerToken) {
        listeners.removeAll { $0.token == token }
    }

    /// Forgets every listener, producer and the close callback: at shutdown, components that
    /// hold the node and are held by it are freed.
    public func removeAllComponents() {
        listeners.removeAll()
        producers.removeAll()
        onPeerClosed = nil
    }

    public func addProducer(_ producer: any OutboundProducer, priority: ProducerPriority) {
        let index = producers.firstIndex { $0.priority > priority } ?? producers.endIndex
        producers.insert((priority, producer), at: index)
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
                if now - peer.lastReceived >= configuration.livenessInterval {
                    peer.close(reason: "link dead: nothing received for \(configuration.livenessInterval)")
                } else if now - peer.lastSent >= configuration.keepaliveInterval {
                    peer.keepaliveDue = true
                    peer.pumpOutbound()
                }
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

    /// One link per pair of nodes: when both dial each other, both sides keep the link that
    /// the node with the lower id dialled (a deterministic choice needs no negotiation).
    func admit(_ hello: Hello, on peer: Peer) -> String? {
        if hello.nodeID == localHello.nodeID { return "connected to itself" }
        guard let existing = peers.values.first(where: { $0 !== peer && $0.state == .established && $0.remote?.nodeID == hello.nodeID }) else {
            return nil
        }
        let keepOutbound = localHello.nodeID < hello.nodeID
        if existing.isOutbound == keepOutbound {
            return "duplicate link to node \(String(hello.nodeID, radix: 16))"
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
        for entry in listeners {
            _ = entry.listener.handle(event, peer: peer, payload: empty, context: entry.context)
        }
    }

    func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        for entry in producers where entry.producer.produce(for: peer, into: slot) {
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
