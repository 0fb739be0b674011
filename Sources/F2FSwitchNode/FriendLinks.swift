import F2FBase
import F2FCore
import F2FPosix
import F2FSecure
import F2FTransportTCP
import Logging

/// Friends only: every peer link is a `SecureConnection`, and nobody outside the friend list
/// (or not the id a `--peer ID@HOST:PORT` line pins) gets past the Noise handshake. Incoming
/// connections wait here, unauthenticated, under the rules of a `PendingPool` (per-source
/// places, eviction of the oldest when full, places reserved for pinned peers' hosts, a short
/// deadline for the first handshake message) and token buckets on the Diffie-Hellman work a
/// stranger can ask for; only authenticated friends reach the F2F core. Connections we dial
/// ourselves never wait in the pool: strangers cannot crowd out our own redials.
final class FriendLinks: ConnectionAcceptor, ConnectionEvents {
    struct Limits {
        var maxPeers: Int
        var pool: PendingPool<ObjectIdentifier, String>.Limits
        /// Handshakes (first messages answered) per second from all strangers together, and burst.
        var handshakeRate: Double
        var handshakeBurst: Int
        /// The same from one source.
        var handshakeRatePerSource: Double
        var handshakeBurstPerSource: Int
    }

    /// Every refusal and eviction, by reason (`limits/print`); the admission rules' own are
    /// `FriendAdmission.Counters`, merged in `counters`.
    struct Counters {
        var strangersRefused: UInt64 = 0
        var overPeerLimit: UInt64 = 0
        var evictedPoolFull: UInt64 = 0
        var evictedSourceFull: UInt64 = 0
        var firstMessageTimeouts: UInt64 = 0
        var handshakeTimeouts: UInt64 = 0
        var handshakesRateLimited: UInt64 = 0
        var handshakeFailures: UInt64 = 0
        var duplicateLinksRefused: UInt64 = 0
    }

    let identity: IdentityKey
    let friends: FriendList
    let limits: Limits
    /// The network's pre-shared key (`--network-key`): every link's handshake is then XXpsk0.
    var networkKey: NetworkKey?
    /// Links may also carry frames over UDP (not `--no-udp`): each authenticated link is handed
    /// to the core inside a `PathSwitchingConnection`.
    var carriesDatagrams = false
    /// Invitations this node gave out or is joining by (docs/invitations.md).
    var invitations: InvitationDesk?
    private var poolCounters = Counters()
    var counters: Counters {
        var merged = poolCounters
        merged.strangersRefused = admission.counters.strangersRefused
        merged.overPeerLimit = admission.counters.overPeerLimit
        merged.handshakesRateLimited = admission.counters.handshakesRateLimited
        merged.duplicateLinksRefused = admission.counters.duplicateLinksRefused
        return merged
    }
    private let node: F2FNode
    private let loop: any EventLoop
    private let logger: Logger
    let warnings: ThrottledLogger
    private var pool: PendingPool<ObjectIdentifier, String>
    private var pending: [ObjectIdentifier: SecureConnection] = [:]
    /// The rules: friends only, one link each, the peer limit, the strangers' handshake budget.
    private var admission: FriendAdmission
    /// Source prefixes of the pinned peers' hosts: their redials get the reserved places.
    var reservedSources: Set<String> { admission.reservedSources }
    private var timer: EventLoop.TimerID?
    private var ticks = 0

    static let tickInterval: Duration = .milliseconds(100)

    init(identity: IdentityKey, friends: FriendList, limits: Limits, node: F2FNode, loop: any EventLoop, logger: Logger) {
        self.identity = identity
        self.friends = friends
        self.limits = limits
        self.node = node
        self.loop = loop
        self.logger = logger
        warnings = ThrottledLogger(logger: logger) { [unowned loop] in loop.now }
        pool = PendingPool(limits: limits.pool)
        admission = FriendAdmission(
            ownID: identity.id, friends: friends,
            limits: FriendAdmission.Limits(
                maxPeers: limits.maxPeers, handshakeRate: limits.handshakeRate, handshakeBurst: limits.handshakeBurst,
                handshakeRatePerSource: limits.handshakeRatePerSource, handshakeBurstPerSource: limits.handshakeBurstPerSource),
            now: loop.now)
        timer = loop.scheduleRepeating(every: Self.tickInterval) { [weak self] in self?.tick() }
    }

