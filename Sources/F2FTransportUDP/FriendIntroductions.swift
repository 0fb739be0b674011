import F2FBase
import F2FCore
import F2FPosix
import F2FSecure
import Logging

/// The NAT-traversal packets on authenticated friend links (issue 18, docs/nat-traversal.md):
///
/// - `observed-address`: we tell each linked friend where its UDP datagrams reach us from
///   (its NAT's mapping), and keep what each tells us of ours, for `peer/print`;
/// - `wanted-friends`: we tell every linked friend which of our friends we want to reach and
///   are not linked to;
/// - `introduction`: as the mutual friend, `IntroductionBroker` decides whom to introduce (two
///   linked friends that each asked for the other), and we pass each the other's observed
///   endpoint; as an introduced node, we hand it to `DirectLinks`, which punches and
///   handshakes.
///
/// Everything here is control traffic, a few small packets per link every few seconds.
public final class FriendIntroductions: CoreListener, OutboundProducer {
    public struct Counters: Sendable {
        public var observedSent: UInt64 = 0
        public var wantsSent: UInt64 = 0
        public var introductionsSent: UInt64 = 0
        public var introductionsReceived: UInt64 = 0
        public var malformed: UInt64 = 0
    }

    /// What we know and owe one linked friend.
    private struct Link {
        let friend: PeerID
        /// Its endpoint as we last told it.
        var toldObserved: InetSocketAddress?
        /// Our endpoint as it last told us.
        var observedUs: InetSocketAddress?
        var toldWants: [PeerID]?
        var wantsSentAt: Instant?
    }

    static let tickInterval: Duration = .milliseconds(250)
    /// Wants are repeated this often even unchanged (a lost one on a link that started over UDP).
    static let wantsRefresh: Duration = .seconds(5)

    public private(set) var counters = Counters()
    public var brokerCounters: IntroductionBroker<PeerID, InetSocketAddress>.Counters { broker.counters }
    unowned let transport: UDPTransport
    private let direct: DirectLinks
    private let node: F2FNode
    private let loop: any EventLoop
    private let ownID: PeerID
    private let friends: FriendList
    private var broker = IntroductionBroker<PeerID, InetSocketAddress>()
    private var links: [Int: Link] = [:]
    private var outboxes = PeerQueues<(type: F2FPacketType, payload: [UInt8])>()
    private var timer: EventLoop.TimerID?
    /// Our local UDP endpoints, as `wanted-friends` offers them.
    private var localEndpoints: [InetSocketAddress] = []
    private var localEndpointsAt: Instant?
    /// Our UDP port as the home router forwards it (`--map-port`): offered first among our
    /// endpoints, so an introduction leads a friend straight through the forwarded port.
    public var advertisedEndpoint: InetSocketAddress? {
        didSet {
            localEndpointsAt = nil
            for key in links.keys { links[key]?.toldWants = nil }
        }
    }

    public init(transport: UDPTransport, direct: DirectLinks, node: F2FNode, loop: any EventLoop, ownID: PeerID, friends: FriendList) {
        self.transport = transport
        self.direct = direct
        self.node = node
        self.loop = loop
        self.ownID = ownID
        self.friends = friends
    }

    public func start() {
        node.addListener(self)
        node.addProducer(self, priority: .control)
        timer = loop.scheduleRepeating(every: Self.tickInterval) { [weak self] in self?.tick() }
    }

    public func stop() {
        if let timer { loop.cancelTimer(timer) }
        timer = nil
    }

    /// Where `peer` says our datagrams reach it from (our public endpoint, as it sees it).
    public func observedUs(by peer: Peer) -> InetSocketAddress? {
        links[peer.id]?.observedUs
    }

    /// Where `peer`'s authenticated datagrams reach us from, if any have.
    public func observedEndpoint(of peer: Peer) -> InetSocketAddress? {
        if let connection = peer.connection as? DatagramConnection { return connection.endpoint }
        guard let link = transport.link(for: peer), link.counters.datagramsIn > 0 else { return nil }
        return link.endpoint
    }

    private static func friend(of peer: Peer) -> PeerID? {
        peer.connection.authenticatedIdentity.flatMap { PeerID(publicKeyBytes: $0.publicKey) }
    }

    // MARK: Time

    private var tickPending = false

    /// A tick once the current dispatch is done (never inside a peer's packet handling).
    private func tickSoon() {
        guard !tickPending else { return }
        tickPending = true
        loop.afterCurrentDispatch { [weak self] in self?.tick() }
    }

