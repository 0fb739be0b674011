import EthernetSwitch
import F2FBase
import F2FCore
import Logging

/// Runs the mesh's link-state routing (docs/mesh-routing.md) on the loop: floods this node's
/// advert (its friend links with their costs, the stations on its local ports) and relays
/// the others', keeps the `LinkStateDatabase`, and after every change recomputes the routes
/// and hands the engine a flat `MeshForwardingTable`. Nothing here runs per frame.
public final class MeshRouter: CoreListener, OutboundProducer {
    public struct Counters: Equatable, Sendable {
        public var advertsIn: UInt64 = 0
        public var advertsOut: UInt64 = 0
        public var advertsStale: UInt64 = 0
        public var advertsMalformed: UInt64 = 0
        /// New origins refused while the database held `LinkStateDatabase.maximumOrigins`.
        public var advertsRefused: UInt64 = 0
        public var originated: UInt64 = 0
        public var routeComputations: UInt64 = 0
    }

    public static let tickInterval: Duration = .milliseconds(250)
    /// An unchanged advert is sent again this often; the database's lifetime is four times it.
    public static let refreshInterval: Duration = .seconds(10)

    private let engine: SwitchEngine
    private let node: F2FNode
    private let peerPorts: PeerPorts
    private let logger: Logger
    public private(set) var database: LinkStateDatabase
    public private(set) var routes: MeshRoutes
    public private(set) var counters = Counters()
    /// Per peer (by `Peer.id`): the cost this node advertises for its link.
    public private(set) var costs: [Int: LinkCost] = [:]
    /// RTT and loss of a peer's link, from whatever measures it (the UDP path's monitor).
    public var linkMeasurement: (Peer) -> (rtt: Duration?, loss: Double?) = { _ in (nil, nil) }
    /// Adverts waiting for each peer's slot, the latest per origin: bounded by the number of nodes.
    private var outbox: [Int: [UInt64: [UInt8]]] = [:]
    private var lastOriginated: Instant?
    private var timer: EventLoop.TimerID?
    private var isUpdateScheduled = false
    private var isRecomputeScheduled = false

    public init(engine: SwitchEngine, node: F2FNode, peerPorts: PeerPorts, logger: Logger) {
        self.engine = engine
        self.node = node
        self.peerPorts = peerPorts
        self.logger = logger
        let ownID = node.localHello.nodeID
        database = LinkStateDatabase(ownID: ownID, lifetime: Self.refreshInterval * 4)
        routes = MeshRoutes(ownID: ownID)
        node.addListener(self)
        node.addProducer(self, priority: .spanningTree)
        engine.setMeshTable(MeshForwardingTable(ownID: ownID))
        timer = engine.loop.scheduleRepeating(every: Self.tickInterval) { [weak self] in self?.tick() }
    }

    public var ownID: UInt64 { database.ownID }

    public func stop() {
        if let timer { engine.loop.cancelTimer(timer) }
        timer = nil
        engine.setMeshTable(nil)
    }

    // MARK: CoreListener

    public func handle(_ event: CoreEvent, peer: Peer, payload: UnsafeRawBufferPointer, context: AnyObject?) -> ListenerVerdict {
        switch event {
        case .connected:
            costs[peer.id] = LinkCost()
            // The new friend learns the whole database at once, not within a refresh.
            for advert in database.adverts { enqueue(advert, for: peer) }
            scheduleUpdate()
            return .ignored
        case .disconnected:
            costs[peer.id] = nil
            outbox[peer.id] = nil
            scheduleUpdate()
            return .ignored
        case .packet(.meshAdvert):
            receiveAdvert(payload, from: peer)
            return .claimed
        case .packet, .writable:
            return .ignored
        }
    }

    private func receiveAdvert(_ payload: UnsafeRawBufferPointer, from peer: Peer) {
        let advert: MeshAdvert
        do {
            advert = try MeshAdvert(parsing: payload.bindMemory(to: UInt8.self).span)
        } catch {
            // Counted (mesh/print); one line per advert at debug only: a friend could send many.
            counters.advertsMalformed &+= 1
            logger.debug("malformed mesh advert", metadata: ["peer": "\(peer.displayName)", "error": "\(error)"])
            return
        }
        counters.advertsIn &+= 1
        switch database.receive(advert, now: engine.loop.now) {
        case .installed:
            flood(advert, except: peer.id)
            scheduleRecompute()
        case .stale:
            counters.advertsStale &+= 1
        case .refusedFull:
            counters.advertsRefused &+= 1
        case .ownOutnumbered:
            // Ours from before a restart: the next one must carry a higher number.
            originate()
        }
    }

    // MARK: OutboundProducer