    var pendingCount: Int { pool.count }
    var reservedPendingCount: Int { pool.reservedCount }

    /// Connections from `address`'s host get the reserved places (a pinned peer redialling us).
    func reserve(_ address: TCPAddress) {
        admission.reservedSources.formUnion(address.sourcePrefixes())
    }

    /// The encrypted layer for a connection the dialer opened.
    func secureOutbound(_ connection: any Connection, pinned: PeerID?) -> SecureConnection {
        let secure = secure(connection, role: .initiator, pinned: pinned)
        secure.invitationProof = invitations?.proof(for: pinned)
        return secure
    }

    /// What the core gets for an authenticated link: the link itself, or with UDP the path
    /// switch over it.
    func forCore(_ secure: SecureConnection) -> any Connection {
        carriesDatagrams ? PathSwitchingConnection(stream: secure) : secure
    }

    /// Outbound connections are still connecting; incoming ones are connected already.
    private func secure(_ connection: any Connection, role: NoiseHandshake.Role, pinned: PeerID?) -> SecureConnection {
        let inbound = role == .responder
        return SecureConnection(
            over: connection, role: role, identity: identity, networkKey: networkKey, isConnected: inbound,
            authorize: { [weak self] id in
                guard let self else { return "switch shutting down" }
                return refusal(for: id, pinned: pinned, inbound: inbound)
            },
            logger: logger, warnings: warnings, post: { [loop] work in loop.afterCurrentDispatch(work) })
    }

    /// The reason `id` may not link with us, or nil for a friend.
    private func refusal(for id: PeerID, pinned: PeerID?, inbound: Bool) -> String? {
        admission.refusal(for: id, pinned: pinned, inbound: inbound, linksToFriend: linkCount(of: id), peerCount: node.peers.count)?.description
    }

    private func linkCount(of id: PeerID) -> Int {
        node.peers.values.reduce(0) { count, peer in count + (peer.secureConnection?.remoteID == id || peer.friendID == id ? 1 : 0) }
    }

    /// For a link that starts over UDP (`DirectLinks`), once its handshake proved `id`: the
    /// same friends-only rules as an incoming TCP link (friend, not ourselves, one link per
    /// friend, the peer limit); nil when it may link.
    func refusalForDirectLink(_ id: PeerID) -> String? {
        refusal(for: id, pinned: nil, inbound: true)
    }

    /// A stranger's proof of an invitation we gave: on success it is a friend, here and in the
    /// friends file; a refusal fails the handshake (counted with the handshake failures).
    private func redeemInvitation(proof: [UInt8], handshakeHash: [UInt8], from id: PeerID) -> String? {
        guard let invitations else { return "this node gives no invitations" }
        let wasFriend = friends.contains(id)
        let refusal = invitations.redeem { ledger in
            admission.redeemInvitation(proof: proof, handshakeHash: handshakeHash, from: id, ledger: &ledger, now: invitations.now)
        }
        if refusal == nil {
            if !wasFriend { invitations.persist(friend: id, note: "joined by invitation") }
        } else if !wasFriend {
            friends.remove(id)  // admitted by a proof that could not be recorded as used
        }
        return refusal
    }

    /// Makes the friend list `ids` (a reloaded friends file with the command line's): new
    /// friends are admitted from the next handshake, removed ones lose their link now.
    func replaceFriends(with ids: Set<PeerID>) -> (added: Int, removed: Int) {
        let removed = friends.friends.subtracting(ids)
        let added = ids.subtracting(friends.friends)
        for id in added { friends.add(id) }
        for id in removed {
            friends.remove(id)
            disconnect(id)
        }
        return (added.count, removed.count)
    }

    /// Closes the link of a friend who was just removed.
    func disconnect(_ id: PeerID) {
        for peer in Array(node.peers.values) where peer.secureConnection?.remoteID == id || peer.friendID == id {
            peer.close(reason: "no longer a friend")
        }
    }

    // MARK: ConnectionAcceptor (the TCP listener)

