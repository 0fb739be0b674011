import F2FBase
import F2FCore
import F2FPosix
import F2FSecure
import Logging

/// Friend links that start over UDP (issue 18, docs/nat-traversal.md): the Noise XX handshake
/// in datagrams (`DatagramInitiator`, `DatagramResponder`: mac1, cookies under load,
/// retransmission), hole punching towards friends a mutual friend introduced, and the links
/// themselves (`DatagramConnection`), handed to the core like any other connection once the
/// handshake proved a friend. Shares `UDPTransport`'s sockets, so a friend behind a NAT sees
/// the same mapping that our links through the mutual friend use.
///
/// Of two friends introduced to each other, the one with the lower id initiates and the other
/// punches (small datagrams that open its NAT towards the initiator and cost the initiator one
/// MAC check), both for `punchDuration`, so that whichever NAT opens first lets the next
/// initiation through.
public final class DirectLinks: DatagramConnectionOwner {
    public struct Counters: Sendable {
        public var attempts: UInt64 = 0
        public var attemptsFailed: UInt64 = 0
        public var punchesSent: UInt64 = 0
        public var linksStarted: UInt64 = 0
        public var rekeys: UInt64 = 0
        /// Introductions to a node that is not our friend, or one we are linked to already.
        public var introductionsIgnored: UInt64 = 0
        public var transportRejected: UInt64 = 0
    }

    /// One of our handshakes under way: a new link, or a rekey of `rekeying`.
    private struct Attempt {
        var initiator: DatagramInitiator
        var endpoints: [InetSocketAddress]
        var introducedBy: String?
        var rekeying: DatagramConnection?
    }

    private struct Punching {
        var endpoints: [InetSocketAddress]
        var until: Instant
        var lastSent: Instant
        var datagram: [UInt8]
        var introducedBy: String
    }

    static let retryInterval: Duration = .milliseconds(250)
    static let punchDuration: Duration = .seconds(3)
    static let tickInterval: Duration = .milliseconds(50)
    /// The initiator of a link starts a new handshake this often (the cipher asks at 120 s and
    /// refuses at 180 s).
    static let rekeyAfter: Duration = .seconds(100)

    public private(set) var counters = Counters()
    public var responderCounters: DatagramResponder.Counters { responder.counters }
    unowned let transport: UDPTransport
    private let node: F2FNode
    private let loop: any EventLoop
    private let logger: Logger
    private let identity: IdentityKey
    private let networkKey: NetworkKey?
    private let friends: FriendList
    /// The friends-only rules (`FriendAdmission` through the node's friend links): nil for a
    /// friend who may link now, or why not.
    private let authorize: (PeerID) -> String?
    private var responder: DatagramResponder
    private var attempts: [UInt32: Attempt] = [:]
    private var punching: [PeerID: Punching] = [:]
    private var connections: [UInt32: DatagramConnection] = [:]
    private var byFriend: [PeerID: DatagramConnection] = [:]
    private var timer: EventLoop.TimerID?
    private var handshakeSource = HandshakeSource(high: 0, low: 0, port: 0, isIPv6: false)
    /// The packets on friend links that lead here (for the console).
    public weak var introductions: FriendIntroductions?

    public init(
        transport: UDPTransport, node: F2FNode, loop: any EventLoop, identity: IdentityKey, networkKey: NetworkKey?, friends: FriendList,
        limits: DatagramResponder.Limits = .init(), authorize: @escaping (PeerID) -> String?, logger: Logger
    ) {
        self.transport = transport
        self.node = node
        self.loop = loop
        self.identity = identity
        self.networkKey = networkKey
        self.friends = friends
        self.authorize = authorize
        self.logger = logger
        responder = DatagramResponder(identity: identity, networkKey: networkKey, limits: limits, now: loop.now)
    }

    public func start() {
        transport.direct = self
        timer = loop.scheduleRepeating(every: Self.tickInterval) { [weak self] in self?.tick() }
    }

    public func stop() {
        if let timer { loop.cancelTimer(timer) }
        timer = nil
        transport.direct = nil
    }

    /// The link that started over UDP with `peer`, if its connection is one.
    public func connection(of peer: Peer) -> DatagramConnection? {
        peer.connection as? DatagramConnection
    }

