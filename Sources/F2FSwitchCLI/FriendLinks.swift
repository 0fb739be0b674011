import F2FBase
import F2FCore
import F2FPosix
import F2FSecure
import F2FTransportTCP
import Logging

/// Friends only: every peer link is a `SecureConnection`, and nobody outside the friend list
/// (or not the id a `--peer ID@HOST:PORT` line pins) gets past the Noise handshake. Incoming
/// connections wait here, unauthenticated, under a count limit and a deadline; only
/// authenticated friends reach the F2F core.
final class FriendLinks: ConnectionAcceptor, ConnectionEvents {
    struct Limits {
        var maxPeers: Int
        var maxPending: Int
        var handshakeTimeout: Duration
    }

    struct Counters {
        var strangersRefused: UInt64 = 0
        var overPendingLimit: UInt64 = 0
        var overPeerLimit: UInt64 = 0
        var handshakeTimeouts: UInt64 = 0
        var handshakeFailures: UInt64 = 0
        var duplicateLinksRefused: UInt64 = 0
    }

    let identity: IdentityKey
    let friends: FriendList
    let limits: Limits
    private(set) var counters = Counters()
    private let node: F2FNode
    private let loop: EventLoop
    private let logger: Logger
    private var pending: [ObjectIdentifier: (connection: SecureConnection, deadline: EventLoop.TimerID)] = [:]

    init(identity: IdentityKey, friends: FriendList, limits: Limits, node: F2FNode, loop: EventLoop, logger: Logger) {
        self.identity = identity
        self.friends = friends
        self.limits = limits
        self.node = node
        self.loop = loop
        self.logger = logger
    }

    var pendingCount: Int { pending.count }

    /// The encrypted layer for a connection the dialer opened.
    func secureOutbound(_ connection: TCPConnection, pinned: PeerID?) -> SecureConnection {
        secure(connection, role: .initiator, pinned: pinned)
    }

    /// Outbound connections are still connecting; incoming ones are connected already.
    private func secure(_ connection: any Connection, role: NoiseHandshake.Role, pinned: PeerID?) -> SecureConnection {
        let inbound = role == .responder
        return SecureConnection(
            over: connection, role: role, identity: identity, isConnected: inbound,
            authorize: { [weak self] id in
                guard let self else { return "switch shutting down" }
                return refusal(for: id, pinned: pinned, inbound: inbound)
            },
            logger: logger, post: { [loop] work in loop.afterCurrentDispatch(work) })
    }

    /// The reason `id` may not link with us, or nil for a friend.
    private func refusal(for id: PeerID, pinned: PeerID?, inbound: Bool) -> String? {
        if let pinned, pinned != id { return "expected \(pinned) at this address" }
        if id == identity.id { return "it has our own identity: give each switch its own --identity file" }
        guard friends.contains(id) else {
            counters.strangersRefused &+= 1
            return "not a friend"
        }
        // One link per friend (the core keeps one of two, e.g. when both ends dial): a friend
        // opening more, each waiting for its hello, would hold --max-peers slots.
        guard !inbound || linkCount(of: id) < 2 else {
            counters.duplicateLinksRefused &+= 1
            return "already linked (one link per friend)"
        }
        // Links we dial were configured by the user; only strangers' attempts are capped.
        guard !inbound || node.peers.count < limits.maxPeers else {
            counters.overPeerLimit &+= 1
            return "already \(limits.maxPeers) peers (--max-peers)"
        }
        return nil
    }

    private func linkCount(of id: PeerID) -> Int {
        node.peers.values.reduce(0) { count, peer in count + ((peer.connection as? SecureConnection)?.remoteID == id ? 1 : 0) }
    }

    /// Closes the link of a friend who was just removed.
    func disconnect(_ id: PeerID) {
        for peer in Array(node.peers.values) where (peer.connection as? SecureConnection)?.remoteID == id {
            peer.close(reason: "no longer a friend")
        }
    }

    // MARK: ConnectionAcceptor (the TCP listener)

    func acceptIncoming(_ connection: any Connection) {
        guard node.peers.count < limits.maxPeers else {
            counters.overPeerLimit &+= 1
            logger.warning("refusing connection: peer limit reached", metadata: ["address": "\(connection.remoteDescription)", "max-peers": "\(limits.maxPeers)"])
            connection.close()
            return
        }
        guard pending.count < limits.maxPending else {
            counters.overPendingLimit &+= 1
            logger.warning("refusing connection: too many unauthenticated connections", metadata: ["address": "\(connection.remoteDescription)", "max-pending": "\(limits.maxPending)"])
            connection.close()
            return
        }
        let secure = secure(connection, role: .responder, pinned: nil)
        secure.events = self
        let timeout = limits.handshakeTimeout
        let deadline = loop.schedule(after: timeout) { [weak self, weak secure] in
            guard let self, let secure else { return }
            counters.handshakeTimeouts &+= 1
            logger.warning("closing connection: no Noise handshake in time", metadata: ["address": "\(secure.remoteDescription)", "timeout": "\(timeout)"])
            secure.abort("no Noise handshake within \(timeout)")
        }
        pending[ObjectIdentifier(secure)] = (secure, deadline)
    }

    // MARK: ConnectionEvents (pending connections only)

    func connectionEstablished(_ connection: any Connection) {
        guard let entry = pending.removeValue(forKey: ObjectIdentifier(connection)) else { return }
        loop.cancelTimer(entry.deadline)
        node.acceptIncoming(entry.connection)
    }

    func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {}

    func connectionClosed(_ connection: any Connection, error: CommError?) {
        guard let entry = pending.removeValue(forKey: ObjectIdentifier(connection)) else { return }
        loop.cancelTimer(entry.deadline)
        if let error, !error.isRefusal, !error.isTimeout { counters.handshakeFailures &+= 1 }
        logger.debug("unauthenticated connection ended", metadata: ["address": "\(connection.remoteDescription)", "reason": "\(error.map(String.init(describing:)) ?? "closed")"])
    }

    func closeAll() {
        for entry in pending.values {
            loop.cancelTimer(entry.deadline)
            entry.connection.close()
        }
        pending.removeAll()
    }
}