    private func tick() {
        tickPending = false
        let now = loop.now
        let wants = friends.sorted.filter { $0 != ownID && !direct.isLinked($0) }
        if localEndpointsAt.map({ now - $0 >= Self.wantsRefresh }) ?? true {
            // Our interfaces with our UDP ports, re-read now and then (a laptop changes networks).
            let ports = transport.ports
            localEndpoints = Array(
                ((advertisedEndpoint.map { [$0] } ?? []) + InterfaceAddresses.current(port: ports.ipv4, includeIPv6: false)
                    + (ports.ipv6 == 0 ? [] : InterfaceAddresses.current(port: ports.ipv6, includeIPv6: true).filter(\.isIPv6)))
                    .filter { ports.ipv4 != 0 || $0.isIPv6 }
                    .prefix(WantedFriends.maximumEndpoints))
            localEndpointsAt = now
        }
        var byFriend: [PeerID: Peer] = [:]
        for peer in node.establishedPeers {
            guard var link = links[peer.id] else { continue }
            byFriend[link.friend] = peer
            let observed = observedEndpoint(of: peer)
            broker.setObserved(observed, of: link.friend)
            if let observed, observed != link.toldObserved {
                link.toldObserved = observed
                var payload: [UInt8] = []
                ObservedAddress(endpoint: observed).encode(into: &payload)
                outboxes.append((type: F2FPacketType.observedAddress, payload: payload), for: peer.id)
                counters.observedSent &+= 1
            }
            if link.toldWants != wants || link.wantsSentAt.map({ now - $0 >= Self.wantsRefresh }) ?? true {
                link.toldWants = wants
                link.wantsSentAt = now
                var payload: [UInt8] = []
                WantedFriends(localEndpoints: localEndpoints, friends: wants).encode(into: &payload)
                outboxes.append((type: F2FPacketType.wantedFriends, payload: payload), for: peer.id)
                counters.wantsSent &+= 1
            }
            links[peer.id] = link
        }
        for introduction in broker.due(now: now) {
            guard let peer = byFriend[introduction.to], links[peer.id] != nil else { continue }
            var payload: [UInt8] = []
            Introduction(friend: introduction.about, endpoints: introduction.endpoints).encode(into: &payload)
            outboxes.append((type: F2FPacketType.introduction, payload: payload), for: peer.id)
            counters.introductionsSent &+= 1
        }
        for peer in node.establishedPeers where outboxes.hasWaiting(for: peer.id) {
            peer.pumpOutbound()
        }
    }

    // MARK: CoreListener, OutboundProducer

    public func handle(_ event: CoreEvent, peer: Peer, payload: UnsafeRawBufferPointer, context: AnyObject?) -> ListenerVerdict {
        switch event {
        case .connected:
            if let friend = Self.friend(of: peer) {
                links[peer.id] = Link(friend: friend)
                tickSoon()  // our wants to the new friend, and the new link changes them
            }
            return .ignored
        case .disconnected:
            outboxes.removeAll(for: peer.id)
            if let link = links.removeValue(forKey: peer.id), !links.values.contains(where: { $0.friend == link.friend }) {
                broker.remove(link.friend)
            }
            return .ignored
        case .packet(.observedAddress):
            if let observed = ObservedAddress(parsing: payload) {
                links[peer.id]?.observedUs = observed.endpoint
            } else {
                counters.malformed &+= 1
            }
            return .claimed
        case .packet(.wantedFriends):
            if let wanted = WantedFriends(parsing: payload), let link = links[peer.id] {
                broker.setWants(Set(wanted.friends), local: wanted.localEndpoints, of: link.friend)
                tickSoon()  // a pair may be complete now: introduce it without waiting for the timer
            } else {
                counters.malformed &+= 1
            }
            return .claimed
        case .packet(.introduction):
            if let introduction = Introduction(parsing: payload), links[peer.id] != nil {
                counters.introductionsReceived &+= 1
                direct.introduced(introduction.friend, endpoints: introduction.endpoints, by: peer.displayName)
            } else {
                counters.malformed &+= 1
            }
            return .claimed
        case .packet, .writable:
            return .ignored
        }
    }

    public func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        guard let (type, payload) = outboxes.next(for: peer.id) else { return false }
        payload.withUnsafeBytes { slot.load(type, payload: $0) }
        return true
    }
}