    /// Whether a link (of either kind) with `friend` is up or being set up.
    func isLinked(_ friend: PeerID) -> Bool {
        byFriend[friend] != nil
            || node.peers.values.contains { $0.state != .closed && $0.connection.authenticatedIdentity?.publicKey == friend.bytes }
    }

    // MARK: Introductions

    /// A mutual friend (`introducer`, its display name) says `friend` wants to reach us too, at
    /// these endpoints: punch and handshake, unless it is no friend of ours or linked already.
    public func introduced(_ friend: PeerID, endpoints: [InetSocketAddress], by introducer: String) {
        guard friend != identity.id, friends.contains(friend), !isLinked(friend), !endpoints.isEmpty else {
            counters.introductionsIgnored &+= 1
            return
        }
        let now = loop.now
        if identity.id.bytes.lexicographicallyPrecedes(friend.bytes) {
            guard !attempts.values.contains(where: { $0.initiator.friend == friend }) else { return }
            connect(to: friend, at: endpoints, introducedBy: introducer, rekeying: nil, now: now)
        } else {
            // One round of punching at a time, however often we are introduced: a friend
            // cannot make us send more than a round's punches to addresses of its choosing.
            guard punching[friend] == nil else { return }
            let datagram = HandshakeDatagram.makePunch(for: HandshakeMAC(responder: friend))
            punching[friend] = Punching(
                endpoints: endpoints, until: now + Self.punchDuration, lastSent: now, datagram: datagram, introducedBy: introducer)
            sendPunches(datagram, to: endpoints)
        }
    }

    private func connect(to friend: PeerID, at endpoints: [InetSocketAddress], introducedBy: String?, rekeying: DatagramConnection?, now: Instant) {
        let index = newIndex()
        let initiator: DatagramInitiator
        do {
            initiator = try DatagramInitiator(
                identity: identity, friend: friend, networkKey: networkKey, localIndex: index,
                policy: .init(retryInterval: Self.retryInterval, maximumTries: Int(Self.punchDuration / Self.retryInterval)), now: now)
        } catch {
            return  // writing message 1 fails only on a broken key
        }
        attempts[index] = Attempt(initiator: initiator, endpoints: endpoints, introducedBy: introducedBy, rekeying: rekeying)
        counters.attempts &+= rekeying == nil ? 1 : 0
        for endpoint in endpoints { _ = transport.send(initiator.initiationDatagram, to: endpoint) }
    }

    private func sendPunches(_ datagram: [UInt8], to endpoints: [InetSocketAddress]) {
        for endpoint in endpoints where transport.send(datagram, to: endpoint) { counters.punchesSent &+= 1 }
    }

    private func newIndex() -> UInt32 {
        var index = unusedIndex()
        while responder.isPending(index) { index = unusedIndex() }
        return index
    }

    /// An index no attempt, connection or datagram link has; the responder's pending
    /// handshakes are not checked. This is what the responder's `newIndex` callback calls
    /// while `responder` is being modified (it skips its own pending indices itself): it must
    /// not mention `responder` at all. With a `skippingPending: false` flag guarding the
    /// read instead, a release build trapped while answering an initiation ("Simultaneous
    /// accesses", read in `newIndex` during `receiveInitiation`'s modification; seen in
    /// Scripts/bench/mesh-bench.sh): the optimizer's access scope covered the guarded read.
    private func unusedIndex() -> UInt32 {
        var index = UInt32.random(in: 1...UInt32.max)
        while attempts[index] != nil || connections[index] != nil || transport.isIndexInUse(index) {
            index = UInt32.random(in: 1...UInt32.max)
        }
        return index
    }

    // MARK: Datagrams (from UDPTransport)