    public func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        // Adverts are rare and `outbox` holds only peers with some: most calls (a frame's
        // turn at the slot) end at the empty check, without a lookup.
        guard !outbox.isEmpty, var waiting = outbox[peer.id], let origin = waiting.keys.min() else { return false }
        let bytes = waiting.removeValue(forKey: origin) ?? []
        outbox[peer.id] = waiting.isEmpty ? nil : waiting
        bytes.withUnsafeBytes { slot.load(.meshAdvert, payload: $0) }
        counters.advertsOut &+= 1
        return true
    }

    private func enqueue(_ advert: MeshAdvert, for peer: Peer) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(advert.encodedCount)
        advert.encode(into: &bytes)
        outbox[peer.id, default: [:]][advert.origin] = bytes
    }

    private func flood(_ advert: MeshAdvert, except excluded: Int?) {
        for peer in node.peers.values where peer.id != excluded && peer.state == .established {
            enqueue(advert, for: peer)
            peer.pumpOutbound()
        }
    }

    // MARK: Own advert and routes

    private func scheduleUpdate() {
        guard !isUpdateScheduled else { return }
        isUpdateScheduled = true
        engine.loop.afterCurrentDispatch { [weak self] in
            guard let self else { return }
            isUpdateScheduled = false
            update(forceRecompute: true)
        }
    }

    /// Once after the current dispatch, however many adverts it brought: a burst of adverts
    /// (a friend relinking, or flooding on purpose) costs one Dijkstra, not one each.
    private func scheduleRecompute() {
        guard !isRecomputeScheduled else { return }
        isRecomputeScheduled = true
        engine.loop.afterCurrentDispatch { [weak self] in
            guard let self else { return }
            isRecomputeScheduled = false
            recomputeRoutes()
        }
    }

    private func tick() {
        update(forceRecompute: false)
    }

    /// Measures the links, ages the database, and sends a new advert when this node's links,
    /// costs or stations changed (or the refresh is due).
    private func update(forceRecompute: Bool) {
        let now = engine.loop.now
        for id in costs.keys {
            guard let peer = node.peers[id] else { continue }
            let measurement = linkMeasurement(peer)
            _ = costs[id]?.update(rtt: measurement.rtt, loss: measurement.loss, now: now)
        }
        var changed = database.expire(now: now) || forceRecompute
        let own = database.advert(of: ownID)
        let links = currentLinks()
        let stations = currentStations(now: now)
        let candidate = MeshAdvert(origin: ownID, sequence: 0, links: links, stations: stations)
        let refreshDue = lastOriginated.map { now - $0 >= Self.refreshInterval } ?? true
        if own.map({ !$0.hasSameContent(as: candidate) }) ?? true || refreshDue {
            originate(links: links, stations: stations)
            changed = true
        }
        if changed { recomputeRoutes() }
    }

    private func originate() {
        originate(links: currentLinks(), stations: currentStations(now: engine.loop.now))
        recomputeRoutes()
    }

    private func originate(links: [MeshAdvert.Link], stations: [UInt64]) {
        let advert = database.originate(links: links, stations: stations, now: engine.loop.now)
        lastOriginated = engine.loop.now
        counters.originated &+= 1
        flood(advert, except: nil)
    }

    /// This node's established friend links with a switch port, at their advertised costs.
    private func currentLinks() -> [MeshAdvert.Link] {
        var cheapest: [UInt64: UInt32] = [:]
        for (id, cost) in costs {
            guard let peer = node.peers[id], peer.state == .established, let remote = peer.remote, peerPorts.link(for: peer) != nil else { continue }
            cheapest[remote.nodeID] = min(cheapest[remote.nodeID] ?? .max, cost.current)
        }
        return cheapest.map { MeshAdvert.Link(neighbour: $0.key, cost: $0.value) }
    }

    /// Stations this node owns: seen on its own forwarding non-peer ports, each in the VLAN
    /// it was learned in. None in hub mode (routing is off then, docs/mesh-routing.md).
    private func currentStations(now: Instant) -> [UInt64] {
        let core = engine.core
        guard !core.configuration.isHub else { return [] }
        var stations: [UInt64] = []
        for station in core.macTable.stations(now: now) {
            guard core.isActive(station.port), core.ports[station.port].kind == .edge, core.ports[station.port].state.forwards else { continue }
            stations.append(MeshAdvert.stationKey(station.address, vlanID: station.vlanID))
            if stations.count == MeshAdvert.maximumStations { break }
        }
        return stations
    }

    private func recomputeRoutes() {
        let previous = routes
        routes = database.routes()
        counters.routeComputations &+= 1
        if routes.nextHop != previous.nextHop || routes.distance != previous.distance {
            logger.debug("mesh routes changed", metadata: ["nodes": "\(routes.distance.count)", "owned-stations": "\(routes.owners.count)"])
        }
        var portOfNeighbour: [UInt64: Int] = [:]
        for peer in node.peers.values where peer.state == .established {
            guard let remote = peer.remote, let link = peerPorts.link(for: peer) else { continue }
            portOfNeighbour[remote.nodeID] = link.port
        }
        var table = MeshForwardingTable(ownID: ownID)
        for (destination, hop) in routes.nextHop {
            guard let port = portOfNeighbour[hop] else { continue }
            table.nodes[destination] = port
        }
        for (station, owner) in routes.owners where owner != ownID {
            guard let port = table.nodes[owner] else { continue }
            table.stations[station] = MeshForwardingTable.Hop(owner: owner, port: port)
        }
        engine.setMeshTable(table)
    }

    // MARK: Console

    /// Pins (or, nil, unpins) the cost this node advertises for a peer's link.
    public func pinCost(_ cost: UInt32?, peerID: Int) -> Bool {
        guard costs[peerID] != nil else { return false }
        costs[peerID]?.pinned = cost
        scheduleUpdate()
        return true
    }

    public func cost(ofPeer peerID: Int) -> LinkCost? {
        costs[peerID]
    }
}