    func acceptIncoming(_ connection: any Connection) {
        if admission.admitConnection(peerCount: node.peers.count) != nil {
            warnings.warning(
                "peer-limit", "refusing connection: peer limit reached",
                metadata: ["address": "\(connection.remoteDescription)", "max-peers": "\(limits.maxPeers)"])
            connection.close()
            return
        }
        let source = (connection as? TCPConnection)?.sourcePrefix ?? connection.remoteDescription
        let secure = secure(connection, role: .responder, pinned: nil)
        secure.events = self
        secure.redeemInvitation = { [weak self] id, proof, handshakeHash in
            guard let self else { return "switch shutting down" }
            return redeemInvitation(proof: proof, handshakeHash: handshakeHash, from: id)
        }
        secure.admitHandshake = { [weak self, weak secure] in
            guard let self, let secure else { return "switch shutting down" }
            return admitHandshake(of: secure, from: source)
        }
        let key = ObjectIdentifier(secure)
        let placement = pool.admit(key, from: source, isReservedSource: reservedSources.contains(source), now: loop.now)
        pending[key] = secure
        guard case .admittedEvicting(let victim, let eviction) = placement, let evicted = pending.removeValue(forKey: victim) else { return }
        let reason: String
        switch eviction {
        case .poolFull:
            poolCounters.evictedPoolFull &+= 1
            reason = "unauthenticated connections at the limit (--max-pending \(limits.pool.capacity)): the oldest made room"
        case .sourceFull:
            poolCounters.evictedSourceFull &+= 1
            reason = "\(limits.pool.perSource) unauthenticated connections from \(source) (--max-pending-per-source): the oldest made room"
        }
        warnings.warning("pending-evicted", "closing unauthenticated connection", metadata: ["address": "\(evicted.remoteDescription)", "reason": "\(reason)"])
        evicted.abort(.notAdmitted(reason))
    }

    /// The first handshake message is in: it may cost us Diffie-Hellman work now, within the
    /// strangers' budget (pinned peers' hosts are not charged).
    private func admitHandshake(of secure: SecureConnection, from source: String) -> String? {
        pool.markSpoken(ObjectIdentifier(secure))
        guard let refusal = admission.admitHandshake(from: source, now: loop.now) else { return nil }
        warnings.warning("handshake-rate", "closing unauthenticated connection", metadata: ["address": "\(secure.remoteDescription)", "reason": "\(refusal)"])
        return refusal.description
    }

    private func tick() {
        let now = loop.now
        for (member, expiry) in pool.expire(now: now) {
            guard let connection = pending.removeValue(forKey: member) else { continue }
            let reason: String
            switch expiry {
            case .noFirstMessage:
                poolCounters.firstMessageTimeouts &+= 1
                reason = "no Noise handshake message within \(limits.pool.firstMessageTimeout) (--first-message-timeout)"
            case .handshakeTimeout:
                poolCounters.handshakeTimeouts &+= 1
                reason = "no Noise handshake within \(limits.pool.handshakeTimeout) (--handshake-timeout)"
            }
            warnings.warning("pending-timeout", "closing unauthenticated connection", metadata: ["address": "\(connection.remoteDescription)", "reason": "\(reason)"])
            connection.abort(.timedOut(reason))
        }
        ticks += 1
        if ticks % 10 == 0 {
            warnings.reportSuppressed()
            admission.forgetIdleSources(now: now)
        }
    }

    // MARK: ConnectionEvents (pending connections only)

    func connectionEstablished(_ connection: any Connection) {
        let key = ObjectIdentifier(connection)
        pool.remove(key)
        guard let secure = pending.removeValue(forKey: key) else { return }
        node.acceptIncoming(forCore(secure))
    }

    func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {}

    func connectionClosed(_ connection: any Connection, error: ConnectionError?) {
        let key = ObjectIdentifier(connection)
        pool.remove(key)
        guard pending.removeValue(forKey: key) != nil else { return }
        switch error {
        case .refused, .notAdmitted, .timedOut, nil:
            break  // counted where they were decided
        case .authenticationFailed, .protocolViolation, .closedByPeer, .system, .alreadyClosed:
            poolCounters.handshakeFailures &+= 1
        }
        logger.debug("unauthenticated connection ended", metadata: ["address": "\(connection.remoteDescription)", "reason": "\(error.map(String.init(describing:)) ?? "closed")"])
    }

    func closeAll() {
        if let timer { loop.cancelTimer(timer) }
        timer = nil
        _ = pool.removeAll()
        let connections = pending.values
        pending.removeAll()
        for connection in connections { connection.close() }
    }
}