    /// A datagram that is not a transport message: a handshake message or a punch. Returns
    /// false when it is none of those (the transport counts it malformed).
    func receiveHandshake(_ datagram: UnsafeRawBufferPointer, source: DatagramSource, now: Instant) -> Bool {
        switch HandshakeDatagram.type(of: datagram) {
        case HandshakeDatagram.initiation?:
            source.withIP { ip, port in handshakeSource = Self.handshakeSource(ip, port) }
            // The responder itself skips indices of its own pending handshakes.
            switch responder.receiveInitiation(datagram, from: handshakeSource, now: now, newIndex: { [unowned self] in unusedIndex() }) {
            case .dropped: break
            case .cookieReply(let reply), .response(let reply):
                _ = transport.send(reply, to: source.address)
            }
        case HandshakeDatagram.response?:
            receiveResponse(datagram, source: source, now: now)
        case HandshakeDatagram.cookieReply?:
            let index = HandshakeDatagram.firstIndex(of: datagram)
            guard var attempt = attempts[index] else { return true }
            if let resend = attempt.initiator.receiveCookieReply(datagram, now: now) {
                attempts[index] = attempt
                _ = transport.send(resend, to: source.address)
            }
        case HandshakeDatagram.completion?:
            receiveCompletion(datagram, source: source, now: now)
        case HandshakeDatagram.punch?:
            // A friend opening its NAT towards us: its NAT now lets our initiation through,
            // so it goes again at once rather than at the next retry.
            guard responder.receivePunch(datagram) else { return true }
            for attempt in attempts.values where !attempt.initiator.isEstablished && attempt.endpoints.contains(where: source.matches) {
                _ = transport.send(attempt.initiator.initiationDatagram, to: source.address)
            }
        case nil:
            return false
        default:
            return false
        }
        return true
    }

    private static func handshakeSource(_ ip: UnsafeRawBufferPointer, _ port: UInt16) -> HandshakeSource {
        func load(_ range: Range<Int>) -> UInt64 { range.reduce(0) { $0 << 8 | UInt64(ip[$1]) } }
        return ip.count == 16
            ? HandshakeSource(high: load(0..<8), low: load(8..<16), port: port, isIPv6: true)
            : HandshakeSource(high: 0, low: ip.count == 4 ? load(0..<4) : 0, port: port, isIPv6: false)
    }

    private func receiveResponse(_ datagram: UnsafeRawBufferPointer, source: DatagramSource, now: Instant) {
        let index = HandshakeDatagram.receiverIndex(of: datagram)
        guard var attempt = attempts[index] else { return }
        let established: DatagramInitiator.Established
        do {
            established = try attempt.initiator.receiveResponse(datagram, now: now)
        } catch {
            attempts[index] = attempt
            if attempt.initiator.failure != nil { finish(index, failed: "\(error)") }
            return
        }
        attempts[index] = attempt
        let endpoint = source.address
        _ = transport.send(established.completion, to: endpoint)
        let friend = attempt.initiator.friend
        if let connection = attempt.rekeying {
            install(established.session, on: connection, now: now)
            return
        }
        if let refusal = authorize(friend) {
            logger.debug("direct link refused", metadata: ["friend": "\(friend)", "reason": "\(refusal)"])
            attempts[index] = nil
            return
        }
        punching[friend] = nil
        let connection = DatagramConnection(
            owner: self, batch: transport, friend: friend, session: established.session, endpoint: endpoint, isInitiator: true,
            introducedBy: attempt.introducedBy, now: now)
        add(connection)
        logger.info("direct link over UDP", metadata: ["friend": "\(friend)", "endpoint": "\(endpoint)", "introduced-by": "\(attempt.introducedBy ?? "-")"])
        let peer = node.addOutbound(connection)
        peer.connectionEstablished(connection)
    }

    private func receiveCompletion(_ datagram: UnsafeRawBufferPointer, source: DatagramSource, now: Instant) {
        let outcome = responder.receiveCompletion(datagram) { [self] id in
            // A rekey of a link we have with this friend needs no admission again.
            byFriend[id] != nil ? nil : authorize(id)
        }
        switch outcome {
        case .dropped:
            return
        case .refused(let id, let reason):
            logger.debug("direct link refused", metadata: ["friend": "\(id)", "reason": "\(reason)"])
        case .established(let id, let session):
            if let existing = byFriend[id] {
                install(session, on: existing, now: now)
                return
            }
            let introducer = punching.removeValue(forKey: id)?.introducedBy
            let endpoint = source.address
            let connection = DatagramConnection(
                owner: self, batch: transport, friend: id, session: session, endpoint: endpoint, isInitiator: false, introducedBy: introducer, now: now)
            add(connection)
            logger.info("direct link over UDP", metadata: ["friend": "\(id)", "endpoint": "\(endpoint)", "introduced-by": "\(introducer ?? "-")"])
            node.acceptIncoming(connection)
        }
    }

    /// A transport datagram naming `index`: nil when the index is not one of ours (the
    /// transport counts it), else whether it was accepted.
    func receiveTransport(_ datagram: UnsafeRawBufferPointer, index: UInt32, source: DatagramSource, now: Instant) -> NoiseDatagramCipher.Rejection?? {
        guard let connection = connections[index] else { return nil }
        let rejection = connection.receive(datagram, index: index, source: source, now: now)
        if rejection != nil { counters.transportRejected &+= 1 }
        return .some(rejection)
    }

    /// After a batch of datagrams: peers read what arrived.
    func announce() {
        for connection in byFriend.values { connection.announce() }
    }

    // MARK: Connections

    private func add(_ connection: DatagramConnection) {
        connections[connection.localIndices.current] = connection
        byFriend[connection.friend] = connection
        counters.linksStarted &+= 1
    }

    private func install(_ session: NoiseDatagramCipher, on connection: DatagramConnection, now: Instant) {
        if let stale = connection.localIndices.previous { connections[stale] = nil }
        connection.install(session, now: now)
        connections[session.localIndex] = connection
        counters.rekeys &+= 1
    }

    /// The least room any link's inbox has (`UDPTransport.inboxRoom`).
    var inboxRoom: Int {
        var room = Int.max
        for connection in byFriend.values { room = min(room, connection.inboxRoom) }
        return room
    }

    func confirmed(_ connection: DatagramConnection) {
        for (index, attempt) in attempts where attempt.initiator.friend == connection.friend && attempt.initiator.isEstablished {
            attempts[index] = nil
        }
    }

    func closed(_ connection: DatagramConnection) {
        connections = connections.filter { $0.value !== connection }
        if byFriend[connection.friend] === connection { byFriend[connection.friend] = nil }
        for (index, attempt) in attempts where attempt.rekeying === connection { attempts[index] = nil }
    }

    private func finish(_ index: UInt32, failed reason: String) {
        guard let attempt = attempts.removeValue(forKey: index) else { return }
        if attempt.rekeying == nil {
            counters.attemptsFailed &+= 1
            logger.debug("direct link attempt failed", metadata: ["friend": "\(attempt.initiator.friend)", "reason": "\(reason)"])
        }
    }

    // MARK: Time

    private func tick() {
        let now = loop.now
        defer { transport.flushDatagrams() }  // the connections' hellos and probes
        for index in Array(attempts.keys) {
            guard var attempt = attempts[index] else { continue }
            let resend = attempt.initiator.tick(now: now)
            attempts[index] = attempt
            if let failure = attempt.initiator.failure {
                finish(index, failed: "\(failure)")
                continue
            }
            if let resend {
                // Message 3 goes to the endpoint that answered; message 1 to every candidate.
                let targets = attempt.initiator.isEstablished ? (byFriend[attempt.initiator.friend].map { [$0.endpoint] } ?? []) : attempt.endpoints
                for endpoint in targets { _ = transport.send(resend, to: endpoint) }
            } else if attempt.initiator.isEstablished, attempt.initiator.nextDeadline == nil {
                attempts[index] = nil
            }
        }
        for (friend, punch) in punching {
            if now >= punch.until || byFriend[friend] != nil {
                punching[friend] = nil
            } else if now - punch.lastSent >= Self.retryInterval {
                punching[friend]?.lastSent = now
                sendPunches(punch.datagram, to: punch.endpoints)
            }
        }
        for connection in byFriend.values {
            connection.tick(now: now)
            if connection.isInitiator, connection.sessionAge(now: now) >= Self.rekeyAfter,
                !attempts.values.contains(where: { $0.rekeying === connection })
            {
                connect(to: connection.friend, at: [connection.endpoint], introducedBy: nil, rekeying: connection, now: now)
            }
        }
        _ = responder.expire(now: now)
    }
}
